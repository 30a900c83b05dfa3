"""The one async interface every record store implements.

Concurrency contract (both backends):

* Every read returns a ``version`` (an opaque string). Every mutation names the version it was
  based on; if the stored record changed since, the mutation raises :class:`Conflict` and writes
  nothing. Nothing is ever silently overwritten.
* A mutation may carry an :class:`AuditEntry`; the backend writes it with the mutation (SQLite:
  in the same transaction) so the audit trail and the records always agree.
* Errors are :class:`StoreError` subclasses whose ``str()`` is one line naming the record and the
  reason, fit for a CLI's stderr or a dashboard toast. They never contain record contents.
"""

from __future__ import annotations

import abc
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Mapping

if TYPE_CHECKING:  # the pydantic models load on first use (domain.record); the fleet view needs none
    from ..domain.record import Event, Record


class StoreError(Exception):
    """Base of every expected store failure (exit code via ``exit_code``)."""

    exit_code = 1


class InvalidStoreURL(StoreError):
    exit_code = 2


class InvalidRecordId(StoreError):
    exit_code = 2


class RecordNotFound(StoreError):
    exit_code = 3


class Conflict(StoreError):
    """The record changed underneath (or an ``--expect`` precondition did not hold)."""

    exit_code = 4


class Refused(StoreError):
    """Read-only mode, or a rule forbids the action."""

    exit_code = 5


class StoreUnavailable(StoreError):
    """The store cannot be opened or written (not a SQLite file, read-only directory, locked…)."""

    exit_code = 1


@dataclass(frozen=True)
class LoadError:
    """A record that could not be read; the load goes on without it (catalyst-api ``onErr``)."""

    path: str
    reason: str


@dataclass
class Summary:
    """What the fleet list needs of a record, computed without loading its events as models."""

    id: str
    status: str
    version: str
    sovereignFQDN: str = ""
    orgName: str = ""
    region: str = ""
    startedAt: str | None = None
    finishedAt: str | None = None  # None when Go's zero time
    error: str = ""
    component_states: dict[str, str] = field(default_factory=dict)
    kubeconfigPath: str = ""
    phase1FinishedAt: str | None = None
    phase1Outcome: str = ""
    phase1Substate: str = ""
    handoverFiredAt: str | None = None
    handoverURL_set: bool = False
    ownerEmail: str = ""
    events_count: int = 0
    last_event_time: str | None = None

    @property
    def components_installed(self) -> int:
        return sum(1 for s in self.component_states.values() if s == "installed")

    @property
    def components_total(self) -> int:
        return len(self.component_states)


@dataclass(frozen=True)
class Versioned:
    record: Record
    version: str


@dataclass
class AuditEntry:
    time: str
    operator: str
    action: str
    record_id: str
    status_before: str | None
    status_after: str | None
    reason: str
    detail: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "AuditEntry":
        return cls(
            time=str(data.get("time", "")),
            operator=str(data.get("operator", "")),
            action=str(data.get("action", "")),
            record_id=str(data.get("record_id", "")),
            status_before=data.get("status_before"),
            status_after=data.get("status_after"),
            reason=str(data.get("reason", "")),
            detail=data.get("detail") if isinstance(data.get("detail"), dict) else {},
        )


@dataclass(frozen=True)
class Lease:
    """Who watches and writes a Sovereign's Phase-1 progress (SQLite store only)."""

    record_id: str
    holder: str
    heartbeat: datetime
    expires: datetime

    def held_by(self, holder: str) -> bool:
        return self.holder == holder


Mutator = Callable[["Record"], "Record | None | Awaitable[Record | None]"]


