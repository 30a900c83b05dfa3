"""Operator actions shared by the command line and the dashboard.

Every action takes an opened :class:`~catalyst_tui.store.base.RecordStore`, the operator name
(:func:`catalyst_tui.service.identity.resolve_operator`), the read-only flag and a reason, and
every mutation writes an :class:`~catalyst_tui.store.base.AuditEntry` in the same store mutation.
Failures are :class:`~catalyst_tui.store.base.StoreError` subclasses whose ``str()`` is one line
naming the record and the reason, and whose ``exit_code`` is the CLI's exit code:

* :class:`InvalidArgument` (2): unknown status, empty reason, bad id;
* ``RecordNotFound`` (3);
* ``Conflict`` (4): the record changed since it was read, or ``--expect`` did not hold;
* ``Refused`` (5): read-only mode, or a rule forbids it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from ..domain import statuses
from ..domain.record import Event, Record, format_time, is_valid_id
from ..domain.restart import ResumeDecision, kubeconfigs_dir_from_env, rehydrate, resume_decision
from ..store.base import (
    AuditEntry,
    Conflict,
    InvalidRecordId,
    LoadError,
    RecordNotFound,
    RecordStore,
    Refused,
    StoreError,
)
from .text import sanitize

OPERATOR_PHASE = "operator"
MAX_REASON_LEN = 2000

_REASON_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


class InvalidArgument(StoreError):
    """Bad operator input (the CLI's usage error)."""

    exit_code = 2


def _now(now: datetime | None) -> datetime:
    return now if now is not None else datetime.now(timezone.utc)


def show_id(record_id: str) -> str:
    """A record id fit for a one-line message (quoted when it is not a plain id)."""
    if is_valid_id(record_id) and sanitize(record_id) == record_id and record_id.strip() == record_id:
        return record_id
    return repr(sanitize(record_id))


def check_id(record_id: str) -> str:
    if not is_valid_id(record_id):
        raise InvalidRecordId(
            f"{show_id(record_id)}: invalid record id (it must not be empty, '.' or '..', "
            "or contain '/', '\\' or NUL)"
        )
    return record_id


def clean_reason(reason: str | None) -> str:
    """The reason as recorded: control characters removed, whitespace collapsed, bounded."""
    text = _REASON_CONTROL.sub(" ", reason or "")
    text = " ".join(text.split())
    return text[:MAX_REASON_LEN]


def require_reason(reason: str | None, record_id: str) -> str:
    text = clean_reason(reason)
    if not text:
        raise InvalidArgument(f"{show_id(record_id)}: a reason is required (it goes to the audit trail)")
    return text


def refuse_if_read_only(read_only: bool, action: str, record_id: str | None = None) -> None:
    if read_only:
        who = f"{show_id(record_id)}: " if record_id else ""
        raise Refused(f"{who}{action} refused: read-only mode (start without --read-only to change records)")


def audit_entry(
    *,
    now: datetime,
    operator: str,
    action: str,
    record_id: str,
    before: str | None,
    after: str | None,
    reason: str,
    **detail: Any,
) -> AuditEntry:
    return AuditEntry(
        time=format_time(now),
        operator=operator,
        action=action,
        record_id=record_id,
        status_before=before,
        status_after=after,
        reason=reason,
        detail={k: v for k, v in detail.items() if v is not None},
    )


# --- patch-status -----------------------------------------------------------------------------

WARN_SHARED_DIR = (
    "a catalyst-api still writing this record will overwrite the patch "
    "(it rewrites {id}.json after every event and reads the directory only when it starts)"
)
WARN_RESUMES = (
    "the next catalyst-api restart resumes the watch and flips it back to phase1-watching "
    "(phase1FinishedAt is unset and the kubeconfig {path} exists)"
)
WARN_PHASE0 = "the next catalyst-api restart rewrites it to failed (Phase 0 cannot be resumed)"
WARN_STALE = "no watcher can attach ({reason}); it will stay phase1-watching until patched again"


def patch_consequences(
    store: RecordStore, after: Record, *, kubeconfigs_dir: str, stat: Any = None
) -> tuple[list[str], ResumeDecision]:
    """What the dashboard must show before confirming a patch that would produce ``after``."""
    kwargs = {"stat": stat} if stat is not None else {}
    decision = resume_decision(after, kubeconfigs_dir=kubeconfigs_dir, **kwargs)
    warnings: list[str] = []
    if store.shared_with_catalyst_api:
        warnings.append(WARN_SHARED_DIR.format(id=after.id))
    if statuses.is_phase0_in_flight(after.status):
        warnings.append(WARN_PHASE0)
    elif after.status == statuses.PHASE1_WATCHING:
        if not decision.resume:
            warnings.append(WARN_STALE.format(reason=decision.reason))
    elif decision.resume and after.status != statuses.ADOPTED:
        warnings.append(WARN_RESUMES.format(path=decision.kubeconfig_path))
    return warnings, decision


@dataclass(frozen=True)
class PatchPlan:
    """A patch as it would be written; ``version`` is what it was based on."""

    record_id: str
    before: Record
    after: Record
    version: str
    event: Event
    warnings: list[str]
    reason: str

    @property
    def status_before(self) -> str:
        return self.before.status

    @property
    def status_after(self) -> str:
        return self.after.status


@dataclass(frozen=True)
class PatchResult:
    record_id: str
    before: Record
    after: Record
    version: str  # the version written
    warnings: list[str]
    audit: AuditEntry


def validate_status(to: str, record_id: str, what: str = "--to") -> str:
    to = (to or "").strip()
    if not statuses.is_known(to):
        raise InvalidArgument(
            f"{show_id(record_id)}: unknown status {sanitize(to)!r} for {what}; "
            f"one of {', '.join(statuses.KNOWN_STATUSES)}"
        )
    return to


async def plan_patch(
    store: RecordStore,
    record_id: str,
    to: str,
    reason: str,
    *,
    operator: str,
    expect: str | None = None,
    now: datetime | None = None,
    kubeconfigs_dir: str | None = None,
) -> PatchPlan:
    """Validate and compute a status patch without writing (the dashboard's preview)."""
    check_id(record_id)
    to = validate_status(to, record_id)
    if expect is not None:
        expect = validate_status(expect, record_id, "--expect")
    text = require_reason(reason, record_id)
    now = _now(now)
    current = await store.get(record_id)
    before = current.record
    if expect is not None and before.status != expect:
        raise Conflict(
            f"{show_id(record_id)}: status is {sanitize(before.status)!r}, expected {expect!r}; nothing written"
        )
    after = before.model_copy(deep=True)
    after.status = to
    event = Event.make(
        OPERATOR_PHASE,
        "warn",
        f"status patched by operator {operator}: {before.status} → {to}; reason: {text}",
        at=now,
    )
    after.append_events([event])
    warnings, _ = patch_consequences(
        store, after, kubeconfigs_dir=kubeconfigs_dir or kubeconfigs_dir_from_env()
    )
    return PatchPlan(record_id, before, after, current.version, event, warnings, text)


async def patch_status(
    store: RecordStore,
    record_id: str,
    to: str,
    reason: str,
    *,
    operator: str,
    read_only: bool = False,
    expect: str | None = None,
    expected_version: str | None = None,
    now: datetime | None = None,
    kubeconfigs_dir: str | None = None,
) -> PatchResult:
    """The manual workaround: set ``status`` to ``to``.

    ``expect``: the patch applies only if the current status is that (else :class:`Conflict`).
    ``expected_version``: the version the operator saw (e.g. :attr:`PatchPlan.version` from the
    preview); if the record changed since, :class:`Conflict` and nothing is written.
    """
    check_id(record_id)
    validate_status(to, record_id)
    if expect is not None:
        validate_status(expect, record_id, "--expect")
    require_reason(reason, record_id)
    refuse_if_read_only(read_only, "patch-status", record_id)
    now = _now(now)
    plan = await plan_patch(
        store, record_id, to, reason, operator=operator, expect=expect, now=now, kubeconfigs_dir=kubeconfigs_dir
    )
    if expected_version is not None and plan.version != expected_version:
        raise Conflict(f"{show_id(record_id)}: the record changed since it was read; nothing written")
    entry = audit_entry(
        now=now,
        operator=operator,
        action="patch-status",
        record_id=record_id,
        before=plan.before.status,
        after=plan.after.status,
        reason=plan.reason,
        expect=expect,
        warnings=plan.warnings or None,
        store=store.kind or None,
    )
    version = await store.replace(plan.after, plan.version, audit=entry)
    return PatchResult(record_id, plan.before, plan.after, version, plan.warnings, entry)


# --- rehydrate --------------------------------------------------------------------------------

@dataclass(frozen=True)
class RehydrateRow:
    id: str
    before: str
    after: str
    resume: bool
    reason: str
    #: True when the record changed and (without dry-run) was written.
    changed: bool
    persisted: bool
    stale: bool
    #: One-line error when this record could not be read or written (conflict etc.).
    error: str = ""
    exit_code: int = 0

    def to_json(self) -> dict[str, Any]:
        """The exact object ``catalyst-tui rehydrate --json`` prints."""
        return {"id": self.id, "before": self.before, "after": self.after, "resume": self.resume, "reason": self.reason}


@dataclass
class RehydrateReport:
    rows: list[RehydrateRow] = field(default_factory=list)
    load_errors: list[LoadError] = field(default_factory=list)

    @property
    def errors(self) -> list[RehydrateRow]:
        return [r for r in self.rows if r.error]


async def rehydrate_all(
    store: RecordStore,
    *,
    kubeconfigs_dir: str,
    operator: str,
    read_only: bool = False,
    dry_run: bool = False,
    now: datetime | None = None,
    reason: str = "",
    stat: Any = None,
) -> RehydrateReport:
    """Apply the post-fix restart rules to every record; persist what changed (unless dry-run).

    A per-record conflict (the record changed between read and write) is reported on that row and
    the others go on.
    """
    if not dry_run:
        refuse_if_read_only(read_only, "rehydrate")
    now = _now(now)
    kwargs = {"stat": stat} if stat is not None else {}
    summaries, load_errors = await store.list_summaries()
    report = RehydrateReport(load_errors=list(load_errors))
    for summary in sorted(summaries, key=lambda s: s.id):
        try:
            current = await store.get(summary.id)
        except StoreError as exc:
            report.rows.append(RehydrateRow(summary.id, summary.status, summary.status, False, "", False, False,
                                            False, str(exc), exc.exit_code))
            continue
        res = rehydrate(current.record, now=now, kubeconfigs_dir=kubeconfigs_dir, **kwargs)
        row = RehydrateRow(
            id=summary.id,
            before=res.before.status,
            after=res.after.status,
            resume=res.decision.resume,
            reason=res.decision.reason,
            changed=res.persist,
            persisted=False,
            stale=res.stale,
        )
        if res.persist and not dry_run:
            entry = audit_entry(
                now=now,
                operator=operator,
                action="rehydrate",
                record_id=summary.id,
                before=res.before.status,
                after=res.after.status,
                reason=clean_reason(reason) or f"restart rules: {res.decision.describe()}",
            )
            try:
                await store.replace(res.after, current.version, audit=entry)
            except StoreError as exc:
                row = RehydrateRow(**{**row.__dict__, "error": str(exc), "exit_code": exc.exit_code})
            else:
                row = RehydrateRow(**{**row.__dict__, "persisted": True})
        report.rows.append(row)
    return report


# --- handover ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class HandoverOutcome:
    record_id: str
    #: The handover URL carries a bearer token: show it once, never log it.
    url: str = field(repr=False)
    fired_at: str
    expires_at: str
    reissued: bool
    previous_fired_at: str | None
    version: str
    audit: AuditEntry
    #: Remarks about the signing key (generated now, loose permissions...).
    notes: tuple[str, ...] = ()


async def handover(
    store: RecordStore,
    record_id: str,
    signer: Any,
    *,
    operator: str,
    read_only: bool = False,
    reissue: bool = False,
    now: datetime | None = None,
    reason: str = "",
    expected_version: str | None = None,
) -> HandoverOutcome:
    """Manual handover (``catalyst-tui handover ID [--reissue]``): mint a token for a ``ready`` or
    ``adopted`` record, persist ``handoverFiredAt``/``handoverURL`` and the ``handover-ready``
    event, audit (action ``handover`` or ``handover-reissue``; the token is never audited).

    ``signer`` is a :class:`~catalyst_tui.handover.keys.HandoverSigner`, or a zero-argument
    callable returning one (called only after the read-only and record checks pass, so a refused
    handover never generates a key). Refused (exit 5) unless ready/adopted, without FQDN or owner
    email, or when a handover already fired and ``reissue`` is False.
    """
    from ..handover.fire import HandoverRefused, manual_handover

    check_id(record_id)
    refuse_if_read_only(read_only, "handover", record_id)
    now = _now(now)
    current = await store.get(record_id)
    if expected_version is not None and current.version != expected_version:
        raise Conflict(f"{show_id(record_id)}: the record changed since it was read; nothing written")
    work = current.record.model_copy(deep=True)
    if callable(signer) and not hasattr(signer, "mint"):
        # A key factory: refuse the obvious cases before loading (or generating) a key.
        from ..handover.fire import MANUAL_STATUSES, fired_at

        if work.status not in MANUAL_STATUSES:
            raise Refused(
                f"{show_id(record_id)}: handover refused: status is {sanitize(work.status)[:40]!r}, not ready or adopted"
            )
        if fired_at(work) is not None and not reissue:
            raise Refused(
                f"{show_id(record_id)}: handover refused: already fired at {sanitize(fired_at(work))}; "
                "use --reissue to mint a fresh token (tokens expire after 5 minutes)"
            )
        signer = signer()
    try:
        minted = manual_handover(work, signer, now=now, reissue=reissue)
    except HandoverRefused as exc:
        raise Refused(sanitize(str(exc))) from None
    result = work.result
    fired = (result.handoverFiredAt if result is not None else None) or format_time(now)
    expires = format_time(minted.minted.expires_at)
    entry = audit_entry(
        now=now,
        operator=operator,
        action="handover-reissue" if minted.reissued else "handover",
        record_id=record_id,
        before=current.record.status,
        after=work.status,
        reason=clean_reason(reason) or ("manual handover reissued" if minted.reissued else "manual handover"),
        jti=minted.minted.jti,
        expiresAt=expires,
        previousFiredAt=minted.previous_fired_at,
    )
    version = await store.replace(work, current.version, audit=entry)
    return HandoverOutcome(
        record_id, minted.url, fired, expires, minted.reissued, minted.previous_fired_at, version, entry,
        tuple(getattr(signer, "notes", ()) or ()),
    )


# --- import / export ----------------------------------------------------------------------------

def _transfer_audit(action: str, operator: str, reason: str, peer_key: str, peer: str, now: datetime):
    def factory(existing: Record | None, incoming: Record) -> AuditEntry:
        return audit_entry(
            now=now,
            operator=operator,
            action=action,
            record_id=incoming.id,
            before=existing.status if existing is not None else None,
            after=incoming.status,
            reason=clean_reason(reason) or f"{action} {'from' if action == 'import' else 'to'} {peer}",
            **{peer_key: peer, "replaced": existing is not None},
        )

    return factory


async def import_records(
    dest: RecordStore,
    src_url: str,
    *,
    operator: str,
    read_only: bool = False,
    ids: list[str] | None = None,
    reason: str = "",
    now: datetime | None = None,
) -> Any:
    """Copy records from the store at ``src_url`` (opened read-only) into ``dest``.

    Returns :class:`catalyst_tui.store.transfer.TransferReport` (per-record outcomes ``created``,
    ``replaced``, ``unchanged``, ``conflict``, ``missing``, ``error``). Every write is audited in
    ``dest`` with action ``import``.
    """
    from ..store.transfer import copy_records
    from ..store.urls import open_store

    refuse_if_read_only(read_only, "import")
    for rid in ids or ():
        check_id(rid)
    audit = _transfer_audit("import", operator, reason, "source", src_url, _now(now))
    async with open_store(src_url, read_only=True) as src:
        return await copy_records(src, dest, ids, operator_audit=audit)


async def export_records(
    src: RecordStore,
    dest_url: str,
    *,
    operator: str,
    read_only: bool = False,
    ids: list[str] | None = None,
    reason: str = "",
    now: datetime | None = None,
) -> Any:
    """Copy records of ``src`` (all, or ``ids``) to the store at ``dest_url`` (a catalyst-api
    directory gets catalyst-api's format). Audited in the destination with action ``export``.
    Refused in read-only mode: it changes the destination."""
    from ..store.transfer import copy_records
    from ..store.urls import open_store

    refuse_if_read_only(read_only, "export")
    for rid in ids or ():
        check_id(rid)
    audit = _transfer_audit("export", operator, reason, "destination", dest_url, _now(now))
    async with open_store(dest_url) as dst:
        return await copy_records(src, dst, ids, operator_audit=audit)
