"""Copy records between stores: ``catalyst-tui import SRC`` and ``export DEST [ID...]``.

Semantics, per record (events included, the 10,000 cap applies in the destination):

* not in the destination                  -> ``create``                      outcome "created"
* in the destination with identical bytes -> nothing written, no audit      outcome "unchanged"
  (compared as catalyst-api JSON, :func:`to_catalyst_json`)
* in the destination with other content   -> ``replace`` guarded by the
  version just read from the destination (the source wins; a concurrent
  writer in the destination still gets detected)                           outcome "replaced"
* a concurrent change in the destination  -> nothing written for it         outcome "conflict"
* id asked for but not in the source      ->                                outcome "missing"
* unreadable in the source or destination -> nothing written for it         outcome "error"
  (a corrupt destination file is never overwritten blindly)

One bad record never stops the others. Records the source could not load while listing come
back as ``load_errors``. A read-only destination is refused up front (nothing written).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Awaitable, Callable, Union

from ..domain.record import Record, to_catalyst_json
from .base import AuditEntry, Conflict, LoadError, RecordNotFound, RecordStore, Refused, StoreError
from .common import check_id

CREATED = "created"
REPLACED = "replaced"
UNCHANGED = "unchanged"
CONFLICT = "conflict"
MISSING = "missing"
ERROR = "error"

SUCCESS_OUTCOMES = frozenset({CREATED, REPLACED, UNCHANGED})

#: Builds the audit entry for one destination write: ``(existing_in_dst or None, incoming)``.
AuditFactory = Callable[[Union[Record, None], Record], Union[AuditEntry, None, Awaitable[Union[AuditEntry, None]]]]


@dataclass(frozen=True)
class TransferResult:
    id: str
    outcome: str
    #: One-line reason for conflict / missing / error; empty on success.
    detail: str = ""
    #: The record's version in the destination after the copy (None when nothing was written).
    version: str | None = None

    @property
    def ok(self) -> bool:
        return self.outcome in SUCCESS_OUTCOMES


@dataclass
class TransferReport:
    results: list[TransferResult] = field(default_factory=list)
    load_errors: list[LoadError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results) and not self.load_errors

    def pairs(self) -> list[tuple[str, str]]:
        return [(r.id, r.outcome) for r in self.results]

    def count(self, outcome: str) -> int:
        return sum(1 for r in self.results if r.outcome == outcome)


async def _audit_for(factory: AuditFactory | None, existing: Record | None, incoming: Record) -> AuditEntry | None:
    if factory is None:
        return None
    out = factory(existing, incoming)
    if hasattr(out, "__await__"):
        out = await out  # type: ignore[misc]
    return out  # type: ignore[return-value]


async def copy_one(src: RecordStore, dst: RecordStore, record_id: str, *, operator_audit: AuditFactory | None = None) -> TransferResult:
    try:
        check_id(record_id)
        incoming = (await src.get(record_id)).record
    except RecordNotFound as exc:
        return TransferResult(record_id, MISSING, str(exc))
    except StoreError as exc:
        return TransferResult(record_id, ERROR, str(exc))
    try:
        try:
            current = await dst.get(record_id)
        except RecordNotFound:
            audit = await _audit_for(operator_audit, None, incoming)
            version = await dst.create(incoming, audit=audit)
            return TransferResult(record_id, CREATED, "", version)
        if to_catalyst_json(current.record) == to_catalyst_json(incoming):
            return TransferResult(record_id, UNCHANGED, "", current.version)
        audit = await _audit_for(operator_audit, current.record, incoming)
        version = await dst.replace(incoming, current.version, audit=audit)
        return TransferResult(record_id, REPLACED, "", version)
    except Conflict as exc:
        return TransferResult(record_id, CONFLICT, str(exc))
    except StoreError as exc:
        return TransferResult(record_id, ERROR, str(exc))


async def copy_records(
    src: RecordStore,
    dst: RecordStore,
    ids: list[str] | None = None,
    *,
    operator_audit: AuditFactory | None = None,
) -> TransferReport:
    """Copy ``ids`` (or every readable record of ``src``) into ``dst``; see the module doc.

    Both stores must be open. Raises :class:`Refused` when ``dst`` is read-only; every other
    failure is reported per record.
    """
    if getattr(dst, "read_only", False):
        raise Refused(f"{dst.url or dst.kind}: read-only mode: copying records refused; nothing written")
    report = TransferReport()
    if ids is None:
        summaries, errors = await src.list_summaries()
        report.load_errors.extend(errors)
        wanted = [s.id for s in summaries]
    else:
        wanted = list(dict.fromkeys(ids))
    for record_id in wanted:
        report.results.append(await copy_one(src, dst, record_id, operator_audit=operator_audit))
    return report
