"""What the detail screen shows, computed from a record and (when live) its watcher.

Plain Python (no Textual), so the rules are table-testable:

* :func:`component_views`: one row per component with its state, Ready reason and message, last
  transition and ``dependsOn``; the live watcher's view of a HelmRelease wins over the record's
  last ``component`` event;
* :func:`blockers`: for each component that is not installed, its first non-ready dependency,
  and the root of that chain (the component to look at first);
* :func:`event_line` / :func:`fold_runs`: the event log's lines, with runs of helm-controller
  ``component-log`` lines folded into one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Iterable, Sequence

from ..domain.components import current_states
from ..domain.record import Event, Record
from ..domain.statuses import BOOTSTRAP_KIT, ComponentState
from ..kube.state import WatcherStatus

INSTALLED = ComponentState.INSTALLED.value


@dataclass(frozen=True)
class ComponentView:
    id: str
    state: str
    reason: str
    message: str
    last_transition: str
    depends_on: tuple[str, ...]
    live: bool


def _order(cid: str) -> tuple[int, str]:
    try:
        return (BOOTSTRAP_KIT.index(cid), cid)
    except ValueError:
        return (len(BOOTSTRAP_KIT), cid)


def component_views(record: Record, watcher: WatcherStatus | None = None) -> list[ComponentView]:
    events = record.event_list()
    states = current_states(
        record.result.model_dump() if record.result is not None else None,
        [{"phase": e.phase, "component": e.component, "state": e.state} for e in events],
    )
    last: dict[str, Event] = {}
    deps: dict[str, tuple[str, ...]] = {}
    for ev in events:
        if ev.phase == "component" and ev.component:
            last[ev.component] = ev
            if ev.dependsOn:
                deps[ev.component] = tuple(ev.dependsOn)
    views: dict[str, ComponentView] = {}
    for cid, state in states.items():
        ev = last.get(cid)
        views[cid] = ComponentView(
            id=cid, state=state, reason="", message=ev.message if ev else "",
            last_transition=ev.time if ev else "", depends_on=deps.get(cid, ()), live=False,
        )
    if watcher is not None:
        for cid, d in watcher.components.items():
            views[cid] = ComponentView(
                id=cid, state=d.state.value, reason=d.reason, message=d.event_message,
                last_transition=d.last_transition, depends_on=d.depends_on or deps.get(cid, ()), live=True,
            )
    return sorted(views.values(), key=lambda v: _order(v.id))


@dataclass(frozen=True)
class Blockers:
    #: component -> its first dependency that is not installed
    first_not_ready: dict[str, str]
    #: components at the root of a chain: not installed, and every known dependency is installed
    roots: set[str]


def blockers(views: Sequence[ComponentView]) -> Blockers:
    state = {v.id: v.state for v in views}
    first: dict[str, str] = {}
    for v in views:
        if v.state == INSTALLED:
            continue
        for dep in v.depends_on:
            if state.get(dep) != INSTALLED:
                first[v.id] = dep
                break
    roots: set[str] = set()
    for cid in first:
        seen = {cid}
        cur = first[cid]
        while cur in first and first[cur] not in seen:
            seen.add(cur)
            cur = first[cur]
        roots.add(cur)
    return Blockers(first, roots)


# --- the event log -------------------------------------------------------------------------------

LEVELS = ("info", "warn", "error")
LEVEL_FILTERS = (None, "warn", "error")  # None = all; "warn" = warn and error


def level_passes(level: str, threshold: str | None) -> bool:
    if threshold is None:
        return True
    order = {"info": 0, "warn": 1, "error": 2}
    return order.get(level, 0) >= order[threshold]


@dataclass(frozen=True)
class EventFilter:
    phase: str | None = None
    level: str | None = None
    component: str | None = None

    def passes(self, ev: Event) -> bool:
        if self.phase is not None and ev.phase != self.phase:
            return False
        if not level_passes(ev.level, self.level):
            return False
        if self.component is not None and ev.component != self.component:
            return False
        return True

    def describe(self) -> str:
        parts = [
            f"phase: {self.phase or 'all'}",
            "level: " + ({None: "all", "warn": "warn+", "error": "error"}[self.level]),
            f"component: {self.component or 'all'}",
        ]
        return " · ".join(parts)


def helm_log_message(message: str) -> str:
    """A helm-controller log line (JSON) made readable: its ``msg`` (and ``error``) fields."""
    try:
        data = json.loads(message)
    except ValueError:
        return message
    if not isinstance(data, dict):
        return message
    msg = data.get("msg") or data.get("message")
    if not isinstance(msg, str):
        return message
    err = data.get("error")
    return f"{msg}: {err}" if isinstance(err, str) and err else msg


def handover_ready_message(message: str) -> str:
    """The ``handover-ready`` payload carries the URL with its token: show only the expiry."""
    try:
        data = json.loads(message)
    except ValueError:
        return "handover URL minted (token hidden)"
    expires = data.get("expiresAt") if isinstance(data, dict) else None
    return f"handover URL minted, expires {expires} (token hidden; h reissues)" if expires else "handover URL minted (token hidden)"


def phases_in(events: Iterable[Event]) -> list[str]:
    seen: dict[str, None] = {}
    for ev in events:
        if ev.phase:
            seen.setdefault(ev.phase, None)
    return list(seen)


def components_in(events: Iterable[Event]) -> list[str]:
    seen: dict[str, None] = {}
    for ev in events:
        if ev.component:
            seen.setdefault(ev.component, None)
    return sorted(seen, key=_order)
