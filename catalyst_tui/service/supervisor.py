"""The screenless supervisor: what the dashboard and ``catalyst-tui watch`` both run.

Given an opened :class:`~catalyst_tui.store.base.RecordStore`, it does catalyst-api's restart
path for every record (``fromRecord`` → persist if changed → ``shouldResumePhase1`` →
``resumePhase1Watch``), runs one :class:`~catalyst_tui.kube.watcher.HelmReleaseWatcher` per
resumable Sovereign, feeds the transitions into a :class:`~catalyst_tui.domain.outcome.Phase1Tracker`
and writes catalyst-api's ``component`` events to the record **batched** (one ``append_events``
per record per flush, every ``flush_interval`` seconds or ``flush_max`` events). When Phase 1
terminates it applies ``markPhase1Done``, persists at once, then auto-fires the handover.

Who writes a Sovereign's progress:

* SQLite store (``supports_leases``): the holder of the record's lease (heartbeat every
  ``lease_ttl/3``, expiry ``lease_ttl``). Other processes still watch and show live state
  (``WatcherStatus.observe_only`` / ``lease_holder``) and take over when the lease expires.
* catalyst-api directory (``shared_with_catalyst_api``): nobody, by default (observe-only: live
  states, nothing written), unless ``take_over=True`` (audited as ``take-over``).
* ``read_only``: nobody.

Everything that happens is also published as :class:`Progress` items (one line each for
``catalyst-tui watch``) and as changed record ids for the UI (:meth:`Supervisor.subscribe`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable, Collection, Iterable, Mapping

from ..domain import statuses
from ..domain.components import Derived
from ..domain.outcome import Phase1Config, Phase1Tracker, mark_phase1_done, should_fire_handover
from ..domain.record import EVENT_BUFFER_CAP, Event, Record, format_event_time, format_time
from ..domain.restart import RehydrateResult, ResumeDecision, rehydrate
from ..domain.statuses import ComponentState
from ..kube.state import WatcherStatus, WatchPhase
from ..kube.watcher import HelmReleaseWatcher, WatchConfig, WatchListener
from ..store.base import AuditEntry, Conflict, LoadError, RecordNotFound, RecordStore, Refused, StoreError
from .fleet import light_record

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]

SUBSTATE_WATCHING = "watcher-watching"
SUBSTATE_RECONNECTING = "watcher-reconnecting"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


async def warm_up_kube_client() -> None:
    """Import kubernetes_asyncio (about 0.4 s of CPU) in a thread before any lease is taken, so the
    first watcher does not block the event loop (a blocked loop misses lease heartbeats and
    freezes the dashboard)."""
    if "kubernetes_asyncio.watch" in sys.modules:
        return
    import importlib

    def load() -> None:
        importlib.import_module("kubernetes_asyncio.client")
        importlib.import_module("kubernetes_asyncio.config")
        importlib.import_module("kubernetes_asyncio.watch")

    await asyncio.to_thread(load)


class SupervisorError(StoreError):
    """An operator action on a watcher that cannot be done (``str()`` is one line)."""

    exit_code = 5


@dataclass(frozen=True)
class Progress:
    """One thing that happened, for ``catalyst-tui watch`` (see :func:`format_progress`)."""

    time: datetime
    record_id: str
    label: str
    kind: str  # component | watch | outcome | handover | resume | store | info
    level: str
    text: str
    component: str = ""
    state: str = ""


def format_progress(p: Progress) -> str:
    """``2026-05-04T09:08:02Z 3f9c2a7e1b8d4c60 acme.omani.works cilium installed: Helm install succeeded``"""
    from .text import sanitize

    who = p.record_id if not p.label or p.label == p.record_id else f"{p.record_id} {p.label}"
    if p.kind == "component":
        body = f"{p.component} {p.state}: {p.text}"
    else:
        tag = {"error": "error: ", "warn": "warning: "}.get(p.level, "")
        body = tag + p.text
    return sanitize(f"{format_event_time(p.time)} {who} {body}")


@dataclass
class _Watch:
    record_id: str
    label: str
    kubeconfig: str
    status: WatcherStatus
    tracker: Phase1Tracker
    watcher: HelmReleaseWatcher | None = None
    task: asyncio.Task[None] | None = None
    writer: bool = False
    #: Why this process does not write (shown as a reason).
    observe_reason: str = ""
    pending: list[Event] = field(default_factory=list)
    substate_written: str | None = None
    substate_at: float = float("-inf")
    finishing: bool = False
    ended: bool = False
    #: Observe-only and Phase 1 terminated here: waiting for the lease holder to write the outcome
    #: (or for its lease to expire, then this process writes it).
    observed_done: bool = False
    announced_takeover: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class _Listener(WatchListener):
    def __init__(self, sup: "Supervisor") -> None:
        self.sup = sup

    def on_transition(self, watcher: HelmReleaseWatcher, derived: Derived, previous: ComponentState | None) -> None:
        self.sup._on_transition(watcher.record_id, derived)

    def on_synced(self, watcher: HelmReleaseWatcher) -> None:
        self.sup._on_synced(watcher.record_id)

    def on_watch_event(self, watcher: HelmReleaseWatcher, level: str, message: str) -> None:
        self.sup._on_watch_event(watcher.record_id, level, message)

    def on_status(self, watcher: HelmReleaseWatcher) -> None:
        self.sup._dirty.add(watcher.record_id)


_last_time: tuple[int, str] = (0, "")


def _event_time(now: datetime) -> str:
    """``format_event_time(now)``, formatted once per second (a flood of transitions shares it)."""
    global _last_time
    key = int(now.timestamp())
    if _last_time[0] != key:
        _last_time = (key, format_event_time(now))
    return _last_time[1]


def component_event(d: Derived, now: datetime) -> Event:
    """catalyst-api's transition event (§1.4, latest: with ``dependsOn``).

    The same Event as ``Event.make("component", d.level, d.event_message, at=now,
    component=d.component, state=d.state.value, dependsOn=list(d.depends_on) or None)``, built
    without re-validating values that are already strings (this runs for every transition)."""
    data: dict[str, Any] = {"time": _event_time(now), "phase": "component", "level": d.level, "message": d.event_message}
    if d.component:
        data["component"] = d.component
    state = d.state.value
    if state:
        data["state"] = state
    if d.depends_on:
        data["dependsOn"] = list(d.depends_on)
    if all(type(v) is str for v in (d.level, d.event_message, d.component, state)) and \
            all(type(x) is str for x in d.depends_on):
        return Event.model_construct(**data)
    return Event.model_validate(data)


class Supervisor:
    """Resumes Phase-1 watches for a store and writes their progress (see the module doc)."""

    def __init__(
        self,
        store: RecordStore,
        *,
        holder: str,
        kubeconfigs_dir: str,
        read_only: bool = False,
        take_over: bool = False,
        signer: Any = None,
        clock: Clock | None = None,
        phase1: Phase1Config | None = None,
        watch: WatchConfig | None = None,
        lease_ttl: float = 15.0,
        flush_interval: float = 0.3,
        flush_max: int = 200,
        tick_interval: float = 0.5,
        observe_check_interval: float = 2.0,
        substate_min_interval: float = 5.0,
        only: Collection[str] | None = None,
    ) -> None:
        self.store = store
        self.holder = holder
        self.kubeconfigs_dir = kubeconfigs_dir
        self.read_only = bool(read_only or getattr(store, "read_only", False))
        self.take_over_all = take_over
        self._signer = signer
        self.clock: Clock = clock or utcnow
        self.phase1 = phase1 or Phase1Config.from_env()
        self.watch_config = watch or WatchConfig()
        self.lease_ttl = lease_ttl
        self.flush_interval = flush_interval
        self.flush_max = flush_max
        self.tick_interval = tick_interval
        self.observe_check_interval = observe_check_interval
        self.substate_min_interval = substate_min_interval
        self.only = set(only) if only is not None else None
        self.rehydrated: dict[str, RehydrateResult] = {}
        self.load_errors: list[LoadError] = []
        self._watches: dict[str, _Watch] = {}
        self._taken_over: set[str] = set()
        self._listener = _Listener(self)
        self._dirty: set[str] = set()
        self._queues: list[asyncio.Queue[str]] = []
        self._callbacks: list[Callable[[str], None]] = []
        self._progress: list[Callable[[Progress], None]] = []
        self._loops: list[asyncio.Task[None]] = []
        self._finishers: set[asyncio.Task[None]] = set()
        self._urgent = asyncio.Event()
        self._all_ended = asyncio.Event()
        self._started = False
        self._stopping = False
        self._change_token: str | None = None

    # --- public API --------------------------------------------------------------------------
    async def start(self) -> None:
        """Rehydrate every record, persist what changed (when this process writes), start watchers."""
        if self._started:
            return
        self._started = True
        self._stopping = False
        try:
            await self._start()
        except BaseException:
            await self.stop()  # nothing left running or half-started
            raise

    async def _start(self) -> None:
        summaries, errors = await self.store.list_summaries()
        self.load_errors = list(errors)
        for le in errors:
            self._emit_progress(le.path, "", "store", "warn", f"record skipped: {le.reason}")
        candidates = [
            s for s in sorted(summaries, key=lambda s: s.id)
            if (self.only is None or s.id in self.only)
            # finished and not Phase-0 in flight: nothing for the restart path to do
            and not (s.phase1FinishedAt and not statuses.is_phase0_in_flight(s.status))
        ]
        if any(not statuses.is_phase0_in_flight(s.status) for s in candidates):
            await warm_up_kube_client()
        now = self.clock()
        for summary in candidates:
            # Decide from the summary first: a record that neither resumes nor is rewritten (most
            # adopted, wiped and failed ones) is never loaded with its events. The summary holds
            # every input of the rules, and a record that could resume or change is decided again
            # from the full record below. Its RehydrateResult then holds the summary's fields only.
            light = rehydrate(light_record(summary), now=now, kubeconfigs_dir=self.kubeconfigs_dir)
            if not light.persist and not light.decision.resume:
                self.rehydrated[summary.id] = light
                continue
            try:
                await self._rehydrate_one(summary.id, action="rehydrate")
            except StoreError as exc:
                self._emit_progress(summary.id, "", "store", "error", str(exc))
        self._loops = [
            asyncio.create_task(self._flush_loop(), name="supervisor-flush"),
            asyncio.create_task(self._tick_loop(), name="supervisor-tick"),
            asyncio.create_task(self._lease_loop(), name="supervisor-leases"),
        ]
        self._check_all_ended()

    async def stop(self) -> None:
        """Stop every watcher, flush pending events (one write per record), release leases."""
        if not self._started:
            return
        self._stopping = True
        if self._finishers:
            await asyncio.gather(*list(self._finishers), return_exceptions=True)
        for task in self._loops:
            task.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        self._loops = []
        for w in list(self._watches.values()):
            await self._cancel_watcher(w)
            if not w.ended:
                w.ended = True
                w.status.phase = WatchPhase.DONE
                w.status.reason = "supervisor stopped"
        for w in list(self._watches.values()):
            await self._flush_one(w)
        if self.store.supports_leases and not self.read_only:
            for w in self._watches.values():
                if w.writer:
                    with contextlib.suppress(StoreError):
                        await self.store.release_lease(w.record_id, self.holder)
                    w.writer = False
        self._publish_dirty()
        self._started = False

    def statuses(self) -> dict[str, WatcherStatus]:
        return {rid: w.status for rid, w in self._watches.items()}

    @property
    def active(self) -> set[str]:
        return {rid for rid, w in self._watches.items() if not w.ended}

    async def wait_all_ended(self) -> None:
        """Return once every resumed watch has ended (terminated or stopped)."""
        self._check_all_ended()
        await self._all_ended.wait()

    async def reattach(self, record_id: str) -> ResumeDecision:
        """Start (or restart) the record's watcher, if the restart rules say it can resume."""
        w = self._watches.get(record_id)
        if w is not None and not w.ended:
            await self._end_watch(w, reason="reattached", flush=True)
        decision = await self._rehydrate_one(record_id, action="reattach", explicit=True)
        if not decision.resume:
            raise SupervisorError(f"{record_id}: cannot reattach: {decision.reason}")
        return decision

    async def stop_watcher(self, record_id: str) -> None:
        w = self._watches.get(record_id)
        if w is None or w.ended:
            raise SupervisorError(f"{record_id}: no watcher is running")
        await self._end_watch(w, reason="stopped by operator", flush=True)
        if w.writer and self.store.supports_leases and not self.read_only:
            with contextlib.suppress(StoreError):
                await self.store.release_lease(record_id, self.holder)
            w.writer = False
        await self._audit(record_id, "stop-watcher", None, None, "watcher stopped by operator")

    async def take_over(self, record_id: str) -> None:
        """Make this process the writer of the record's Phase-1 progress (audited ``take-over``)."""
        if self.read_only:
            raise SupervisorError(f"{record_id}: read-only: this process writes nothing")
        w = self._watches.get(record_id)
        if w is None or w.ended:
            self._taken_over.add(record_id)
            try:
                await self.reattach(record_id)
            except SupervisorError:
                self._taken_over.discard(record_id)
                raise
            w = self._watches.get(record_id)
            if w is not None and w.writer:
                await self._audit(record_id, "take-over", None, None, "this process writes the Phase-1 progress from now on")
            elif w is not None:
                raise SupervisorError(f"{record_id}: watching, but {w.observe_reason or 'another process writes'}")
            return
        if w.writer:
            return
        if self.store.supports_leases:
            lease = await self.store.acquire_lease(record_id, self.holder, self.lease_ttl)
            if not lease.held_by(self.holder):
                raise SupervisorError(
                    f"{record_id}: lease held by {lease.holder} until {format_time(lease.expires)}; it can be taken when it expires")
        self._taken_over.add(record_id)
        await self._audit(record_id, "take-over", None, None, "this process writes the Phase-1 progress from now on")
        await self._become_writer(w)

    def subscribe(self, maxsize: int = 0) -> asyncio.Queue[str]:
        """A queue of record ids whose watcher state or record changed (coalesced per flush)."""
        q: asyncio.Queue[str] = asyncio.Queue(maxsize)
        self._queues.append(q)
        return q

    def unsubscribe(self, q: asyncio.Queue[str]) -> None:
        with contextlib.suppress(ValueError):
            self._queues.remove(q)

    def add_listener(self, callback: Callable[[str], None]) -> Callable[[], None]:
        """Call ``callback(record_id)`` on changes (coalesced per flush); returns a remover."""
        self._callbacks.append(callback)
        return lambda: self._callbacks.remove(callback) if callback in self._callbacks else None

    def add_progress_listener(self, callback: Callable[[Progress], None]) -> Callable[[], None]:
        self._progress.append(callback)
        return lambda: self._progress.remove(callback) if callback in self._progress else None

    # --- rehydrate / start watchers ------------------------------------------------------------
    def _decide_writer(self, record_id: str) -> tuple[bool, str]:
        if self.read_only:
            return False, "read-only"
        if self.store.supports_leases:
            return False, "lease"  # decided by acquire_lease
        if self.store.shared_with_catalyst_api and not (self.take_over_all or record_id in self._taken_over):
            return False, "catalyst-api directory: observe-only (use --take-over to write)"
        return True, ""

    async def _rehydrate_one(self, record_id: str, *, action: str, explicit: bool = False) -> ResumeDecision:
        now = self.clock()
        for _attempt in range(3):
            current = await self.store.get(record_id)
            res = rehydrate(current.record, now=now, kubeconfigs_dir=self.kubeconfigs_dir)
            self.rehydrated[record_id] = res
            writer, why = self._decide_writer(record_id)
            lease_holder: str | None = None
            if why == "lease" and res.decision.resume:
                lease = await self.store.acquire_lease(record_id, self.holder, self.lease_ttl)
                writer = lease.held_by(self.holder)
                why = "" if writer else f"lease held by {lease.holder}"
                lease_holder = None if writer else lease.holder
            elif why == "lease":
                writer, why = True, ""  # a non-resumable rewrite: guarded by the version
            if res.persist and writer:
                reason = f"restart rules: {res.decision.describe()}"
                if explicit:
                    reason = f"operator reattach: {res.decision.describe()}"
                entry = self._entry(record_id, action, res.before.status, res.after.status, reason)
                try:
                    await self.store.replace(res.after, current.version, audit=entry)
                except Conflict:
                    continue  # re-read and re-apply (the rules are idempotent)
                self._dirty.add(record_id)
                if res.before.status != res.after.status:
                    self._emit_progress(record_id, res.after.fqdn, "resume", "info",
                                        f"status {res.before.status} → {res.after.status} ({res.decision.reason})")
            elif explicit and writer and not res.persist:
                await self._audit(record_id, action, res.before.status, res.after.status, res.decision.describe())
            if res.decision.resume:
                self._start_watch(res, writer=writer, observe_reason=why, lease_holder=lease_holder)
                if (writer and self.store.shared_with_catalyst_api and self.take_over_all
                        and record_id not in self._taken_over):
                    self._taken_over.add(record_id)
                    await self._audit(record_id, "take-over", res.after.status, res.after.status,
                                      "--take-over: this process writes the Phase-1 progress (catalyst-api must be down)")
            return res.decision
        raise Conflict(f"{record_id}: kept changing while rehydrating; nothing written")

    def _start_watch(self, res: RehydrateResult, *, writer: bool, observe_reason: str, lease_holder: str | None) -> None:
        rid = res.after.id
        path = res.decision.kubeconfig_path or ""
        status = WatcherStatus(record_id=rid, observe_only=not writer, lease_holder=lease_holder)
        w = _Watch(
            record_id=rid,
            label=res.after.fqdn,
            kubeconfig=path,
            status=status,
            tracker=Phase1Tracker(self.phase1, started_at=self.clock()),
            writer=writer,
            observe_reason=observe_reason,
            substate_written=(res.after.result.phase1Substate if res.after.result is not None else "") or "",
        )
        w.watcher = HelmReleaseWatcher(rid, path, status=status, config=self.watch_config,
                                       listener=self._listener, clock=self.clock)
        self._watches[rid] = w
        self._all_ended.clear()
        w.task = asyncio.create_task(self._run_watcher(w), name=f"watch-{rid}")
        mode = "" if writer else f" (observe-only: {observe_reason})"
        self._emit_progress(rid, w.label, "resume", "info", f"Phase-1 watch resumed with {path}{mode}")
        self._dirty.add(rid)

    async def _run_watcher(self, w: _Watch) -> None:
        assert w.watcher is not None
        try:
            await w.watcher.run()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug in the watcher must not take the others down
            log.exception("watcher %s crashed", w.record_id)
            w.status.phase = WatchPhase.ERROR
            w.status.reason = f"watcher crashed: {type(exc).__name__}: {exc}"[:200]
            self._on_watch_event(w.record_id, "error", w.status.reason)

    async def _cancel_watcher(self, w: _Watch) -> None:
        task, w.task = w.task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _end_watch(self, w: _Watch, *, reason: str, flush: bool) -> None:
        await self._cancel_watcher(w)
        w.ended = True
        w.status.phase = WatchPhase.DONE
        w.status.reason = reason
        if flush:
            await self._flush_one(w)
        self._dirty.add(w.record_id)
        self._check_all_ended()

    def _check_all_ended(self) -> None:
        if all(w.ended for w in self._watches.values()):
            self._all_ended.set()
        else:
            self._all_ended.clear()

    # --- watcher callbacks (synchronous, in the watcher's task) ----------------------------------
    def _queue(self, w: _Watch, events: Iterable[Event]) -> None:
        events = list(events)
        if not events or not w.writer:
            return
        w.pending.extend(events)
        if len(w.pending) > EVENT_BUFFER_CAP:
            del w.pending[: len(w.pending) - EVENT_BUFFER_CAP]
        if len(w.pending) >= self.flush_max:
            self._urgent.set()

    def _on_transition(self, rid: str, d: Derived) -> None:
        w = self._watches.get(rid)
        if w is None or w.ended or w.finishing:
            return
        now = self.clock()
        if w.writer:
            pending = w.pending
            pending.append(component_event(d, now))  # what _queue does, minus its generality
            if len(pending) > EVENT_BUFFER_CAP:
                del pending[: len(pending) - EVENT_BUFFER_CAP]
            if len(pending) >= self.flush_max:
                self._urgent.set()
        if self._progress:
            self._emit_progress(rid, w.label, "component", d.level, d.event_message, component=d.component, state=d.state.value)
        tracked = w.tracker.observe(d.component, d.state, now)
        if tracked:
            self._queue_tracker_events(w, tracked, now)
        self._dirty.add(rid)
        if w.tracker.outcome is not None:
            self._maybe_finish(w)

    def _on_synced(self, rid: str) -> None:
        w = self._watches.get(rid)
        if w is None or w.ended or w.finishing:
            return
        now = self.clock()
        self._queue_tracker_events(w, w.tracker.mark_synced(now), now)
        self._maybe_finish(w)

    def _on_watch_event(self, rid: str, level: str, message: str) -> None:
        w = self._watches.get(rid)
        if w is None or w.ended:
            return
        self._queue(w, [Event.make("component", level, message, at=self.clock())])
        self._emit_progress(rid, w.label, "watch", level, message)
        self._dirty.add(rid)

    def _queue_tracker_events(self, w: _Watch, events: list[Event], now: datetime) -> None:
        if not events:
            return
        self._queue(w, events)
        for ev in events:
            self._emit_progress(w.record_id, w.label, "watch", ev.level, ev.message)

    def _maybe_finish(self, w: _Watch) -> None:
        if w.tracker.outcome is None or w.finishing or w.ended or w.observed_done:
            return
        w.finishing = True
        task = asyncio.get_running_loop().create_task(self._finish(w), name=f"finish-{w.record_id}")
        self._finishers.add(task)
        task.add_done_callback(self._finishers.discard)

    # --- termination -----------------------------------------------------------------------------
    async def _finish(self, w: _Watch) -> None:
        tracker = w.tracker
        outcome = tracker.outcome or ""
        # Stop the stream now (nothing it delivers is used once finishing), but write the outcome
        # without waiting for its clean-up (closing the client takes several loop turns, ~0.4 s
        # per watcher at the end of a flood); that is awaited before the watch counts as ended.
        task = w.task
        if task is not None and task is not asyncio.current_task():
            task.cancel()
        w.status.outcome = outcome
        w.status.phase = WatchPhase.DONE
        w.status.reason = f"Phase 1 {outcome}"
        now = tracker.finished_at or self.clock()
        if not w.writer:
            self._emit_progress(w.record_id, w.label, "outcome", "info",
                                f"Phase 1 outcome {outcome} (observed; {w.observe_reason or 'not the writer'}, nothing written)")
            if self.store.supports_leases and not self.read_only:
                # The holder writes it; if the holder is gone, its lease expires and we write it.
                w.observed_done = True
                w.status.reason = f"Phase 1 {outcome} (observed; the lease holder writes it)"
            else:
                w.ended = True
            await self._cancel_watcher(w)
            w.finishing = False
            self._dirty.add(w.record_id)
            self._check_all_ended()
            return
        try:
            async with w.lock:
                # the pending events ride in the outcome write (one transaction, not two)
                final = await self._write_outcome(w, outcome, dict(tracker.states), now)
            if final is not None and should_fire_handover(outcome, final):
                await self._fire_handover(w)
        except StoreError as exc:
            self._emit_progress(w.record_id, w.label, "store", "error", f"Phase-1 result not written: {exc}")
            w.status.reason = f"Phase 1 {outcome}; not written: {exc}"[:200]
        finally:
            await self._cancel_watcher(w)
            w.ended = True
            w.finishing = False
            if self.store.supports_leases and not self.read_only and w.writer:
                with contextlib.suppress(StoreError):
                    await self.store.release_lease(w.record_id, self.holder)
            self._dirty.add(w.record_id)
            self._check_all_ended()

    async def _write_outcome(self, w: _Watch, outcome: str, states: dict[str, str], now: datetime) -> Record | None:
        """``markPhase1Done`` and persist at once, with the events still pending (one write:
        they are appended before the outcome's own event). Only the record's head is read and
        written (``get_head`` / ``replace_head``): its stored events are neither decoded nor
        rewritten (at the end of a flood, 200 outcomes decoding ~100 events each were a third of
        the supervisor's time). ``get_head`` returns a record of our own, changed in place. Call
        with ``w.lock`` held."""
        for _attempt in range(5):
            current = await self.store.get_head(w.record_id)
            rec = current.record
            if rec.result is not None and rec.result.phase1FinishedAt:
                await self._flush_locked(w)
                self._emit_progress(w.record_id, w.label, "outcome", "info",
                                    f"Phase 1 already finished at {rec.result.phase1FinishedAt}; nothing written")
                return None
            before = rec.status
            events = mark_phase1_done(rec, outcome, states, now)
            if not events:
                await self._flush_locked(w)
                self._emit_progress(w.record_id, w.label, "outcome", "info",
                                    f"Phase 1 {outcome}: record is {rec.status or 'without result'}; left unchanged")
                return None
            batch = list(w.pending) if (w.writer and not self.read_only) else []
            entry = self._entry(w.record_id, "phase1-done", before, rec.status, f"Phase 1 outcome {outcome}")
            try:
                await self.store.replace_head(rec, current.version, batch + events, audit=entry)
            except Conflict:
                continue
            del w.pending[: len(batch)]
            level = "info" if rec.status == statuses.READY else "error"
            text = f"Phase 1 {outcome}: status {rec.status}" + (f" — {rec.error}" if rec.error else "")
            self._emit_progress(w.record_id, w.label, "outcome", level, text)
            return rec
        raise Conflict(f"{w.record_id}: kept changing while writing the Phase-1 outcome; nothing written")

    def _resolve_signer(self) -> Any:
        s = self._signer
        if s is not None and not hasattr(s, "mint") and callable(s):
            try:
                s = s()
            except Exception as exc:  # noqa: BLE001 - reported once, the auto-fire is skipped
                self._signer = None
                self._emit_progress("-", "", "handover", "error", f"handover signer unavailable: {exc}")
                return None
            self._signer = s
        return s

    async def _fire_handover(self, w: _Watch) -> None:
        signer = self._resolve_signer()
        if signer is None:
            return  # (before the import: PyJWT + cryptography take 0.1-0.3 s of the event loop)
        try:
            from ..handover.fire import fire_handover
        except ImportError:  # pragma: no cover - the handover module is optional in a partial build
            return
        for _attempt in range(5):
            # the head only, as in _write_outcome: firing reads and changes no stored event
            current = await self.store.get_head(w.record_id)
            rec = current.record  # our own object: get_head() never shares it
            if not should_fire_handover(statuses.OUTCOME_READY, rec):
                return
            result = fire_handover(rec, signer, now=self.clock())
            if not result.fired:
                if result.skipped_reason:
                    self._emit_progress(w.record_id, w.label, "handover", "warn", result.skipped_reason)
                return
            entry = self._entry(w.record_id, "handover-auto-fire", rec.status, rec.status,
                                "Phase 1 ready: handover auto-fired (token not stored in the audit)")
            try:
                await self.store.replace_head(rec, current.version, list(result.events), audit=entry)
            except Conflict:
                continue
            self._emit_progress(w.record_id, w.label, "handover", "info",
                                "handover ready: handoverURL stored on the record (the token expires in 5 minutes; "
                                "`catalyst-tui handover --reissue` mints a fresh one)")
            return

    # --- writers ----------------------------------------------------------------------------------
    async def _become_writer(self, w: _Watch) -> None:
        """Start writing mid-watch: like a resume, write every component's current state once."""
        try:
            current = await self.store.get(w.record_id)
        except RecordNotFound:
            await self._end_watch(w, reason="record deleted", flush=False)
            return
        res = current.record.result
        if res is not None and res.phase1FinishedAt:
            await self._end_watch(w, reason=f"Phase 1 finished by another writer ({res.phase1Outcome or 'no outcome'})", flush=False)
            return
        w.writer = True
        w.observe_reason = ""
        w.status.observe_only = False
        w.status.lease_holder = None
        now = self.clock()
        self._queue(w, [component_event(d, now) for d in w.status.components.values()])
        self._emit_progress(w.record_id, w.label, "info", "info", "this process now writes the Phase-1 progress")
        self._dirty.add(w.record_id)
        if w.tracker.outcome is not None and not w.finishing:
            w.ended = False
            w.observed_done = False
            self._maybe_finish(w)

    async def _flush_one(self, w: _Watch) -> None:
        async with w.lock:
            await self._flush_locked(w)

    async def _flush_locked(self, w: _Watch) -> None:
        if not w.writer or self.read_only:
            w.pending.clear()
            return
        if w.pending:
            batch = list(w.pending)
            try:
                await self.store.append_events(w.record_id, batch)
            except RecordNotFound:
                w.pending.clear()
                if not w.ended:
                    w.ended = True
                    await self._cancel_watcher(w)
                    w.status.phase = WatchPhase.DONE
                    w.status.reason = "record deleted"
                    self._check_all_ended()
                return
            except StoreError as exc:
                self._emit_progress(w.record_id, w.label, "store", "error", f"events not written yet: {exc}")
                return
            del w.pending[: len(batch)]
            self._dirty.add(w.record_id)
        if w.ended or w.finishing:
            return
        if w.status.phase == WatchPhase.CONNECTING:
            return
        want = SUBSTATE_WATCHING if w.status.phase == WatchPhase.WATCHING else SUBSTATE_RECONNECTING
        if want != w.substate_written:
            loop_now = asyncio.get_running_loop().time()
            if loop_now - w.substate_at < self.substate_min_interval:
                return  # a flapping API server must not rewrite the record on every flap
            w.substate_at = loop_now
            await self._write_substate(w, want)

    async def _write_substate(self, w: _Watch, want: str) -> None:
        # get() returns a record of our own: changed in place (no copy), written only if it changes
        try:
            current = await self.store.get(w.record_id)
            rec = current.record
            if (rec.result is not None and not rec.result.phase1FinishedAt and rec.status == statuses.PHASE1_WATCHING
                    and rec.result.phase1Substate != want):
                rec.result.phase1Substate = want
                await self.store.replace(rec, current.version)
        except Conflict:
            return  # next flush tries again
        except StoreError as exc:
            self._emit_progress(w.record_id, w.label, "store", "error", f"phase1Substate not written: {exc}")
            return
        w.substate_written = want
        self._dirty.add(w.record_id)

    # --- loops ---------------------------------------------------------------------------------------
    async def _flush_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.flush_interval):
                    await self._urgent.wait()
            self._urgent.clear()
            # every record at once: their writes share the store's commits (SQLite group-commits
            # concurrent writes); one after the other, a busy loop flushed one record per turn
            due = [w for w in list(self._watches.values())
                   if not w.finishing and (w.pending or (w.writer and not w.ended))]
            if due:
                # shielded: stop() cancels this loop, but a write in flight must finish and
                # trim w.pending (stop() then flushes what is left under each w.lock), or the
                # final flush would write those events a second time
                await asyncio.shield(asyncio.gather(*(self._flush_guarded(w) for w in due)))
            self._publish_dirty()

    async def _flush_guarded(self, w: _Watch) -> None:
        try:
            await self._flush_one(w)
        except Exception:  # noqa: BLE001 - one record's trouble never stops the others
            log.exception("flush %s", w.record_id)

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(self.tick_interval)
            now = self.clock()
            for w in list(self._watches.values()):
                if w.ended or w.finishing:
                    continue
                w.tracker.start_failed = bool(w.watcher is not None and w.watcher.stats.kubeconfig_errors
                                              and not w.status.synced)
                self._queue_tracker_events(w, w.tracker.tick(now), now)
                self._maybe_finish(w)

    async def _lease_loop(self) -> None:
        heartbeat = max(0.05, self.lease_ttl / 3)
        since_check = 0.0
        while True:
            interval = heartbeat if (self.store.supports_leases and not self.read_only) else self.observe_check_interval
            await asyncio.sleep(interval)
            if self.store.supports_leases and not self.read_only:
                for w in list(self._watches.values()):
                    if w.ended and not w.writer:
                        continue
                    try:
                        await self._heartbeat(w)
                    except StoreError as exc:
                        self._emit_progress(w.record_id, w.label, "store", "error", f"lease: {exc}")
            since_check += interval
            if since_check >= self.observe_check_interval:
                since_check = 0.0
                try:
                    await self._check_observed()
                except StoreError as exc:
                    log.debug("observe check: %s", exc)

    async def _heartbeat(self, w: _Watch) -> None:
        if w.ended and w.writer and not w.finishing:
            return  # finished: _finish released the lease
        if w.finishing and not w.writer:
            return
        lease = await self.store.acquire_lease(w.record_id, self.holder, self.lease_ttl)
        if w.finishing:
            return  # a renewal while the outcome is being written
        mine = lease.held_by(self.holder)
        if mine and not w.writer:
            self._emit_progress(w.record_id, w.label, "info", "info", "lease acquired (the previous holder's lease expired or was released)")
            await self._become_writer(w)
        elif not mine and w.writer:
            w.writer = False
            w.pending.clear()
            w.observe_reason = f"lease held by {lease.holder}"
            w.status.observe_only = True
            w.status.lease_holder = lease.holder
            self._emit_progress(w.record_id, w.label, "info", "warn", f"lease lost to {lease.holder}; observing only")
            self._dirty.add(w.record_id)
        elif not mine and w.status.lease_holder != lease.holder:
            w.status.lease_holder = lease.holder
            w.observe_reason = f"lease held by {lease.holder}"
            self._dirty.add(w.record_id)

    async def _check_observed(self) -> None:
        """Observe-only watches end when the lease holder finished writing Phase 1.

        SQLite only: its summaries are a cheap table read. On a catalyst-api directory every
        summary parses whole files that catalyst-api rewrites after each event, so there an
        observer ends by its own tracker instead."""
        if not self.store.supports_leases:
            return
        watching = [w for w in self._watches.values() if not w.writer and not w.ended]
        if not watching:
            return
        token = await self.store.change_token()
        if token == self._change_token:
            return
        self._change_token = token
        summaries, _ = await self.store.list_summaries()
        by_id = {s.id: s for s in summaries}
        for w in watching:
            s = by_id.get(w.record_id)
            if s is None:
                await self._end_watch(w, reason="record deleted", flush=False)
            elif s.phase1FinishedAt:
                w.status.outcome = s.phase1Outcome or None
                await self._end_watch(w, reason=f"Phase 1 finished by the writer ({s.phase1Outcome or s.status})", flush=False)
                self._emit_progress(w.record_id, w.label, "outcome", "info",
                                    f"Phase 1 {s.phase1Outcome or '?'} written by the writer: status {s.status}")

    # --- notifications -------------------------------------------------------------------------------
    def _publish_dirty(self) -> None:
        if not self._dirty:
            return
        dirty, self._dirty = self._dirty, set()
        for rid in sorted(dirty):
            for q in list(self._queues):
                with contextlib.suppress(asyncio.QueueFull):
                    q.put_nowait(rid)
            for cb in list(self._callbacks):
                try:
                    cb(rid)
                except Exception:  # noqa: BLE001 - a listener's bug is not ours to crash on
                    log.exception("change listener")

    def _emit_progress(self, rid: str, label: str, kind: str, level: str, text: str, *,
                       component: str = "", state: str = "") -> None:
        if not self._progress:
            return
        p = Progress(self.clock(), rid, label, kind, level, text, component, state)
        for cb in list(self._progress):
            try:
                cb(p)
            except Exception:  # noqa: BLE001
                log.exception("progress listener")

    # --- audit ---------------------------------------------------------------------------------------
    def _entry(self, rid: str, action: str, before: str | None, after: str | None, reason: str) -> AuditEntry:
        return AuditEntry(time=format_time(self.clock()), operator=self.holder, action=action, record_id=rid,
                          status_before=before, status_after=after, reason=reason)

    async def _audit(self, rid: str, action: str, before: str | None, after: str | None, reason: str) -> None:
        if self.read_only:
            return
        try:
            await self.store.audit_append(self._entry(rid, action, before, after, reason))
        except StoreError as exc:
            self._emit_progress(rid, "", "store", "error", f"audit not written: {exc}")


