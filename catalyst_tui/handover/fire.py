"""Firing the handover on a record: catalyst-api's auto-fire and the operator's manual trigger (§5.3-§5.4).

Both functions mutate the :class:`~catalyst_tui.domain.record.Record` they are given and never
persist it; the caller owns the store write (and, for the manual trigger, the audit entry).

* :func:`fire_handover` is ``fireHandover``: the caller gates it on a ``ready`` Phase-1 outcome and
  a ``ready`` final status, exactly as ``markPhase1Done`` does. It sets ``handoverFiredAt`` and
  ``handoverURL`` and *returns* the ``handover-ready`` event without appending it, so the caller
  routes it through its own event pipeline (append + notify), as catalyst-api's ``emit`` does.
* :func:`manual_handover` backs ``catalyst-tui handover ID [--reissue]``: it refuses with
  :class:`HandoverRefused` (exit code 5), and on success appends the event itself.
* :func:`handover_preconditions` lists what stands in the way, for the dashboard's modal.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Mapping

from catalyst_tui.domain import statuses
from catalyst_tui.domain.components import current_states
from catalyst_tui.domain.record import GO_ZERO_TIME, Event, Record, format_event_time, format_time
from catalyst_tui.domain.statuses import ComponentState

from .keys import DEFAULT_TTL_SECONDS, HandoverSigner, InvalidFQDN, MintedToken, is_valid_fqdn

HANDOVER_READY_PHASE = "handover-ready"
#: Statuses the manual trigger accepts (the mint endpoint's 409 gate, §5.4).
MANUAL_STATUSES: frozenset[str] = frozenset({statuses.READY, statuses.ADOPTED})
EXIT_REFUSED = 5

_TTL_MINUTES = DEFAULT_TTL_SECONDS // 60


class HandoverRefused(Exception):
    """The manual handover cannot run for this record. ``str()`` is a one-line reason naming it."""

    exit_code = EXIT_REFUSED

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class FireResult:
    """What :func:`fire_handover` did. ``events`` are new and not yet appended to the record."""

    fired: bool
    skipped_reason: str | None
    events: list[Event] = field(repr=False)
    minted: MintedToken | None


@dataclass(frozen=True)
class ManualResult:
    """A manual mint. ``url`` carries the token: show it once, never log it."""

    url: str = field(repr=False)
    minted: MintedToken
    event: Event = field(repr=False)
    reissued: bool
    previous_fired_at: str | None


def handover_ready_message(url: str, expires_at: datetime) -> str:
    """The ``handover-ready`` event message: Go ``json.Marshal`` of a map (sorted keys, compact)."""
    text = json.dumps(
        {"handoverURL": url, "expiresAt": format_event_time(expires_at)},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    # Go escapes U+2028/U+2029 even when it does not escape HTML.
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def fired_at(record: Record) -> str | None:
    """``result.handoverFiredAt`` when a handover has fired, else None."""
    value = record.result.handoverFiredAt if record.result is not None else None
    return value if value and value != GO_ZERO_TIME else None


def owner_email(record: Record) -> str:
    """``ownerEmail``, falling back to ``request.orgEmail`` (whitespace-only counts as empty)."""
    return (record.ownerEmail.strip() or record.request.orgEmail.strip())


def _apply(record: Record, minted: MintedToken, now: datetime) -> Event:
    result = record.ensure_result()
    result.handoverFiredAt = format_time(now)
    result.handoverURL = minted.url
    return Event.make(
        HANDOVER_READY_PHASE, "info", handover_ready_message(minted.url, minted.expires_at), at=now
    )


def fire_handover(record: Record, signer: HandoverSigner | None, *, now: datetime) -> FireResult:
    """catalyst-api's ``fireHandover`` on ``record`` (mutated; the caller persists and emits the event).

    No-op (``fired=False``, no reason) without a signer, without ``result``, or when
    ``handoverFiredAt`` is already set. Skipped with a reason when the FQDN or the owner email is
    empty (or the FQDN is not a DNS name). Otherwise mints, sets ``handoverFiredAt``/``handoverURL``
    and returns the ``handover-ready`` event.
    """
    if signer is None or record.result is None or fired_at(record) is not None:
        return FireResult(fired=False, skipped_reason=None, events=[], minted=None)
    fqdn = record.fqdn
    if not fqdn:
        return FireResult(False, f"{record.id}: handover not fired: no Sovereign FQDN on the record", [], None)
    email = owner_email(record)
    if not email:
        return FireResult(
            False, f"{record.id}: handover not fired: no owner email (ownerEmail and request.orgEmail are empty)", [], None
        )
    try:
        minted = signer.mint(fqdn=fqdn, email=email, deployment_id=record.id, now=now)
    except InvalidFQDN as exc:
        return FireResult(False, f"{record.id}: handover not fired: {exc}", [], None)
    event = _apply(record, minted, now)
    return FireResult(fired=True, skipped_reason=None, events=[event], minted=minted)


def manual_handover(
    record: Record, signer: HandoverSigner | None, *, now: datetime, reissue: bool = False
) -> ManualResult:
    """``catalyst-tui handover ID [--reissue]``: mint, record and announce a handover, or refuse.

    Refuses (:class:`HandoverRefused`, exit code 5) unless the status is ``ready`` or ``adopted``,
    when the FQDN or owner email is missing, and when a handover already fired and ``reissue`` is
    False. On success sets ``handoverFiredAt``/``handoverURL`` and appends the ``handover-ready``
    event; the record is not modified on refusal.
    """
    rid = record.id
    if signer is None:
        raise HandoverRefused(f"{rid}: no handover signing key is configured")
    if record.status not in MANUAL_STATUSES:
        raise HandoverRefused(f"{rid}: status is {_status_text(record.status)}, not ready or adopted")
    fqdn = record.fqdn
    if not fqdn:
        raise HandoverRefused(f"{rid}: no Sovereign FQDN on the record")
    if not is_valid_fqdn(fqdn):
        raise HandoverRefused(f"{rid}: Sovereign FQDN {fqdn[:80]!r} is not a DNS name")
    email = owner_email(record)
    if not email:
        raise HandoverRefused(f"{rid}: no owner email (ownerEmail and request.orgEmail are empty)")
    previous = fired_at(record)
    if previous is not None and not reissue:
        raise HandoverRefused(
            f"{rid}: handover already fired at {previous}; use --reissue to mint a fresh token "
            f"(tokens expire after {_TTL_MINUTES} minutes)"
        )
    try:
        minted = signer.mint(fqdn=fqdn, email=email, deployment_id=rid, now=now)
    except InvalidFQDN as exc:  # pragma: no cover - checked above
        raise HandoverRefused(f"{rid}: {exc}") from None
    event = _apply(record, minted, now)
    record.append_events([event])
    return ManualResult(url=minted.url, minted=minted, event=event, reissued=previous is not None, previous_fired_at=previous)


def _status_text(status: str) -> str:
    if not status:
        return "empty"
    return status if len(status) <= 40 else status[:40] + "…"


def handover_preconditions(record: Record, component_states: Mapping[str, str] | None = None) -> list[str]:
    """What stands in the way of a handover, as one-line problems; empty when nothing does.

    ``component_states`` defaults to what the record says (§9.4). An ``adopted`` record passes the
    status check and is not asked for components (finalisation zeroes them).
    """
    problems: list[str] = []
    status = record.status
    if status not in MANUAL_STATUSES:
        problems.append(f"status is {_status_text(status)}, not ready")
    if status != statuses.ADOPTED:
        states = dict(component_states) if component_states is not None else current_states(
            record.result.model_dump() if record.result is not None else None,
            [e.model_dump() for e in record.event_list()],
        )
        if not states:
            problems.append("no component states recorded")
        else:
            pending = [(c, s) for c, s in states.items() if s != ComponentState.INSTALLED.value]
            if pending:
                shown = ", ".join(f"{c} {s}" for c, s in pending[:4]) + (", …" if len(pending) > 4 else "")
                problems.append(f"{len(pending)} of {len(states)} components not installed ({shown})")
    fqdn = record.fqdn
    if not fqdn:
        problems.append("no FQDN")
    elif not is_valid_fqdn(fqdn):
        problems.append(f"FQDN {fqdn[:80]!r} is not a DNS name")
    if not owner_email(record):
        problems.append("no owner email")
    return problems
