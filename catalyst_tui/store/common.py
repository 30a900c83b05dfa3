"""Helpers shared by both store backends: id checks, summaries from plain dicts, event encoding.

Nothing here builds pydantic models for events: the fleet list must stay cheap (issue 2,
"listing the fleet does not load every event").
"""

from __future__ import annotations

import json
import os
from collections import abc
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping

from ..domain.components import states_from_events
from ..domain.record import GO_ZERO_TIME, is_valid_id
from .base import InvalidRecordId, Refused, StoreError, Summary
from ..fsutil import make_private_dirs  # noqa: F401  (re-exported for the backends)

if TYPE_CHECKING:  # the pydantic models load on first use (domain.record); listing needs none
    from ..domain.record import Event

#: Default ceiling of one record file / blob. A real record at the 10,000-event cap is a few MB
#: (component-log lines are ~0.5-1 KB each); 32 MiB leaves generous headroom and still refuses a
#: runaway or hostile file before it is read into memory.
MAX_RECORD_BYTES = 32 * 1024 * 1024


class UnreadableRecord(StoreError):
    """A stored record exists but cannot be used (undecodable, too big, escaping symlink…).

    ``str()`` is ``"<path or id>: <reason>"``; the same reason appears in the listing's LoadError."""

    exit_code = 1


def check_id(record_id: Any) -> str:
    """catalyst-api's id rule (§1.1); raise :class:`InvalidRecordId` with a one-line message."""
    if not isinstance(record_id, str) or not is_valid_id(record_id):
        shown = repr(record_id)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        raise InvalidRecordId(
            f"{shown}: invalid record id (must not be empty, '.' or '..', or contain '/', '\\' or NUL)"
        )
    return record_id


def refuse_read_only(record_id: str, action: str) -> Refused:
    return Refused(f"{record_id}: read-only mode: {action} refused; nothing written")


def utc_now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _unset_time(value: Any) -> str | None:
    if not isinstance(value, str) or not value or value.startswith("0001-01-01T00:00:00") or value == GO_ZERO_TIME:
        return None
    return value


def _s(value: Any) -> str:
    return value if isinstance(value, str) else ""


_EVENT_FIELDS: tuple[str, ...] = ()  # Event's field names, set on first use
_EMPTY = (None, "", 0, False, [], {})


def _event_to_dict_slow(event: Event) -> dict[str, Any]:
    data = event.model_dump(mode="json", exclude_unset=True, by_alias=True)
    omit = type(event).OMITEMPTY
    return {k: v for k, v in data.items() if not (k in omit and v in _EMPTY)}


def event_to_dict(event: Event) -> dict[str, Any]:
    """One event as catalyst-api writes it (Go ``omitempty`` keys dropped when empty).

    What ``model_dump(mode="json", exclude_unset=True)`` gives, read straight from the model for
    the usual event (declared fields only, strings and a list of strings): every supervisor
    transition goes through here. Anything else (extra keys, odd values) takes model_dump."""
    global _EVENT_FIELDS
    if event.__pydantic_extra__:
        return _event_to_dict_slow(event)
    fields_set = event.__pydantic_fields_set__
    values = event.__dict__
    omit = type(event).OMITEMPTY
    out: dict[str, Any] = {}
    if not _EVENT_FIELDS:
        from ..domain.record import Event

        _EVENT_FIELDS = tuple(Event.model_fields)
    for k in _EVENT_FIELDS:
        if k not in fields_set:
            continue
        v = values[k]
        if type(v) is str:
            if v or k not in omit:
                out[k] = v
        elif v is None:
            if k not in omit:
                out[k] = None
        elif type(v) is list and all(type(x) is str for x in v):
            if v or k not in omit:
                out[k] = list(v)
        else:
            return _event_to_dict_slow(event)
    return out


_compact = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def dumps_compact(data: Any) -> str:
    """``json.dumps(data, ensure_ascii=False, separators=(",", ":"))`` (one encoder, not one per call)."""
    return _compact(data)


def _is_map(value: Any) -> bool:
    # (isinstance with typing.Mapping costs 0.4 us; a listing calls this 50,000 times)
    return type(value) is dict or isinstance(value, abc.Mapping)


def summary_fields(data: Mapping[str, Any]) -> dict[str, Any]:
    """Everything of :class:`Summary` except ``version``, from a record dict whose types are valid."""
    events = data.get("events") if isinstance(data.get("events"), list) else None
    last_time = None
    if events:
        last = events[-1]
        if _is_map(last):
            last_time = _s(last.get("time")) or None
    return head_summary_fields(data, len(events or ()), last_time, lambda: events)


def head_summary_fields(
    data: Mapping[str, Any],
    events_count: int,
    last_event_time: str | None,
    events: Callable[[], Iterable[Mapping[str, Any]] | None],
) -> dict[str, Any]:
    """:func:`summary_fields` with what it needs of the events given instead of read from
    ``data["events"]`` (which is not looked at): their number, the last one's ``time``, and a
    function returning the events, called only when the component states come from them (Phase 1
    not finished)."""
    request = data.get("request") if _is_map(data.get("request")) else {}
    result = data.get("result") if _is_map(data.get("result")) else None
    res: Mapping[str, Any] = result or {}
    region = _s(request.get("region"))
    if not region:
        regions = request.get("regions")
        if isinstance(regions, list) and regions and _is_map(regions[0]):
            region = _s(regions[0].get("cloudRegion"))
    return {
        "id": data["id"],
        "status": data["status"],
        "sovereignFQDN": _s(request.get("sovereignFQDN")) or _s(res.get("sovereignFQDN")),
        "orgName": _s(request.get("orgName")),
        "region": region,
        "startedAt": _unset_time(data.get("startedAt")),
        "finishedAt": _unset_time(data.get("finishedAt")),
        "error": _s(data.get("error")),
        # (domain.components.current_states, with the Phase-1-finished test done once)
        "component_states": (
            {k: v for k, v in result["componentStates"].items() if isinstance(v, str)}  # type: ignore[index]
            if states_frozen(result) else states_from_events(events())
        ),
        "kubeconfigPath": _s(res.get("kubeconfigPath")),
        "phase1FinishedAt": _s(res.get("phase1FinishedAt")) or None,
        "phase1Outcome": _s(res.get("phase1Outcome")),
        "phase1Substate": _s(res.get("phase1Substate")),
        "handoverFiredAt": _s(res.get("handoverFiredAt")) or None,
        "handoverURL_set": bool(_s(res.get("handoverURL"))),
        "ownerEmail": _s(data.get("ownerEmail")) or _s(request.get("orgEmail")),
        "events_count": events_count,
        "last_event_time": last_event_time,
    }


def summary_from_dict(data: Mapping[str, Any], version: str) -> Summary:
    return Summary(version=version, **summary_fields(data))


def states_frozen(result: Mapping[str, Any] | None) -> bool:
    """True when ``componentStates`` is authoritative (Phase 1 finished, §9.4): events don't move it."""
    return bool(
        _is_map(result) and result.get("phase1FinishedAt") and _is_map(result.get("componentStates"))  # type: ignore[union-attr]
    )


def merge_event_states(states: dict[str, str], events: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    out = dict(states)
    out.update(states_from_events(events))
    return out