# --- catalyst-tui watch ------------------------------------------------------------------------------

def _default_printer(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def run_watch(
    target: Any,
    *,
    follow: bool = False,
    printer: Callable[[str], None] | None = None,
    holder: str | None = None,
    kubeconfigs_dir: str | None = None,
    read_only: bool | None = None,
    take_over: bool | None = None,
    signer: Any = None,
    clock: Clock | None = None,
    phase1: Phase1Config | None = None,
    watch: WatchConfig | None = None,
    lease_ttl: float = 15.0,
    flush_interval: float = 0.3,
    handle_signals: bool = False,
    supervisor_ready: Callable[[Supervisor], Awaitable[None] | None] | None = None,
) -> int:
    """``catalyst-tui watch [--follow]``: rehydrate, resume watchers, auto-fire handovers, print
    one line per transition. Returns 0 when every resumed watch has ended (``follow`` keeps
    running until cancelled). Cancellation (the CLI cancels on SIGINT/SIGTERM; or
    ``handle_signals=True`` installs such handlers here) stops cleanly: events flushed, leases
    released, nothing half-written.

    ``target`` is an opened RecordStore, or the CLI's RunOptions (store_url, operator, read_only,
    kubeconfigs_dir, handover_key, take_over): then the store is opened here (writable unless
    read-only) and the handover key loaded (generated when absent), as catalyst-api does."""
    printer = printer or _default_printer
    if isinstance(target, RecordStore):
        return await _run_watch_on(
            target, follow=follow, printer=printer, holder=holder or _default_holder(),
            kubeconfigs_dir=kubeconfigs_dir or _kubeconfigs_dir_default(), read_only=bool(read_only),
            take_over=bool(take_over), signer=signer, clock=clock, phase1=phase1, watch=watch,
            lease_ttl=lease_ttl, flush_interval=flush_interval, handle_signals=handle_signals,
            supervisor_ready=supervisor_ready)
    from ..store.urls import open_store

    opts = target
    ro = bool(getattr(opts, "read_only", False)) if read_only is None else read_only
    store = open_store(getattr(opts, "store_url", None), read_only=ro)
    if signer is None and not ro:
        signer = _signer_factory(getattr(opts, "handover_key", None), printer)
    async with store:
        return await _run_watch_on(
            store, follow=follow, printer=printer, holder=holder or _holder_from(getattr(opts, "operator", "")),
            kubeconfigs_dir=kubeconfigs_dir or getattr(opts, "kubeconfigs_dir", None) or _kubeconfigs_dir_default(),
            read_only=ro, take_over=bool(getattr(opts, "take_over", False)) if take_over is None else take_over,
            signer=signer, clock=clock, phase1=phase1, watch=watch, lease_ttl=lease_ttl,
            flush_interval=flush_interval, handle_signals=handle_signals, supervisor_ready=supervisor_ready)


def _kubeconfigs_dir_default() -> str:
    from ..domain.restart import kubeconfigs_dir_from_env

    return kubeconfigs_dir_from_env()


def _default_holder() -> str:
    import socket

    return f"{socket.gethostname()}:{os.getpid()}"


def _holder_from(operator: str) -> str:
    """A lease holder names the operator and this process (two dashboards of one operator differ)."""
    base = _default_holder()
    return f"{operator}@{base}" if operator else base


def _signer_factory(key_path: str | None, printer: Callable[[str], None]) -> Callable[[], Any]:
    def load() -> Any:
        from ..handover.keys import HandoverSigner

        return HandoverSigner.load_or_generate(key_path)

    return load


async def _run_watch_on(
    store: RecordStore, *, follow: bool, printer: Callable[[str], None], holder: str, kubeconfigs_dir: str,
    read_only: bool, take_over: bool, signer: Any, clock: Clock | None, phase1: Phase1Config | None,
    watch: WatchConfig | None, lease_ttl: float, flush_interval: float, handle_signals: bool,
    supervisor_ready: Callable[[Supervisor], Awaitable[None] | None] | None,
) -> int:
    problems: list[str] = []
    if phase1 is None:
        phase1 = Phase1Config.from_env(problems=problems)
    for p in problems:
        printer(f"warning: {p}")
    sup = Supervisor(store, holder=holder, kubeconfigs_dir=kubeconfigs_dir, read_only=read_only, take_over=take_over,
                     signer=signer, clock=clock, phase1=phase1, watch=watch, lease_ttl=lease_ttl,
                     flush_interval=flush_interval)
    sup.add_progress_listener(lambda p: printer(format_progress(p)))
    loop = asyncio.get_running_loop()
    stop_requested = asyncio.Event()
    installed: list[int] = []
    if handle_signals:
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, stop_requested.set)
                installed.append(sig)
            except (NotImplementedError, RuntimeError, ValueError):
                pass
    try:
        await sup.start()
        if supervisor_ready is not None:
            out = supervisor_ready(sup)
            if asyncio.iscoroutine(out):
                await out
        resumed = len(sup.statuses())
        mode = "read-only" if sup.read_only else ("observe-only" if store.shared_with_catalyst_api and not take_over else "writing")
        printer(f"{format_event_time(sup.clock())} watching {resumed} Sovereign(s) ({mode}); "
                f"{len(sup.rehydrated) - resumed} record(s) not resumed")
        waiters = [asyncio.ensure_future(stop_requested.wait())]
        if not follow:
            waiters.append(asyncio.ensure_future(sup.wait_all_ended()))
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for fut in waiters:
                fut.cancel()
            await asyncio.gather(*waiters, return_exceptions=True)
        if stop_requested.is_set():
            printer(f"{format_event_time(sup.clock())} stopping: flushing events and releasing leases")
        else:
            printer(f"{format_event_time(sup.clock())} every resumed watch has ended")
        return 0
    finally:
        await asyncio.shield(_stop_quietly(sup))
        for sig in installed:
            loop.remove_signal_handler(sig)


async def _stop_quietly(sup: Supervisor) -> None:
    try:
        await sup.stop()
    except StoreError as exc:
        log.warning("supervisor stop: %s", exc)


__all__ = [
    "Progress",
    "Supervisor",
    "SupervisorError",
    "component_event",
    "format_progress",
    "run_watch",
]

# Refused is re-exported for callers that catch the action errors broadly.
_ = Refused
