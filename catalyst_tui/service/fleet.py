"""The fleet: one :class:`FleetRow` per record, shared by ``catalyst-tui list`` and the dashboard.

Pure apart from the ``stat`` the restart rules need (injectable): a row is built from a store
:class:`~catalyst_tui.store.base.Summary`, the post-fix resume decision for that summary, and,
when this process runs a watcher for the record, its live
:class:`~catalyst_tui.kube.state.WatcherStatus`.

Default order (:func:`attention_rank`), most urgent first:

====  ==========================================================================
rank  rows
====  ==========================================================================
0     ``failed`` and ``partial-failure``
1     stale: ``phase1-watching`` that cannot resume (no kubeconfig anywhere)
2     the live watcher is reconnecting or in error
3     ``phase1-watching`` (being watched, or resumable)
4     Phase-0 in flight (``pending``, ``provisioning``, ``tofu-applying``, ``flux-bootstrapping``)
5     ``ready``
6     ``adopted``
7     everything else (``wiping``, ``wiped``, unknown statuses)
====  ==========================================================================

Within a rank, the most recently started record comes first, then by id.

Status symbols (:data:`STATUS_STYLES`), so the status reads without colour; each has an ASCII
fallback for terminals without Unicode:

==================  =====  =====  ===========
status              glyph  ascii  colour
==================  =====  =====  ===========
failed              ✘      x      red
partial-failure     ✱      !      dark_orange
(stale)             ⚠      !      yellow
phase1-watching     ◐      *      cyan
pending             ○      .      grey50
provisioning        ◔      ~      blue
tofu-applying       ◑      ~      blue
flux-bootstrapping  ◕      ~      blue
ready               ✔      +      green
adopted             ★      A      magenta
wiping              ⊖      -      yellow
wiped               ⊗      _      grey50
(unknown)           ?      ?      magenta
==================  =====  =====  ===========
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from functools import partial
from datetime import datetime
from typing import Any, Callable, Iterable, Mapping

from typing import TYPE_CHECKING

from ..domain import statuses
from ..domain.record import parse_time
from ..domain.restart import ResumeDecision, StatFn, resume_decision
from ..kube.state import WatcherStatus, WatchPhase
from ..store.base import Summary
from .text import first_line

if TYPE_CHECKING:
    from ..domain.record import Record


# --- status glyphs ---------------------------------------------------------------------------

@dataclass(frozen=True)
class StatusStyle:
    glyph: str
    ascii: str
    colour: str  # a Rich colour name

    def text(self, status: str, *, ascii_only: bool = False) -> str:
        """``"✘ failed"``: symbol plus word, readable with ``NO_COLOR``."""
        return f"{self.ascii if ascii_only else self.glyph} {status}"


STATUS_STYLES: dict[str, StatusStyle] = {
    statuses.FAILED: StatusStyle("✘", "x", "red"),
    statuses.PARTIAL_FAILURE: StatusStyle("✱", "!", "dark_orange"),
    statuses.PHASE1_WATCHING: StatusStyle("◐", "*", "cyan"),
    statuses.PENDING: StatusStyle("○", ".", "grey50"),
    statuses.PROVISIONING: StatusStyle("◔", "~", "blue"),
    statuses.TOFU_APPLYING: StatusStyle("◑", "~", "blue"),
    statuses.FLUX_BOOTSTRAPPING: StatusStyle("◕", "~", "blue"),
    statuses.READY: StatusStyle("✔", "+", "green"),
    statuses.ADOPTED: StatusStyle("★", "A", "magenta"),
    statuses.WIPING: StatusStyle("⊖", "-", "yellow"),
    statuses.WIPED: StatusStyle("⊗", "_", "grey50"),
}
STALE_STYLE = StatusStyle("⚠", "!", "yellow")
UNKNOWN_STYLE = StatusStyle("?", "?", "magenta")


def status_style(status: str, *, stale: bool = False) -> StatusStyle:
    if stale:
        return STALE_STYLE
    return STATUS_STYLES.get(status, UNKNOWN_STYLE)


# --- rows ------------------------------------------------------------------------------------

#: Watcher labels when this process has no live watcher for the record.
WATCHER_NONE = "none"
WATCHER_STALE = "stale"


@dataclass(frozen=True)
class FleetRow:
    id: str
    status: str
    status_known: bool
    fqdn: str
    org: str
    region: str
    #: Raw timestamps as stored (RFC3339Nano); ``None`` when unset / Go zero time.
    started: str | None
    finished: str | None
    installed: int
    total: int
    #: ``phase1-watching`` that cannot resume: nothing will ever move it on.
    stale: bool
    handover_fired_at: str | None
    #: First line of the record's error (raw text; sanitize before printing).
    error: str
    #: "watching", "reconnecting: <reason>", "error: <reason>", "observe-only", "held by <x>",
    #: "connecting", "done", "stale" or "none".
    watcher: str
    #: Live watcher phase (None when no watcher runs in this process).
    watcher_phase: WatchPhase | None
    #: Newest of the record's last event time and the live watcher's last event.
    last_event_at: datetime | None
    version: str = ""
    phase1_outcome: str = ""
    handover_url_set: bool = False
    owner_email: str = ""
    events_count: int = 0
    #: The post-fix resume decision, or a zero-argument function computing it on first use (it
    #: costs a ``stat`` and only decides ``stale``; see :attr:`resume`). Not compared: ``stale``
    #: carries what the row shows of it.
    decision: "ResumeDecision | Callable[[], ResumeDecision]" = field(default=None, compare=False, repr=False)  # type: ignore[assignment]

    @property
    def resume(self) -> ResumeDecision:
        """The post-fix resume decision for this record as stored (computed on first use for
        rows whose ``stale`` does not depend on it)."""
        d = self.decision
        if not isinstance(d, ResumeDecision):
            d = d()
            object.__setattr__(self, "decision", d)  # a cache: frozen for everything else
        return d

    @property
    def started_at(self) -> datetime | None:
        return parse_time(self.started)

    @property
    def finished_at(self) -> datetime | None:
        return parse_time(self.finished)

    @property
    def progress(self) -> str:
        return f"{self.installed}/{self.total}"

    @property
    def style(self) -> StatusStyle:
        return status_style(self.status, stale=self.stale)

    def status_text(self, *, ascii_only: bool = False) -> str:
        word = f"{self.status} (stale)" if self.stale else self.status
        return self.style.text(word, ascii_only=ascii_only)

    def to_json(self) -> dict[str, Any]:
        """The exact object ``catalyst-tui list --json`` prints (CLI contract)."""
        return {
            "id": self.id,
            "status": self.status,
            "sovereignFQDN": self.fqdn or None,
            "orgName": self.org or None,
            "region": self.region or None,
            "startedAt": self.started,
            "finishedAt": self.finished,
            "componentsInstalled": self.installed,
            "componentsTotal": self.total,
            "stale": self.stale,
            "handoverFiredAt": self.handover_fired_at,
            "error": self.error or None,
        }


LIST_JSON_KEYS: tuple[str, ...] = (
    "id", "status", "sovereignFQDN", "orgName", "region", "startedAt", "finishedAt",
    "componentsInstalled", "componentsTotal", "stale", "handoverFiredAt", "error",
)


def light_record(summary: Summary) -> "Record":
    """The record fields the resume gates read, rebuilt from a summary (no events)."""
    from ..domain.record import Record  # pydantic models: not needed to show the fleet

    data: dict[str, Any] = {"id": summary.id, "status": summary.status}
    if summary.kubeconfigPath or summary.phase1FinishedAt is not None:
        result: dict[str, Any] = {"kubeconfigPath": summary.kubeconfigPath}
        if summary.phase1FinishedAt is not None:
            result["phase1FinishedAt"] = summary.phase1FinishedAt
        data["result"] = result
    return Record.model_validate(data)


_INSTALLED = statuses.ComponentState.INSTALLED.value


def _none_if_zero(value: str | None) -> str | None:
    return value if value and parse_time(value) is not None else None


def _latest(*times: datetime | None) -> datetime | None:
    present = [t for t in times if t is not None]
    return max(present) if present else None


@dataclass(frozen=True)
class _GateResult:
    kubeconfigPath: str
    phase1FinishedAt: str | None


@dataclass(frozen=True)
class GateView:
    """What the resume gates (:func:`~catalyst_tui.domain.restart.resume_decision`) read of a
    record -- ``id``, ``status``, ``result.kubeconfigPath`` and ``result.phase1FinishedAt`` --
    taken from a summary without building a pydantic :class:`Record` (the fleet's first paint
    must not wait for the model classes). Same values as :func:`light_record`; a test holds the
    two to the same decisions."""

    id: str
    status: str
    result: _GateResult | None

    @classmethod
    def of(cls, summary: Summary) -> "GateView":
        result = None
        if summary.kubeconfigPath or summary.phase1FinishedAt is not None:
            result = _GateResult(summary.kubeconfigPath, summary.phase1FinishedAt)
        return cls(summary.id, summary.status, result)


def _decide(summary: Summary, kubeconfigs_dir: str, stat: StatFn) -> ResumeDecision:
    return resume_decision(GateView.of(summary), kubeconfigs_dir=kubeconfigs_dir, stat=stat)  # type: ignore[arg-type]


_new_object = object.__new__


def _make_row(values: dict[str, Any]) -> FleetRow:
    """``FleetRow(**values)`` without the frozen dataclass's ``object.__setattr__`` per field
    (3 us instead of 0.3 us a row: 10,000 rows stand between the dashboard's start and its first
    paint). ``values`` names every field (a test checks it against ``dataclasses.fields``)."""
    row = _new_object(FleetRow)
    row.__dict__.update(values)
    return row


_KNOWN = frozenset(statuses.KNOWN_STATUSES)


def build_row(
    summary: Summary,
    *,
    kubeconfigs_dir: str,
    watcher: WatcherStatus | None = None,
    decision: ResumeDecision | None = None,
    stat: StatFn = os.stat,
) -> FleetRow:
    """One fleet row. ``decision`` may be passed when the caller already has it.

    The resume decision (a ``stat``, and a record model for the restart rules) is computed here
    only where it decides ``stale``: a ``phase1-watching`` record without a live watcher. For
    every other row :attr:`FleetRow.resume` computes it on first use (the listing of 10,000
    records never needs it)."""
    stale = False
    if decision is None:
        if summary.status == statuses.PHASE1_WATCHING and watcher is None:
            decision = _decide(summary, kubeconfigs_dir, stat)
        else:
            lazy: "ResumeDecision | Callable[[], ResumeDecision]" = partial(_decide, summary, kubeconfigs_dir, stat)
    if decision is not None:
        lazy = decision
        stale = summary.status == statuses.PHASE1_WATCHING and not decision.resume and watcher is None
    states = summary.component_states
    if watcher is not None and watcher.components:
        states = dict(states)
        states.update({cid: d.state.value for cid, d in watcher.components.items()})
    installed = list(states.values()).count(_INSTALLED)
    if watcher is not None:
        label = watcher.label()
    elif stale:
        label = WATCHER_STALE
    else:
        label = WATCHER_NONE
    last_event = parse_time(summary.last_event_time)
    if watcher is not None and watcher.last_event_at is not None and (last_event is None or watcher.last_event_at > last_event):
        last_event = watcher.last_event_at
    return _make_row({
        "id": summary.id,
        "status": summary.status,
        "status_known": summary.status in _KNOWN,
        "fqdn": summary.sovereignFQDN,
        "org": summary.orgName,
        "region": summary.region,
        "started": _none_if_zero(summary.startedAt),
        "finished": _none_if_zero(summary.finishedAt),
        "installed": installed,
        "total": len(states),
        "stale": stale,
        "handover_fired_at": summary.handoverFiredAt or None,
        "error": first_line(summary.error),
        "watcher": label,
        "watcher_phase": watcher.phase if watcher is not None else None,
        "last_event_at": last_event,
        "version": summary.version,
        "phase1_outcome": summary.phase1Outcome,
        "handover_url_set": summary.handoverURL_set,
        "owner_email": summary.ownerEmail,
        "events_count": summary.events_count,
        "decision": lazy,
    })


def build_rows(
    summaries: Iterable[Summary],
    *,
    kubeconfigs_dir: str,
    watchers: Mapping[str, WatcherStatus] | None = None,
    stat: StatFn = os.stat,
) -> list[FleetRow]:
    """Rows for every summary, in the default (attention) order."""
    watchers = watchers or {}
    rows = [build_row(s, kubeconfigs_dir=kubeconfigs_dir, watcher=watchers.get(s.id), stat=stat) for s in summaries]
    return sort_rows(rows)


# --- ordering, filtering, counting -------------------------------------------------------------

RANK_FAILED = 0
RANK_STALE = 1
RANK_WATCHER_TROUBLE = 2
RANK_WATCHING = 3
RANK_PHASE0 = 4
RANK_READY = 5
RANK_ADOPTED = 6
RANK_OTHER = 7


_FAILED_STATUSES = frozenset({statuses.FAILED, statuses.PARTIAL_FAILURE})
_WATCHER_TROUBLE = frozenset({WatchPhase.RECONNECTING, WatchPhase.ERROR})
#: The ranks below "watcher in trouble", by status (the checks above it come first).
_RANK_BY_STATUS: dict[str, int] = {
    statuses.PHASE1_WATCHING: RANK_WATCHING,
    **{s: RANK_PHASE0 for s in statuses.PHASE0_IN_FLIGHT},
    statuses.READY: RANK_READY,
    statuses.ADOPTED: RANK_ADOPTED,
}


#: The attention rank of a record by its status alone, for a store asked for the head of the
#: attention order before any row exists (:meth:`~catalyst_tui.store.base.RecordStore.head_summaries`):
#: ``None`` where the rank depends on more than the record (``phase1-watching``: stale needs a
#: ``stat`` of its kubeconfig, a live watcher can be in trouble); statuses not named rank
#: :data:`HEAD_OTHER_RANK`. Equal to :func:`attention_rank` of a row without a watcher (a test).
HEAD_RANKS: dict[str, int | None] = {
    **{s: RANK_FAILED for s in _FAILED_STATUSES},
    **_RANK_BY_STATUS,
    statuses.PHASE1_WATCHING: None,
}
HEAD_OTHER_RANK = RANK_OTHER

#: At least this many rows are read for a dashboard's first paint (the terminal's height when taller).
HEAD_MIN_ROWS = 24


def first_screen_rows(min_rows: int = HEAD_MIN_ROWS) -> int:
    """How many rows of the attention order a dashboard reads for its first paint: the terminal's
    height, at least ``min_rows``. The height is asked of the terminal as Textual does once the
    dashboard dropped ``$LINES`` (``trust_the_terminal_size``), falling back to 24 like
    ``shutil.get_terminal_size``: the command line's head prefetch and the dashboard must ask the
    same question (``store.dir_prefetch``)."""
    import sys

    try:
        lines = os.get_terminal_size(sys.__stdout__.fileno()).lines  # type: ignore[union-attr]
    except (AttributeError, ValueError, OSError):
        lines = 0
    return max(min_rows, lines if lines > 0 else 24)


def attention_rank(row: FleetRow) -> int:
    """0 = most urgent. See the module docstring for the table."""
    if row.status in _FAILED_STATUSES:
        return RANK_FAILED
    if row.stale:
        return RANK_STALE
    if row.watcher_phase is not None and row.watcher_phase in _WATCHER_TROUBLE:
        return RANK_WATCHER_TROUBLE
    return _RANK_BY_STATUS.get(row.status, RANK_OTHER)


def needs_attention(row: FleetRow) -> bool:
    """Failed, stale, a watcher in trouble, or a status this build does not know."""
    return attention_rank(row) <= RANK_WATCHER_TROUBLE or not row.status_known


def _ts(dt: datetime | None) -> float | None:
    return dt.timestamp() if dt is not None else None


#: Column name -> sort key (``None`` values always sort last).
SORT_KEYS: dict[str, Callable[[FleetRow], Any]] = {
    "attention": attention_rank,
    "id": lambda r: r.id,
    "status": lambda r: r.status,
    "fqdn": lambda r: r.fqdn.lower() or None,
    "org": lambda r: r.org.lower() or None,
    "region": lambda r: r.region.lower() or None,
    "started": lambda r: _ts(r.started_at),
    "finished": lambda r: _ts(r.finished_at),
    "progress": lambda r: (r.installed / r.total) if r.total else None,
    "watcher": lambda r: r.watcher,
    "last_event": lambda r: _ts(r.last_event_at),
    "handover": lambda r: r.handover_fired_at,
    "error": lambda r: r.error.lower() or None,
}


def _default_key(row: FleetRow) -> tuple[int, float, str]:
    started = _ts(row.started_at)
    return (attention_rank(row), -(started if started is not None else float("-inf")), row.id)


def sort_rows(rows: Iterable[FleetRow], by: str = "attention", *, descending: bool = False) -> list[FleetRow]:
    """Sort by a column of :data:`SORT_KEYS`; ``"attention"`` is the default order (ties: newest
    started first, then id). Rows whose value is missing go last in either direction."""
    rows = list(rows)
    if by == "attention":
        return sorted(rows, key=_default_key, reverse=descending)
    try:
        keyf = SORT_KEYS[by]
    except KeyError:
        raise ValueError(f"unknown sort column {by!r}; one of {', '.join(SORT_KEYS)}") from None
    present = [r for r in rows if keyf(r) is not None]
    missing = [r for r in rows if keyf(r) is None]
    present.sort(key=lambda r: (keyf(r), r.id), reverse=descending)
    return present + sorted(missing, key=_default_key)


def filter_rows(rows: Iterable[FleetRow], text: str, *, attention_only: bool = False) -> list[FleetRow]:
    """Case-insensitive substring match over id, status, FQDN, org, region and error."""
    needle = (text or "").strip().casefold()
    out = []
    for row in rows:
        if attention_only and not needs_attention(row):
            continue
        if needle:
            hay = "\n".join((row.id, row.status, row.fqdn, row.org, row.region, row.error)).casefold()
            if row.stale:
                hay += "\nstale"
            if needle not in hay:
                continue
        out.append(row)
    return out


def status_counts(rows: Iterable[FleetRow]) -> dict[str, int]:
    """Count per status: known statuses in lifecycle order, then unknown ones alphabetically.
    Only statuses that occur are present."""
    counts = Counter(r.status for r in rows)
    out = {s: counts[s] for s in statuses.KNOWN_STATUSES if counts.get(s)}
    for s in sorted(k for k in counts if k not in out):
        out[s] = counts[s]
    return out


def stale_count(rows: Iterable[FleetRow]) -> int:
    return sum(1 for r in rows if r.stale)