class RecordStore(abc.ABC):
    """Async record store. Use as ``async with open_store(url) as store:``."""

    #: "sqlite" or "catalyst-dir"
    kind: str = ""
    url: str = ""
    #: True when catalyst-api itself may be writing the same data (the directory backend).
    shared_with_catalyst_api: bool = False
    supports_leases: bool = False

    async def __aenter__(self) -> "RecordStore":
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @abc.abstractmethod
    async def open(self) -> None: ...

    @abc.abstractmethod
    async def close(self) -> None: ...

    # --- reads -------------------------------------------------------------------------------
    @abc.abstractmethod
    async def list_summaries(self) -> tuple[list[Summary], list[LoadError]]:
        """Every readable record as a :class:`Summary`, plus the ones that could not be read."""

    async def head_summaries(
        self, limit: int, ranks: Mapping[str, int | None], *, other_rank: int
    ) -> tuple[int, list[Summary]] | None:
        """Optional (None: not supported): what a fleet view needs to paint its first screen
        before :meth:`list_summaries` is done. Returns (the number of records, summaries) where the
        summaries include every record that can be among the first ``limit`` of the order

            (rank, newest ``startedAt`` first as ``parse_time`` reads it -- unset or unreadable
            last --, id)

        with rank = ``ranks[status]`` (``other_rank`` for a status not in ``ranks``). A status
        ranked ``None`` cannot be placed by the store (its rank depends on more than the record):
        every record of it is included. Records :meth:`list_summaries` reports as unreadable are
        left out (and the next ones taken instead); each summary returned equals the one
        :meth:`list_summaries` returns for that record at the same moment."""
        return None

    @abc.abstractmethod
    async def get(self, record_id: str) -> Versioned:
        """The whole record with its events. Raises RecordNotFound, InvalidRecordId, StoreError."""

    async def get_head(self, record_id: str) -> Versioned:
        """The record **without** its events (``events`` is None whatever is stored), for a
        caller that changes other fields and appends events with :meth:`replace_head` only
        (never :meth:`replace`: that would write the events away). A backend that cannot read
        less returns the whole record."""
        return await self.get(record_id)

    @abc.abstractmethod
    async def change_token(self) -> str:
        """Cheap value that changes whenever any record changes (the UI polls it every second)."""

    # --- writes (each one atomic; ``expected_version`` guards against lost updates) -------------
    @abc.abstractmethod
    async def create(self, record: Record, *, audit: AuditEntry | None = None) -> str:
        """Add a new record; Conflict if the id exists. Returns the version."""

    @abc.abstractmethod
    async def replace(self, record: Record, expected_version: str, *, audit: AuditEntry | None = None) -> str:
        """Write the whole record if it is still at ``expected_version``; returns the new version."""

    async def replace_head(
        self, record: Record, expected_version: str, append: list[Event], *, audit: AuditEntry | None = None
    ) -> str:
        """One write: every field of ``record`` except its events (ignored) replaces the stored
        ones, and ``append`` is appended to the stored events (keeping the newest 10,000), if the
        record is still at ``expected_version``; returns the new version. What the supervisor
        writes when Phase 1 ends: it never reads the events it does not change."""
        current = await self.get(record.id)
        if current.version != expected_version:
            raise Conflict(f"{record.id}: changed underneath; nothing written")
        stored = current.record.events
        full = record.model_copy(update={"events": list(stored) if stored is not None else None})
        if append:
            from ..domain.record import EVENT_BUFFER_CAP

            full.append_events(list(append), EVENT_BUFFER_CAP)
        return await self.replace(full, expected_version, audit=audit)

    @abc.abstractmethod
    async def append_events(
        self,
        record_id: str,
        events: list[Event],
        *,
        expected_version: str | None = None,
        audit: AuditEntry | None = None,
    ) -> str:
        """Append events (keeping the newest 10,000). ``expected_version=None`` appends regardless
        of concurrent writers (appends commute); the watcher batches many events per call."""

    # --- audit --------------------------------------------------------------------------------
    @abc.abstractmethod
    async def audit_append(self, entry: AuditEntry) -> None: ...

    @abc.abstractmethod
    async def audit_list(self, record_id: str | None = None) -> list[AuditEntry]: ...

    # --- leases (SQLite only; the directory backend has catalyst-api as its writer) --------------
    async def acquire_lease(self, record_id: str, holder: str, ttl_seconds: float, *, now: datetime | None = None) -> Lease:
        """Take or renew the lease; returns the lease as it stands (check ``held_by``)."""
        raise Refused(f"{record_id}: leases are not supported by the {self.kind} store")

    async def release_lease(self, record_id: str, holder: str) -> None:
        return None

    async def leases(self) -> dict[str, Lease]:
        return {}

    # --- helpers built on the primitives -------------------------------------------------------
    async def update(self, record_id: str, mutate: Mutator, *, audit: Callable[[Record, Record], AuditEntry] | None = None) -> Versioned:
        """Read, mutate a copy, write back with the version read. Conflict propagates: the
        caller decides whether a retry is meaningful (an operator's patch must not be retried
        blindly on a record that changed under them)."""
        from ..domain.record import Record

        current = await self.get(record_id)
        before = current.record
        work = before.model_copy(deep=True)
        out = mutate(work)
        if hasattr(out, "__await__"):
            out = await out  # type: ignore[misc]
        after = out if isinstance(out, Record) else work
        entry = audit(before, after) if audit else None
        version = await self.replace(after, current.version, audit=entry)
        return Versioned(after, version)
