"""The dashboard's view of the fleet: what the store and the watchers say, and what changed.

Plain Python (no Textual): the app polls :meth:`FleetState.poll` once a second and hands the
:class:`FleetDelta` to the screens, which update only the rows that changed.

The store is asked for summaries only when its ``change_token()`` moved (k9s style: a cheap
probe, then the real read); the watcher statuses are compared by a signature, so a watcher that
makes progress refreshes exactly its row.
"""

from __future__ import annotations

import gc
import os
from bisect import bisect_left, insort
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Iterable, Iterator, Mapping

from ..domain.statuses import KNOWN_STATUSES, PHASE1_WATCHING
from ..kube.state import WatcherStatus
from ..service.fleet import HEAD_OTHER_RANK, HEAD_RANKS, FleetRow, attention_rank, build_row, sort_rows
from ..store.base import LoadError, RecordStore, StoreError, Summary

#: Every this many polls the ``phase1-watching`` rows are rebuilt even without a change, so a
#: kubeconfig that appears (a stale record becoming resumable) shows without a keypress.
FULL_REBUILD_EVERY = 15


_gc_pauses = 0
_gc_reenable = False


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic GC while a fleet is listed and its rows are built. Tens of thousands of
    summaries, row dicts and keys are allocated in one go and none is part of a cycle, yet every
    700 allocations start a collection that walks the young objects (and every 10th one more):
    ~60 ms of the 10,000-row first poll. Overlapping uses (a poll awaiting the store while
    another task pauses too) re-enable it once the last one ends, and only if it was on before
    the first; reference counting frees everything as usual meanwhile."""
    global _gc_pauses, _gc_reenable
    if _gc_pauses == 0:
        _gc_reenable = gc.isenabled()
        gc.disable()
    _gc_pauses += 1
    try:
        yield
    finally:
        _gc_pauses -= 1
        if _gc_pauses == 0 and _gc_reenable:
            gc.enable()


def watcher_signature(ws: WatcherStatus) -> tuple[Any, ...]:
    comps = tuple(sorted((cid, d.state.value, d.reason, d.message, d.last_transition) for cid, d in ws.components.items()))
    return (ws.phase, ws.reason, ws.last_event_at, ws.synced, ws.observe_only, ws.lease_holder, ws.outcome, comps)


@dataclass(frozen=True)
class FleetDelta:
    changed: frozenset[str] = frozenset()
    removed: frozenset[str] = frozenset()
    #: The store could not be read this time (one line); the last good rows stay.
    error: str | None = None
    error_changed: bool = False
    #: :attr:`FleetState.generation` after the poll that made this delta.
    generation: int = 0
    #: This poll read the whole fleet after :meth:`FleetState.poll_head` (the counts and the
    #: states of the screen change even when no row did).
    completed: bool = False

    @property
    def empty(self) -> bool:
        return not self.changed and not self.removed and not self.error_changed and not self.completed


@dataclass
class FleetState:
    store: RecordStore
    kubeconfigs_dir: str
    statuses: Callable[[], Mapping[str, WatcherStatus]] | None = None
    stat: Callable[[str], object] = os.stat

    token: str | None = None
    #: True once the whole fleet was read (the first :meth:`poll` that reached the store).
    loaded: bool = False
    #: True between :meth:`poll_head` and the first full :meth:`poll`: :attr:`rows` holds only the
    #: head of the attention order (the first screenful) and :attr:`total` the store's count.
    partial: bool = False
    total: int | None = None
    summaries: dict[str, Summary] = field(default_factory=dict)
    rows: dict[str, FleetRow] = field(default_factory=dict)
    load_errors: list[LoadError] = field(default_factory=list)
    error: str | None = None
    last_ok: datetime | None = None
    _wsig: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    _polls: int = 0
    #: Bumped whenever a poll changed, added or removed a row (or the store error changed): a
    #: screen that already shows this generation has nothing to redraw.
    generation: int = 0
    #: The attention order, kept sorted as rows change: (attention key, record id) ascending,
    #: and each row's key (see :meth:`ordered`).
    _att_sorted: list[tuple[tuple[Any, ...], str]] = field(default_factory=list)
    _att_key: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    #: (generation, descending) -> the rows in attention order, built once per generation.
    _att_rows: tuple[int, bool, list[FleetRow]] | None = None
    #: Rows per status and the number of stale rows, kept as rows change (the counts line).
    _status_counts: Counter[str] = field(default_factory=Counter)
    _stale: int = 0

    def watchers(self) -> dict[str, WatcherStatus]:
        if self.statuses is None:
            return {}
        try:
            return dict(self.statuses())
        except Exception:  # noqa: BLE001 - a broken supervisor must not stop the fleet view
            return {}

    async def poll(self, *, force: bool = False, now: datetime | None = None, store: bool = True) -> FleetDelta:
        """``force``: re-list the store even if its change token did not move. ``store=False``:
        only the live watchers' statuses (in memory; what a supervisor notification is about).

        Rows are rebuilt for summaries that changed and watchers that moved. The only input of a
        row that can change without either is a kubeconfig file appearing or going (``stale``),
        so forced and periodic passes rebuild the ``phase1-watching`` rows, not the fleet."""
        if not store and self.loaded and not force:
            return self._rows_delta(None, full=False, error_changed=False)
        self._polls += 1
        full = force or not self.loaded or self._polls % FULL_REBUILD_EVERY == 0
        old_error = self.error
        try:
            token = await self.store.change_token()
            if full or token != self.token:
                with gc_paused():
                    summaries, errors = await self.store.list_summaries()
                self.token = token
                self.load_errors = list(errors)
                new = {s.id: s for s in summaries}
            else:
                new = None
        except Exception as exc:  # noqa: BLE001 - shown in the banner; the last good rows stay
            self.error = str(exc) if isinstance(exc, StoreError) else f"{type(exc).__name__}: {exc}"
            self.error = self.error.splitlines()[0] if self.error else type(exc).__name__
            if self.error != old_error:
                self.generation += 1
            return FleetDelta(error=self.error, error_changed=self.error != old_error, generation=self.generation)
        self.error = None
        self.last_ok = now
        with gc_paused():
            return self._rows_delta(new, full=full, error_changed=old_error is not None)

    async def poll_head(self, limit: int, *, now: datetime | None = None) -> FleetDelta | None:
        """Start-up only, before the first :meth:`poll`: the first ``limit`` rows of the
        attention order, read without listing the whole store
        (:meth:`~catalyst_tui.store.base.RecordStore.head_summaries`), so the first screen is
        painted while the full listing is still to come. Sets :attr:`partial`; the next
        :meth:`poll` reads everything and clears it (rows built here and unchanged stay as they
        are). None, and nothing changed, when the store cannot (or did not answer), when the
        fleet is loaded already, or when live watchers exist (their rows' ranks are not the
        store's to know)."""
        if self.loaded or self.rows or self.watchers():
            return None
        try:
            got = await self.store.head_summaries(limit, HEAD_RANKS, other_rank=HEAD_OTHER_RANK)
        except Exception:  # noqa: BLE001 - the full poll right after reports what is wrong
            return None
        if got is None or self.loaded:
            return None
        total, summaries = got
        if not summaries:
            return None
        with gc_paused():
            built = [build_row(s, kubeconfigs_dir=self.kubeconfigs_dir, stat=self.stat) for s in summaries]
            built.sort(key=attention_key)
            del built[limit:]
            keep = {r.id for r in built}
            self.summaries = {s.id: s for s in summaries if s.id in keep}
            self.partial = True
            self.total = total
            self.last_ok = now
            updated, _ = self.put_rows(built)
        return FleetDelta(changed=frozenset(updated), generation=self.generation)

    def _rows_delta(self, new: dict[str, Summary] | None, *, full: bool, error_changed: bool) -> FleetDelta:
        watchers = self.watchers()
        wsig = {rid: watcher_signature(ws) for rid, ws in watchers.items()}
        changed: set[str] = set()
        removed: set[str] = set()
        completed = False
        if new is not None:
            first = not self.loaded
            completed = self.partial
            removed = set(self.summaries) - set(new)
            for rid, summary in new.items():
                old = self.summaries.get(rid)
                if old is summary:  # the store keeps the Summary of an unchanged record
                    if full and summary.status == PHASE1_WATCHING:
                        changed.add(rid)
                    continue
                if (first or old is None or old.version != summary.version or old != summary
                        or (full and summary.status == PHASE1_WATCHING)):
                    changed.add(rid)
            self.summaries = new
            self.loaded = True
            self.partial = False
            self.total = None
        for rid in set(wsig) | set(self._wsig):
            if wsig.get(rid) != self._wsig.get(rid) and rid in self.summaries:
                changed.add(rid)
        self._wsig = wsig
        built = [build_row(self.summaries[rid], kubeconfigs_dir=self.kubeconfigs_dir, watcher=watchers.get(rid), stat=self.stat)
                 for rid in changed]
        updated, removed = self.put_rows(built, removed)
        if (error_changed or completed) and not (updated or removed):
            self.generation += 1
        return FleetDelta(changed=frozenset(updated), removed=frozenset(removed), error=self.error,
                          error_changed=error_changed, generation=self.generation, completed=completed)

    # --- what every poll keeps up to date: the attention order and the counts ----------------
    def put_rows(self, rows: Iterable[FleetRow], removed: Iterable[str] = ()) -> tuple[set[str], set[str]]:
        """Set these rows (a row equal to the one held is skipped) and drop the ``removed`` ids,
        keeping the order and the counts; bumps :attr:`generation` when anything changed.
        Returns (ids updated or added, ids removed)."""
        gone: set[str] = set()
        for rid in removed:
            old = self.rows.pop(rid, None)
            if old is not None:
                self._forget(old)
                gone.add(rid)
        updated: set[str] = set()
        for row in rows:
            old = self.rows.get(row.id)
            if old == row:
                continue
            if old is not None:
                self._forget(old)
            self.rows[row.id] = row
            self._count(row, 1)
            updated.add(row.id)
        self._reorder(updated, gone)
        if updated or gone:
            self.generation += 1
        return updated, gone

    def _count(self, row: FleetRow, n: int) -> None:
        counts = self._status_counts
        counts[row.status] += n
        if counts[row.status] <= 0:
            del counts[row.status]
        if row.stale:
            self._stale += n

    def _forget(self, row: FleetRow) -> None:
        self._count(row, -1)

    def _reorder(self, updated: set[str], removed: set[str]) -> None:
        """Move the changed rows to their place in the attention order: a bisect per changed
        row (a flood changes ~200 of 10,000 rows a poll; re-sorting all of them held the UI
        loop ~10 ms each time); a full sort when most rows changed (the first load)."""
        if not updated and not removed:
            return
        keys = self._att_key
        order = self._att_sorted
        if len(updated) + len(removed) > max(64, len(order) // 8):
            for rid in removed:
                keys.pop(rid, None)
            for rid in updated:
                keys[rid] = attention_key(self.rows[rid])
            self._att_sorted = sorted(zip(keys.values(), keys.keys()))
            return
        for rid in removed | updated:
            key = keys.pop(rid, None)
            if key is not None:
                i = bisect_left(order, (key, rid))
                if i < len(order) and order[i][1] == rid:
                    del order[i]
        for rid in updated:
            key = attention_key(self.rows[rid])
            keys[rid] = key
            insort(order, (key, rid))

    def counts(self) -> tuple[int, dict[str, int], int]:
        """(rows, rows per status as :func:`~catalyst_tui.service.fleet.status_counts` orders
        them, stale rows): what the counts line shows, without a pass over the fleet. While
        :attr:`partial`: (the store's record count, {}, 0) -- the head's own counts would say
        nothing true about the fleet."""
        if self.partial:
            return (self.total or 0), {}, 0
        counts = self._status_counts
        out = {s: counts[s] for s in KNOWN_STATUSES if counts.get(s)}
        for s in sorted(k for k in counts if k not in out):
            out[s] = counts[s]
        return len(self.rows), out, self._stale

    def ordered(self, by: str = "attention", descending: bool = False) -> list[FleetRow]:
        """The rows sorted as :func:`~catalyst_tui.service.fleet.sort_rows` sorts them. The
        default (attention) order is kept sorted by every poll (:meth:`_reorder`) and the list
        is built once per generation: treat it as read-only."""
        if by != "attention":
            return sort_rows(self.rows.values(), by, descending=descending)
        cached = self._att_rows
        if cached is not None and cached[0] == self.generation and cached[1] == descending:
            return cached[2]
        rows = self.rows
        seq = reversed(self._att_sorted) if descending else self._att_sorted
        out = [rows[rid] for _, rid in seq]
        self._att_rows = (self.generation, descending, out)
        return out


def attention_key(row: FleetRow) -> tuple[Any, ...]:
    """The default order of the service (attention rank, newest started first, then id); a test
    checks it sorts exactly like ``sort_rows(rows, "attention")``."""
    started = row.started_at
    return (attention_rank(row), -(started.timestamp() if started is not None else float("-inf")), row.id)
