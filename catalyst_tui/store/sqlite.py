"""The embedded default store: one SQLite file (aiosqlite), safe for several processes at once.

* WAL journal and a busy timeout: readers never block, writers queue for ``busy_timeout``
  seconds and then fail with a one-line :class:`StoreUnavailable`.
* Every mutation is ONE ``BEGIN IMMEDIATE`` transaction with an optimistic version check
  (``UPDATE … WHERE id=? AND version=?``); the audit entry rides in the same transaction.
* The records table carries the summary columns, so :meth:`list_summaries` never touches the
  events table; events live one row each in ``events`` (capped at 10,000 per record, oldest
  dropped).
* Versions are decimal strings of a per-record counter ("1", "2", …).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sqlite3
import stat
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from operator import itemgetter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, TypeVar

import aiosqlite

# aiosqlite logs every call with its parameters at DEBUG: whole records (credentials of a hand-edited
# record, handover URLs with their tokens). Nothing of value is lost by keeping it at INFO.
logging.getLogger("aiosqlite").setLevel(logging.INFO)

from ..domain.components import current_states, states_from_events
from ..domain.record import EVENT_BUFFER_CAP, RecordDecodeError, parse_time, record_from_dict, record_to_dict
from .base import (
    AuditEntry,
    Conflict,
    Lease,
    LoadError,
    RecordNotFound,
    RecordStore,
    StoreError,
    StoreUnavailable,
    Summary,
    Versioned,
)
from .common import (
    UnreadableRecord,
    check_id,
    dumps_compact,
    make_private_dirs,
    event_to_dict,
    merge_event_states,
    refuse_read_only,
    states_frozen,
    summary_fields,
)

if TYPE_CHECKING:  # annotations only: the models (pydantic) load when a record is decoded
    from ..domain.record import Event, Record

SCHEMA_VERSION = 1
T = TypeVar("T")
#: ``PRAGMA application_id`` of a catalyst-tui store ("CTUI").
APPLICATION_ID = 0x43545549
SQLITE_HEADER = b"SQLite format 3\x00"

#: Covers the dashboard's first screenful (:meth:`SQLiteStore.head_summaries`: records per status,
#: then id/status/startedAt of the most urgent ones) without reading the 40 MB of record bodies a
#: 10,000-record table holds. Added to stores made before it when they are opened writable; a
#: store opened read-only without it is scanned (slower, same answer).
_STATUS_INDEX = "CREATE INDEX IF NOT EXISTS records_by_status ON records (status, startedAt, id)"

_SCHEMA = [
    "CREATE TABLE catalyst_tui_schema (version INTEGER NOT NULL)",
    """CREATE TABLE records (
        id TEXT PRIMARY KEY,
        version INTEGER NOT NULL,
        status TEXT NOT NULL,
        fqdn TEXT NOT NULL DEFAULT '',
        org TEXT NOT NULL DEFAULT '',
        region TEXT NOT NULL DEFAULT '',
        startedAt TEXT,
        finishedAt TEXT,
        error TEXT NOT NULL DEFAULT '',
        kubeconfigPath TEXT NOT NULL DEFAULT '',
        phase1FinishedAt TEXT,
        phase1Outcome TEXT NOT NULL DEFAULT '',
        phase1Substate TEXT NOT NULL DEFAULT '',
        handoverFiredAt TEXT,
        handoverURL_set INTEGER NOT NULL DEFAULT 0,
        ownerEmail TEXT NOT NULL DEFAULT '',
        component_states TEXT NOT NULL DEFAULT '{}',
        states_frozen INTEGER NOT NULL DEFAULT 0,
        events_count INTEGER NOT NULL DEFAULT 0,
        last_event_time TEXT,
        events_null INTEGER NOT NULL DEFAULT 1,
        body TEXT NOT NULL
    )""",
    """CREATE TABLE events (
        record_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        json TEXT NOT NULL,
        PRIMARY KEY (record_id, seq)
    ) WITHOUT ROWID""",
    """CREATE TABLE audit (
        n INTEGER PRIMARY KEY AUTOINCREMENT,
        time TEXT NOT NULL,
        record_id TEXT NOT NULL,
        json TEXT NOT NULL
    )""",
    "CREATE INDEX audit_by_record ON audit (record_id, n)",
    _STATUS_INDEX,
    """CREATE TABLE leases (
        record_id TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        heartbeat TEXT NOT NULL,
        expires TEXT NOT NULL
    )""",
]

_SUMMARY_COLUMNS = (
    "id, version, status, fqdn, org, region, startedAt, finishedAt, error, kubeconfigPath, "
    "phase1FinishedAt, phase1Outcome, phase1Substate, handoverFiredAt, handoverURL_set, ownerEmail, "
    "component_states, events_count, last_event_time"
)


#: At most this many write transactions are committed together (see SQLiteStore._transaction).
GROUP_MAX = 64

#: At most this many events' fingerprints are kept for :meth:`SQLiteStore.replace` (see _Known).
KNOWN_EVENTS_MAX = 50_000

_interned_sets: dict[frozenset[str], frozenset[str]] = {}


def _event_fp(ev: Event) -> tuple[Any, ...]:
    """What an event's stored JSON is a function of (field values, which fields are set, extras),
    with every mutable part copied: two events with equal fingerprints encode to the same JSON,
    and an event changed in place no longer matches its old fingerprint."""
    d = ev.__dict__
    dep = d.get("dependsOn")
    fs = frozenset(ev.__pydantic_fields_set__)
    fs = _interned_sets.setdefault(fs, fs) if len(_interned_sets) < 256 else fs
    extra = ev.__pydantic_extra__
    return (
        tuple(d.values()),
        tuple(dep) if dep is not None else None,
        fs,
        json.dumps(extra, sort_keys=True, default=repr) if extra else None,
    )


@dataclass
class _Known:
    """The events stored for a record at ``version``, as :meth:`SQLiteStore.get` read them (or
    :meth:`SQLiteStore.replace` wrote them): lets a replace whose events are those plus new ones
    (the usual case: a status change, an outcome, a handover) insert only the new rows instead of
    deleting and re-encoding every event."""

    version: int
    fps: list[tuple[Any, ...]]
    #: ``states_from_events`` of these events, and the last one's ``time`` (summary columns).
    states: dict[str, str]
    last_time: str | None


def _summary_of(row: list[Any]) -> Summary:
    """The Summary of a row of :data:`_SUMMARY_COLUMNS` (as decoded from ``json_array``);
    ValueError/TypeError when its component states are unreadable."""
    (rid, version, status, fqdn, org, region, started, finished, error, kc, p1f, p1o, p1s, hf, hu, owner,
     states, count, last) = row
    comp = json.loads(states)
    if not isinstance(comp, dict):
        raise ValueError("component_states is not an object")
    return Summary(
        id=rid, status=status, version=str(version), sovereignFQDN=fqdn, orgName=org, region=region,
        startedAt=started, finishedAt=finished, error=error, component_states=comp,
        kubeconfigPath=kc, phase1FinishedAt=p1f, phase1Outcome=p1o, phase1Substate=p1s,
        handoverFiredAt=hf, handoverURL_set=bool(hu), ownerEmail=owner, events_count=count,
        last_event_time=last,
    )


def _is_busy(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    msg = str(exc)
    return "locked" in msg or "busy" in msg


def _iso(dt: datetime) -> str:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc).isoformat(timespec="microseconds")


def _from_iso(text: str) -> datetime:
    return datetime.fromisoformat(text)


class SQLiteStore(RecordStore):
    kind = "sqlite"
    shared_with_catalyst_api = False
    supports_leases = True

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        read_only: bool = False,
        busy_timeout: float = 5.0,
        event_cap: int = EVENT_BUFFER_CAP,
    ) -> None:
        self.path = Path(path)
        self.url = f"sqlite://{self.path}" if self.path.is_absolute() else f"sqlite:{self.path}"
        self.read_only = read_only
        self.busy_timeout = busy_timeout
        self.event_cap = event_cap
        self._db: aiosqlite.Connection | None = None
        #: the read connection (None for an in-memory store): see "running SQL"
        self._rconn: sqlite3.Connection | None = None
        self._own_commits = 0
        #: queued write jobs (record id, fn, args, future) and the task committing them in groups
        self._writes: deque[tuple[str, Callable[..., Any], tuple[Any, ...], asyncio.Future[Any]]] = deque()
        self._group_task: asyncio.Task[None] | None = None
        #: record id -> what its stored events are (LRU, at most KNOWN_EVENTS_MAX events).
        self._known: OrderedDict[str, _Known] = OrderedDict()
        self._known_events = 0
        #: record id -> (its version, the Summary built from it, its sort key): see list_summaries.
        self._summary_cache: dict[str, tuple[int, Summary, tuple[Any, ...]]] = {}
        #: the previous listing: (its ids and versions as JSON, its summaries, its errors)
        self._summary_last: tuple[str | None, list[Summary], list[LoadError]] = (None, [], [])

    # --- open / close ----------------------------------------------------------------------------
    def _precheck(self) -> bool:
        """Check the path before SQLite touches it. Returns True when the file must be created."""
        p = self.path
        try:
            st = os.stat(p)
        except FileNotFoundError:
            return True
        except OSError as exc:
            raise StoreUnavailable(f"{p}: cannot open store: {exc.strerror or exc}") from None
        if stat.S_ISDIR(st.st_mode):
            raise StoreUnavailable(f"{p}: not a catalyst-tui SQLite store (it is a directory; use catalyst-dir://{p})")
        if not stat.S_ISREG(st.st_mode):
            raise StoreUnavailable(f"{p}: not a catalyst-tui SQLite store (not a regular file)")
        if st.st_size == 0:
            # An empty file is an empty SQLite database (what a crash between create and first
            # write leaves behind); it is initialised like a new store.
            return False
        try:
            with open(p, "rb") as fh:
                head = fh.read(len(SQLITE_HEADER))
        except OSError as exc:
            raise StoreUnavailable(f"{p}: cannot read store: {exc.strerror or exc}") from None
        if head != SQLITE_HEADER:
            raise StoreUnavailable(f"{p}: not a catalyst-tui SQLite store (file is not a database)")
        return False

    def _create_file(self) -> None:
        parent = self.path.parent
        if not parent.exists():
            try:
                make_private_dirs(parent)
            except OSError as exc:
                raise StoreUnavailable(f"{parent}: cannot create store directory: {exc.strerror or exc}") from None
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return
        except OSError as exc:
            raise StoreUnavailable(f"{self.path}: cannot create store: {exc.strerror or exc}") from None
        os.close(fd)

    async def open(self) -> None:
        if self._db is not None:
            return
        missing = await asyncio.to_thread(self._precheck)
        target: str = str(self.path)
        if missing:
            if self.read_only:
                # Nothing to read and nothing may be written: an empty in-memory store.
                target = ":memory:"
            else:
                await asyncio.to_thread(self._create_file)
        try:
            # check_same_thread=False: the group commit runs a transaction's statements on the
            # loop's thread between BEGIN and COMMIT in aiosqlite's (never at the same time)
            db = await aiosqlite.connect(target, isolation_level=None, timeout=self.busy_timeout, check_same_thread=False)
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"{self.path}: cannot open store: {exc}") from None
        rconn: sqlite3.Connection | None = None
        try:
            await db.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            if await self._prepare(db, in_memory=target == ":memory:"):
                await db.close()
                db = await aiosqlite.connect(":memory:", isolation_level=None, check_same_thread=False)
                await self._prepare(db, in_memory=True)
                target = ":memory:"
            if target != ":memory:":
                await db.execute("PRAGMA busy_timeout = 0")  # see "running SQL": waits happen in _begin_waiting
                rconn = sqlite3.connect(target, timeout=self.busy_timeout, isolation_level=None)
                rconn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
                rconn.execute("PRAGMA query_only = ON")
        except StoreError:
            if rconn is not None:
                rconn.close()
            await db.close()
            raise
        except sqlite3.DatabaseError as exc:
            if rconn is not None:
                rconn.close()
            await db.close()
            msg = str(exc)
            if "not a database" in msg or "malformed" in msg:
                raise StoreUnavailable(f"{self.path}: not a catalyst-tui SQLite store ({msg})") from None
            raise StoreUnavailable(f"{self.path}: {self._describe(exc)}") from None
        except BaseException:
            if rconn is not None:
                rconn.close()
            await db.close()
            raise
        self._db = db
        self._rconn = rconn

    async def _prepare(self, db: aiosqlite.Connection, *, in_memory: bool) -> bool:
        """Check or create the schema; True when the caller must fall back to an empty memory store."""
        async with db.execute("SELECT type, name FROM sqlite_master WHERE type IN ('table', 'index')") as cur:
            found_names = await cur.fetchall()
        tables = {name for kind, name in found_names if kind == "table"}
        has_index = ("index", "records_by_status") in {(kind, name) for kind, name in found_names}
        if "catalyst_tui_schema" in tables:
            async with db.execute("SELECT max(version) FROM catalyst_tui_schema") as cur:
                row = await cur.fetchone()
            found = row[0] if row else None
            if found != SCHEMA_VERSION:
                raise StoreUnavailable(
                    f"{self.path}: catalyst-tui store schema version {found} is not supported (this build reads {SCHEMA_VERSION})"
                )
        elif tables:
            raise StoreUnavailable(f"{self.path}: not a catalyst-tui SQLite store (a SQLite database with other tables)")
        elif self.read_only and not in_memory:
            # An empty database file opened read-only: serve it as an empty store without writing.
            return True
        else:
            await db.execute("BEGIN IMMEDIATE")
            try:
                for stmt in _SCHEMA:
                    await db.execute(stmt)
                await db.execute("INSERT INTO catalyst_tui_schema (version) VALUES (?)", (SCHEMA_VERSION,))
                await db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                await db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                await db.execute("COMMIT")
            except BaseException:
                await db.execute("ROLLBACK")
                raise
        if not in_memory and not self.read_only:
            async with db.execute("PRAGMA journal_mode = WAL") as cur:
                await cur.fetchone()
            if "catalyst_tui_schema" in tables and not has_index:
                await db.execute(_STATUS_INDEX)  # a store made by an earlier build (one-off)
        await db.execute("PRAGMA synchronous = FULL")
        return False

    async def close(self) -> None:
        task = self._group_task
        if task is not None:
            await asyncio.gather(task, return_exceptions=True)  # queued writes commit first
        rconn, self._rconn = self._rconn, None
        if rconn is not None:
            rconn.close()
        db, self._db = self._db, None
        if db is not None:
            await db.close()

    def _conn(self) -> aiosqlite.Connection:
        if self._db is None:
            raise StoreUnavailable(f"{self.path}: store is not open")
        return self._db

    # --- error mapping ---------------------------------------------------------------------------
    def _describe(self, exc: sqlite3.Error) -> str:
        msg = str(exc)
        if "locked" in msg or "busy" in msg:
            return (
                f"store {self.path} is locked by another process's write "
                f"(waited {self.busy_timeout:g} s); nothing written"
            )
        if "readonly" in msg or "read-only" in msg:
            return f"store {self.path} is not writable ({msg}); nothing written"
        return f"SQLite error on {self.path}: {msg}"

    def _wrap(self, record_id: str, exc: sqlite3.Error) -> StoreUnavailable:
        return StoreUnavailable(f"{record_id}: {self._describe(exc)}")

    # --- running SQL ---------------------------------------------------------------------------------
    # Two connections, so that the event loop (shared with the dashboard and hundreds of watch
    # streams) never waits for the GIL to come back from aiosqlite's thread once per SQL statement
    # (the sqlite3 module releases it around every step; with a busy loop each hand-back waited
    # for the interpreter's switch interval: a get() of a 116-event record took 39 ms as 8 round
    # trips, listing 10,000 summaries 2.1 s):
    #
    # * READS run synchronously on the event loop's thread on a read connection (WAL: a reader
    #   never waits for a writer, it sees the last commit): a get() is 0.1-0.3 ms of SQLite, and
    #   each read is ONE statement returning one row (rows aggregated into JSON by SQLite).
    # * WRITES are GROUP-COMMITTED: the write transactions queued by the time the group runs
    #   (writers called in the same loop turn, or while the previous group waited) run together
    #   in one BEGIN IMMEDIATE … COMMIT, each inside its own SAVEPOINT (one that fails — a
    #   Conflict, a missing record, an SQL error — is rolled back alone and raises for its caller
    #   only). The group runs on the loop's thread on the writer connection, whose busy timeout is
    #   0: when another process holds the write lock, BEGIN IMMEDIATE is retried for up to
    #   ``busy_timeout`` in aiosqlite's thread instead (the loop never waits for a lock). The
    #   statements take microseconds and the COMMIT one fsync (0.2-3 ms on a local disk) per
    #   group; a round trip to a thread per group cost a whole loop turn under a flood of watch
    #   events (0.3-0.9 s per group measured). Each caller returns only after the COMMIT that made
    #   its write durable; writes apply in call order.
    #
    # An in-memory store (read-only, file missing) has no second connection: everything goes
    # through aiosqlite's thread (``Connection._execute``, stable in the pinned aiosqlite 0.22).

    async def _call(self, what: str, fn: Callable[..., T], *args: Any) -> T:
        """A read: ``fn(conn, *args)`` on the read connection (or in aiosqlite's thread)."""
        db = self._conn()
        try:
            if self._rconn is not None:
                return fn(self._rconn, *args)
            return await db._execute(fn, db._conn, *args)
        except sqlite3.Error as exc:
            raise self._wrap(what, exc) from None
        except ValueError as exc:
            if "closed" in str(exc) or "no active connection" in str(exc):
                raise StoreUnavailable(f"{self.path}: store is not open") from None
            raise

    async def _transaction(self, record_id: str, fn: Callable[..., T], *args: Any) -> T:
        """``fn(conn, *args)`` as one write transaction (see above); its result or exception."""
        db = self._conn()
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._writes.append((record_id, fn, args, fut))
        if self._group_task is None:
            self._group_task = asyncio.get_running_loop().create_task(self._run_groups(db))
        return await fut

    async def _run_groups(self, db: aiosqlite.Connection) -> None:
        try:
            while self._writes:
                jobs = []
                while self._writes and len(jobs) < GROUP_MAX:
                    job = self._writes.popleft()
                    if not job[3].cancelled():  # its caller gave up before it started: not written
                        jobs.append(job)
                if jobs:
                    self._settle(await self._commit_group(db, jobs))
        finally:
            self._group_task = None

    async def _commit_group(self, db: aiosqlite.Connection, jobs: list[Any]) -> list[tuple[Any, bool, Any]]:
        try:
            conn = db._conn
            if self._rconn is None:  # in-memory: the whole group in aiosqlite's thread
                return await db._execute(self._group_in_thread, conn, jobs)
            try:
                # this connection's busy timeout is 0: it never waits here...
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc):
                    raise
                # ...another process is writing: wait for its lock in aiosqlite's thread
                await db._execute(self._begin_waiting, conn)
        except asyncio.CancelledError:
            self._rollback_soon(db)
            self._settle([(job, False, asyncio.CancelledError()) for job in jobs])
            raise
        except BaseException as exc:  # e.g. locked by another process's write: nothing started
            return [(job, False, exc) for job in jobs]
        done = self._run_jobs(conn, jobs)
        try:
            if done is None:  # a savepoint could not be released or rolled back: the group is lost
                raise sqlite3.OperationalError("transaction aborted")
            conn.execute("COMMIT")
        except BaseException as exc:  # noqa: BLE001 - every job of the group fails with it
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass  # already rolled back by SQLite
            if done is None:
                return [(job, False, exc) for job in jobs]
            return [(job, False, value if not ok else exc) for job, ok, value in done]
        if any(ok for _job, ok, _v in done):
            self._own_commits += 1
        return done

    def _begin_waiting(self, conn: sqlite3.Connection) -> None:
        """BEGIN IMMEDIATE, retried for up to ``busy_timeout`` seconds (aiosqlite's thread)."""
        deadline = time.monotonic() + self.busy_timeout
        delay = 0.002
        while True:
            try:
                conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc) or time.monotonic() >= deadline:
                    raise
            time.sleep(delay)
            delay = min(delay * 2, 0.05)

    @staticmethod
    def _run_jobs(conn: sqlite3.Connection, jobs: list[Any]) -> list[tuple[Any, bool, Any]] | None:
        """Each job in its own savepoint (inside an open transaction); None if the transaction
        itself broke."""
        done: list[tuple[Any, bool, Any]] = []
        for job in jobs:
            _rid, fn, args, _fut = job
            try:
                conn.execute("SAVEPOINT catalyst_write")
            except sqlite3.Error:
                return None
            try:
                value = fn(conn, *args)
            except BaseException as exc:  # noqa: BLE001 - handed to the job's caller
                try:
                    conn.execute("ROLLBACK TO catalyst_write")
                    conn.execute("RELEASE catalyst_write")
                except sqlite3.Error:
                    return None
                done.append((job, False, exc))
            else:
                try:
                    conn.execute("RELEASE catalyst_write")
                except sqlite3.Error:
                    return None
                done.append((job, True, value))
        return done

    def _group_in_thread(self, conn: sqlite3.Connection, jobs: list[Any]) -> list[tuple[Any, bool, Any]]:
        try:
            conn.execute("BEGIN IMMEDIATE")
        except BaseException as exc:  # noqa: BLE001
            return [(job, False, exc) for job in jobs]
        done = self._run_jobs(conn, jobs)
        try:
            if done is None:
                raise sqlite3.OperationalError("transaction aborted")
            conn.execute("COMMIT")
        except BaseException as exc:  # noqa: BLE001
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            return [(job, False, exc) for job in jobs] if done is None else \
                [(job, False, value if not ok else exc) for job, ok, value in done]
        if any(ok for _job, ok, _v in done):
            self._own_commits += 1
        return done

    @staticmethod
    async def _rollback(db: aiosqlite.Connection) -> None:
        try:
            await db._execute(db._conn.execute, "ROLLBACK")
        except (sqlite3.Error, ValueError):
            pass  # already rolled back by SQLite, or the connection is gone

    @staticmethod
    def _rollback_soon(db: aiosqlite.Connection) -> None:
        """A ROLLBACK queued behind the BEGIN/COMMIT a cancelled group was waiting for (the
        connection must not stay inside a transaction)."""
        def rollback(conn: sqlite3.Connection) -> None:
            try:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass

        try:
            asyncio.get_running_loop().create_task(db._execute(rollback, db._conn))
        except (RuntimeError, ValueError):
            pass

    def _settle(self, done: list[tuple[Any, bool, Any]]) -> None:
        for (record_id, _fn, _args, fut), ok, value in done:
            if fut.done():
                continue
            if ok:
                fut.set_result(value)
            elif isinstance(value, sqlite3.Error):
                fut.set_exception(self._wrap(record_id, value))
            elif isinstance(value, ValueError) and ("closed" in str(value) or "no active connection" in str(value)):
                fut.set_exception(StoreUnavailable(f"{record_id}: {self.path}: store is not open; nothing written"))
            elif isinstance(value, asyncio.CancelledError):
                fut.set_exception(StoreUnavailable(f"{record_id}: {self.path}: store closed; nothing written"))
            else:
                fut.set_exception(value)

    # --- reads -----------------------------------------------------------------------------------
    # Reads return ONE row: the sqlite3 module releases the GIL around every step (every row),
    # and taking it back from an event loop busy with watch streams waits for the interpreter's
    # switch interval (5 ms) each time: fetching a 116-event record row by row took 51 ms under
    # load (15 ms as one row), listing 10,000 summaries 2.1 s (90 ms idle). So rows are
    # aggregated into one JSON value by SQLite, and the listing fetches only the rows whose
    # version changed since the previous listing.

    @staticmethod
    def _read_summaries(conn: sqlite3.Connection, known: dict[str, tuple[int, Summary, tuple[Any, ...]]],
                        last: str | None) -> tuple[str, list[Any], list[Any] | None] | None:
        """(every [id, version] as JSON and decoded, the summary rows of the records not in
        ``known`` at that version — None when there are none); None when the ids and versions
        are exactly those of ``last``."""
        (pairs_json,) = conn.execute("SELECT json_group_array(json_array(id, version)) FROM records").fetchone()
        if pairs_json == last:
            return None
        pairs = json.loads(pairs_json)
        changed = [rid for rid, version in pairs if (hit := known.get(rid)) is None or hit[0] != version]
        if not changed:
            return pairs_json, pairs, None
        if len(changed) == len(pairs):
            (rows_json,) = conn.execute(f"SELECT json_group_array(json_array({_SUMMARY_COLUMNS})) FROM records").fetchone()
        else:
            (rows_json,) = conn.execute(
                f"SELECT json_group_array(json_array({_SUMMARY_COLUMNS})) FROM records "
                "WHERE id IN (SELECT value FROM json_each(?))", (json.dumps(changed),)).fetchone()
        return pairs_json, pairs, json.loads(rows_json)

    async def list_summaries(self) -> tuple[list[Summary], list[LoadError]]:
        """Every record's summary (records.* columns; events are never read). A record whose
        version did not change since the previous listing keeps its Summary object: do not
        mutate the summaries."""
        old_cache = self._summary_cache
        last_json, last_out, last_errors = self._summary_last
        got = await self._call("list", self._read_summaries, old_cache, last_json)
        if got is None:  # not one record added, removed or changed since the previous listing
            return list(last_out), list(last_errors)
        pairs_json, pairs, rows = got
        errors: list[LoadError] = []
        cache: dict[str, tuple[int, Summary, tuple[Any, ...]]] = {}
        keyed: list[tuple[tuple[Any, ...], Summary]] = []
        fresh = {row[0]: row for row in rows or ()}
        for rid, version in pairs:
            row = fresh.get(rid)
            if row is None:
                hit = old_cache.get(rid)
                if hit is not None and hit[0] == version:
                    cache[rid] = hit
                    keyed.append((hit[2], hit[1]))
                continue  # (deleted between the two statements)
            rid, version, started = row[0], row[1], row[6]
            try:
                summary = _summary_of(row)
            except (ValueError, TypeError) as exc:
                errors.append(LoadError(f"{self.path}#{rid}", f"summary unreadable: {exc}"))
                continue
            # ORDER BY startedAt, id: NULL first, then text in code point order (SQLite's BINARY)
            key = (started is not None, started or "", rid)
            cache[rid] = (version, summary, key)
            keyed.append((key, summary))
        self._summary_cache = cache
        keyed.sort(key=itemgetter(0))
        out = [summary for _key, summary in keyed]
        self._summary_last = (pairs_json, out, errors)
        return list(out), list(errors)

    # --- the head of the fleet's order (a dashboard's first screen) ----------------------------------
    async def head_summaries(
        self, limit: int, ranks: Mapping[str, int | None], *, other_rank: int
    ) -> tuple[int, list[Summary]] | None:
        """See :meth:`RecordStore.head_summaries`. Read in one transaction (one snapshot): the
        statuses and their counts; (id, status, startedAt) of the records of only the lowest
        ranks that can fill ``limit``, ordered in Python with the fleet rows' own ``parse_time``
        (SQLite's date functions read fewer formats than ``datetime.fromisoformat`` and only
        milliseconds: an ORDER BY julianday could put other records first); the summary rows of
        the first ``limit`` of them (more if some are unreadable) and of every record of a status
        ranked None. 10,000 records: a few ms instead of the listing's ~100."""
        return await self._call("list", self._read_head, limit, dict(ranks), other_rank)

    @staticmethod
    def _read_head(conn: sqlite3.Connection, limit: int, ranks: dict[str, int | None],
                   other_rank: int) -> tuple[int, list[Summary]]:
        own = not conn.in_transaction
        if own:
            conn.execute("BEGIN")
        try:
            return SQLiteStore._head_in_snapshot(conn, limit, ranks, other_rank)
        finally:
            if own and conn.in_transaction:
                conn.execute("COMMIT")

    @staticmethod
    def _head_in_snapshot(conn: sqlite3.Connection, limit: int, ranks: dict[str, int | None],
                          other_rank: int) -> tuple[int, list[Summary]]:
        def summaries(column: str, values: list[str]) -> list[Summary]:
            (rows_json,) = conn.execute(
                f"SELECT json_group_array(json_array({_SUMMARY_COLUMNS})) FROM records "
                f"WHERE {column} IN (SELECT value FROM json_each(?))", (json.dumps(values),)).fetchone()
            out = []
            for row in json.loads(rows_json):
                try:
                    out.append(_summary_of(row))
                except (ValueError, TypeError):
                    pass  # list_summaries reports it as unreadable; the fleet shows no row for it
            return out

        (counts_json,) = conn.execute(
            "SELECT json_group_array(json_array(status, n)) FROM (SELECT status, count(*) AS n FROM records GROUP BY status)"
        ).fetchone()
        counts: list[tuple[str, int]] = [(s, n) for s, n in json.loads(counts_json)]
        total = sum(n for _s, n in counts)
        by_rank: dict[int, list[tuple[str, int]]] = {}
        undecided = []
        for status, n in counts:
            rank = ranks.get(status, other_rank)
            if rank is None:
                undecided.append(status)
            else:
                by_rank.setdefault(rank, []).append((status, n))
        out = summaries("status", undecided) if undecided else []
        pending = sorted(by_rank, reverse=True)  # pop() takes the lowest rank
        queue: list[str] = []  # ids in order, of the ranks taken so far; queue[at:] not fetched yet
        at = 0
        got = 0
        inf = float("inf")
        while got < limit:
            if at == len(queue):
                if not pending:
                    break
                # The next ranks, as many as can fill what is missing (counting unreadable records
                # too: when some are, the loop comes back for more).
                take: list[str] = []
                n_take = 0
                while pending and n_take < limit - got:
                    for status, n in by_rank[pending[-1]]:
                        take.append(status)
                        n_take += n
                    pending.pop()
                (keys_json,) = conn.execute(
                    "SELECT json_group_array(json_array(id, status, startedAt)) FROM records "
                    "WHERE status IN (SELECT value FROM json_each(?))", (json.dumps(take),)).fetchone()
                keyed = []
                for rid, status, started in json.loads(keys_json):
                    dt = parse_time(started)
                    keyed.append((ranks.get(status, other_rank), -dt.timestamp() if dt is not None else inf, rid))
                keyed.sort()
                queue = [k[2] for k in keyed]
                at = 0
                continue
            chunk = queue[at:at + limit - got]
            at += len(chunk)
            found = summaries("id", chunk)
            out.extend(found)
            got += len(found)
        return total, out

    @staticmethod
    def _read_record(conn: sqlite3.Connection, record_id: str) -> Any:
        # one statement: one consistent snapshot, one row
        return conn.execute(
            "SELECT r.version, r.body, r.events_null, CASE WHEN r.events_null THEN NULL ELSE "
            "(SELECT json_group_array(json_array(e.seq, e.json)) FROM events e WHERE e.record_id = r.id) END "
            "FROM records r WHERE r.id = ?", (record_id,)).fetchone()

    async def get(self, record_id: str) -> Versioned:
        check_id(record_id)
        row = await self._call(record_id, self._read_record, record_id)
        if row is None:
            raise RecordNotFound(f"{record_id}: no such record in {self.path}")
        version, body, events_null, events_json = row
        try:
            data = json.loads(body)
            if events_null:
                dicts = None
            else:
                pairs = json.loads(events_json) if events_json else []
                pairs.sort(key=lambda p: p[0])
                dicts = [json.loads(e) for _seq, e in pairs]
            data["events"] = dicts
            record = record_from_dict(data, source=record_id)
        except (ValueError, RecordDecodeError) as exc:
            raise UnreadableRecord(f"{record_id}: stored record unreadable: {exc}") from None
        if dicts is not None and record.events is not None and len(record.events) == len(dicts):
            last = dicts[-1].get("time") if dicts else None
            self._remember(record_id, _Known(
                int(version), [_event_fp(e) for e in record.events], states_from_events(dicts),
                last if isinstance(last, str) and last else None))
        else:
            self._forget(record_id)
        return Versioned(record, str(version))

    def _remember(self, record_id: str, known: _Known) -> None:
        old = self._known.pop(record_id, None)
        if old is not None:
            self._known_events -= len(old.fps)
        if len(known.fps) > KNOWN_EVENTS_MAX // 4:
            return  # a huge record: not worth the memory (its replace rewrites the events)
        self._known[record_id] = known
        self._known_events += len(known.fps)
        while self._known_events > KNOWN_EVENTS_MAX and self._known:
            _, evicted = self._known.popitem(last=False)
            self._known_events -= len(evicted.fps)

    def _forget(self, record_id: str) -> None:
        old = self._known.pop(record_id, None)
        if old is not None:
            self._known_events -= len(old.fps)

    async def change_token(self) -> str:
        def read(conn: sqlite3.Connection) -> Any:
            return conn.execute("PRAGMA data_version").fetchone()

        row = await self._call("change-token", read)
        return f"{row[0] if row else 0}.{self._own_commits}"

    # --- writes ----------------------------------------------------------------------------------
    def _encode(self, record: Record) -> tuple[dict[str, Any], list[str], bool]:
        data = record_to_dict(record)
        events = data.pop("events", None)
        events_null = events is None
        ev_list: list[Any] = list(events or [])
        if len(ev_list) > self.event_cap:
            ev_list = ev_list[-self.event_cap:]
        data_for_summary = dict(data)
        data_for_summary["events"] = None if events_null else ev_list
        return data_for_summary, [dumps_compact(e) for e in ev_list], events_null

    @staticmethod
    def _summary_params(data: dict[str, Any], events: tuple[int, dict[str, str], str | None] | None = None) -> dict[str, Any]:
        """The summary columns of a record dict. ``events`` = (count, states_from_events, last
        event time) when ``data`` carries no events (:meth:`replace` keeping the stored ones)."""
        f = summary_fields(data)
        if events is not None:
            count, ev_states, last_time = events
            f["events_count"] = count
            f["last_event_time"] = last_time
            if not states_frozen(data.get("result")):
                f["component_states"] = ev_states
        return {
            "status": f["status"],
            "fqdn": f["sovereignFQDN"],
            "org": f["orgName"],
            "region": f["region"],
            "startedAt": f["startedAt"],
            "finishedAt": f["finishedAt"],
            "error": f["error"],
            "kubeconfigPath": f["kubeconfigPath"],
            "phase1FinishedAt": f["phase1FinishedAt"],
            "phase1Outcome": f["phase1Outcome"],
            "phase1Substate": f["phase1Substate"],
            "handoverFiredAt": f["handoverFiredAt"],
            "handoverURL_set": int(f["handoverURL_set"]),
            "ownerEmail": f["ownerEmail"],
            "component_states": dumps_compact(f["component_states"]),
            "states_frozen": int(states_frozen(data.get("result"))),
            "events_count": f["events_count"],
            "last_event_time": f["last_event_time"],
        }

    @staticmethod
    def _insert_audit(conn: sqlite3.Connection, entry: AuditEntry | None) -> None:
        if entry is None:
            return
        conn.execute(
            "INSERT INTO audit (time, record_id, json) VALUES (?, ?, ?)",
            (entry.time, entry.record_id, dumps_compact(entry.to_json())),
        )

    @staticmethod
    def _write_events(conn: sqlite3.Connection, record_id: str, encoded: list[str], start: int) -> None:
        """Insert the events at ``start``, ``start + 1``… as ONE statement (see the reads)."""
        if not encoded:
            return
        conn.execute(
            "INSERT INTO events (record_id, seq, json) SELECT ?, ? + key, value FROM json_each(?)",
            (record_id, start, json.dumps(encoded, ensure_ascii=False)),
        )

    async def create(self, record: Record, *, audit: AuditEntry | None = None) -> str:
        record_id = check_id(record.id)
        if self.read_only:
            raise refuse_read_only(record_id, "create")
        data, encoded, events_null = self._encode(record)
        params = self._summary_params(data)
        body = dumps_compact({k: v for k, v in data.items() if k != "events"})

        def run(conn: sqlite3.Connection) -> str:
            row = conn.execute("SELECT version FROM records WHERE id = ?", (record_id,)).fetchone()
            if row is not None:
                raise Conflict(f"{record_id}: already exists (version {row[0]}); nothing written")
            cols = ["id", "version", "body", "events_null", *params]
            conn.execute(
                f"INSERT INTO records ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})",
                (record_id, 1, body, int(events_null), *params.values()),
            )
            self._write_events(conn, record_id, encoded, 1)
            self._insert_audit(conn, audit)
            return "1"

        return await self._transaction(record_id, run)

    @staticmethod
    def _parse_version(record_id: str, expected: str) -> int:
        try:
            return int(expected)
        except (TypeError, ValueError):
            raise Conflict(
                f"{record_id}: expected version {str(expected)[:20]!r} is not a version of this SQLite store; nothing written"
            ) from None

    def _check_version(self, conn: sqlite3.Connection, record_id: str, expected: int | None) -> int:
        row = conn.execute("SELECT version FROM records WHERE id = ?", (record_id,)).fetchone()
        if row is None:
            raise RecordNotFound(f"{record_id}: no such record in {self.path}; nothing written")
        if expected is not None and row[0] != expected:
            raise Conflict(f"{record_id}: changed underneath (version {row[0]}, expected {expected}); nothing written")
        return int(row[0])

    def _new_events(self, record: Record, expected: int) -> tuple[_Known, list[Event]] | None:
        """When the record's events are the ones stored at ``expected`` (as last read or written
        here) plus new ones at the end: (what is stored, the new events). None otherwise."""
        known = self._known.get(record.id)
        events = record.events
        if known is None or known.version != expected or events is None:
            return None
        n = len(known.fps)
        if len(events) < n or len(events) > self.event_cap:
            return None
        fps = known.fps
        for i in range(n):
            if _event_fp(events[i]) != fps[i]:
                return None
        return known, list(events[n:])

    async def replace(self, record: Record, expected_version: str, *, audit: AuditEntry | None = None) -> str:
        """Replace the record at ``expected_version``.

        The events are rewritten only when they changed: if they are the stored ones (compared
        by content with what this store last read or wrote at that version) followed by new
        ones, only the new rows are inserted, and nothing of the event table is touched when
        none were added. Anything else (events edited, removed, reordered, capped, another
        writer's rows) deletes and re-inserts them all, as before."""
        record_id = check_id(record.id)
        if self.read_only:
            raise refuse_read_only(record_id, "replace")
        expected = self._parse_version(record_id, expected_version)
        incremental = self._new_events(record, expected)
        after: _Known | None = None
        if incremental is not None:
            known, added = incremental
            head = record_to_dict(record.model_copy(update={"events": None}))
            head.pop("events", None)
            added_dicts = [event_to_dict(e) for e in added]
            added_encoded = [dumps_compact(e) for e in added_dicts]
            states = merge_event_states(known.states, added_dicts)
            last = added_dicts[-1].get("time") if added_dicts else known.last_time
            last = last if isinstance(last, str) and last else None
            n_known = len(known.fps)
            params = self._summary_params(head, (n_known + len(added), states, last))
            events_null = False
            body = dumps_compact(head)
            after = _Known(expected + 1, known.fps + [_event_fp(e) for e in added], states, last)
        else:
            data, encoded, events_null = self._encode(record)
            params = self._summary_params(data)
            body = dumps_compact({k: v for k, v in data.items() if k != "events"})
        sets = ", ".join(f"{k} = ?" for k in params)

        def rewrite_all(conn: sqlite3.Connection) -> None:
            data2, encoded2, null2 = self._encode(record)
            params2 = self._summary_params(data2)
            sets2 = ", ".join(f"{k} = ?" for k in params2)
            conn.execute(f"UPDATE records SET events_null = ?, {sets2} WHERE id = ?", (int(null2), *params2.values(), record_id))
            conn.execute("DELETE FROM events WHERE record_id = ?", (record_id,))
            self._write_events(conn, record_id, encoded2, 1)

        def run(conn: sqlite3.Connection) -> str:
            cur = conn.execute(
                f"UPDATE records SET version = version + 1, body = ?, events_null = ?, {sets} "
                "WHERE id = ? AND version = ?",
                (body, int(events_null), *params.values(), record_id, expected),
            )
            if cur.rowcount != 1:
                self._check_version(conn, record_id, expected)
                raise Conflict(f"{record_id}: changed underneath; nothing written")  # pragma: no cover
            if incremental is not None:
                count, top = conn.execute(
                    "SELECT count(*), max(seq) FROM events WHERE record_id = ?", (record_id,)).fetchone()
                if count == n_known:
                    self._write_events(conn, record_id, added_encoded, int(top or 0) + 1)
                else:
                    # The table does not hold what this store saw at that version (edited by
                    # hand?): write everything, like any other replace.
                    rewrite_all(conn)
            else:
                conn.execute("DELETE FROM events WHERE record_id = ?", (record_id,))
                self._write_events(conn, record_id, encoded, 1)
            self._insert_audit(conn, audit)
            return str(expected + 1)

        try:
            version = await self._transaction(record_id, run)
        except BaseException:
            self._forget(record_id)
            raise
        if after is not None and len(after.fps) == len(record.events or ()):
            self._remember(record_id, after)
        else:
            self._forget(record_id)
        return version

    def _encode_new_events(self, events: list[Event]) -> tuple[list[dict[str, Any]], list[str]]:
        """Events to append, as dicts and as their stored JSON (the newest ``event_cap`` only)."""
        new = [event_to_dict(e) for e in events]
        if len(new) > self.event_cap:
            new = new[-self.event_cap:]
        return new, [dumps_compact(e) for e in new]

    @classmethod
    def _append_rows(cls, conn: sqlite3.Connection, record_id: str, encoded: list[str], new: list[dict[str, Any]],
                     count: int, states: dict[str, str], *, states_from_events: bool, cap: int,
                     keep_states: bool = False) -> tuple[int, dict[str, str]]:
        """Insert the encoded events after the stored ones and drop the oldest beyond ``cap`` (in
        the caller's transaction). Returns (events stored now, component states): ``states`` as
        given with ``keep_states`` (frozen by the result); else what the events say: ``states``
        merged with the new ones when ``states_from_events`` (``states`` is what the stored events
        say), recomputed from the stored events otherwise or when a dropped event could matter."""
        mrow = conn.execute("SELECT max(seq) FROM events WHERE record_id = ?", (record_id,)).fetchone()
        top = int(mrow[0] or 0) if mrow else 0
        cls._write_events(conn, record_id, encoded, top + 1)
        new_top = top + len(encoded)
        total = count + len(encoded)
        recompute = not states_from_events
        if total > cap:
            cut = new_top - cap
            dropped = [r[0] for r in conn.execute(
                "SELECT json FROM events WHERE record_id = ? AND seq <= ?", (record_id, cut))]
            # Only a dropped *component* event can change what the survivors say.
            recompute = recompute or any('"phase":"component"' in d for d in dropped)
            conn.execute("DELETE FROM events WHERE record_id = ? AND seq <= ?", (record_id, cut))
            total = cap
        if keep_states:
            return total, states
        if recompute:
            survivors = [json.loads(r[0]) for r in conn.execute(
                "SELECT json FROM events WHERE record_id = ? AND json LIKE '%\"phase\":\"component\"%' ORDER BY seq",
                (record_id,))]
            return total, current_states(None, survivors)
        return total, merge_event_states(states, new)

    async def get_head(self, record_id: str) -> Versioned:
        """The record without its events (see the contract): one row, no event rows read."""
        check_id(record_id)

        def read(conn: sqlite3.Connection) -> Any:
            return conn.execute("SELECT version, body FROM records WHERE id = ?", (record_id,)).fetchone()

        row = await self._call(record_id, read)
        if row is None:
            raise RecordNotFound(f"{record_id}: no such record in {self.path}")
        version, body = row
        try:
            data = json.loads(body)
            data["events"] = None
            record = record_from_dict(data, source=record_id)
        except (ValueError, RecordDecodeError) as exc:
            raise UnreadableRecord(f"{record_id}: stored record unreadable: {exc}") from None
        return Versioned(record, str(version))

    async def replace_head(self, record: Record, expected_version: str, append: list[Event], *,
                           audit: AuditEntry | None = None) -> str:
        """One transaction: the record's fields but its events, and ``append`` after the stored
        events (the stored ones are neither read nor rewritten)."""
        record_id = check_id(record.id)
        if self.read_only:
            raise refuse_read_only(record_id, "replace")
        expected = self._parse_version(record_id, expected_version)
        head = record_to_dict(record.model_copy(update={"events": None}))
        head.pop("events", None)
        body = dumps_compact(head)
        new, encoded = self._encode_new_events(append)
        cap = self.event_cap

        def run(conn: sqlite3.Connection) -> str:
            row = conn.execute(
                "SELECT version, component_states, states_frozen, events_count, last_event_time, events_null "
                "FROM records WHERE id = ?", (record_id,)).fetchone()
            if row is None:
                raise RecordNotFound(f"{record_id}: no such record in {self.path}; nothing written")
            version, states_json, frozen, count, old_last, old_null = row
            if version != expected:
                raise Conflict(f"{record_id}: changed underneath (version {version}, expected {expected}); nothing written")
            total, ev_states = self._append_rows(conn, record_id, encoded, new, count, json.loads(states_json),
                                                 states_from_events=not frozen, cap=cap)
            last = new[-1].get("time") if new else old_last
            last = last if isinstance(last, str) and last else None
            params = self._summary_params(head, (total, ev_states, last))
            events_null = int(bool(old_null) and not new)
            sets = ", ".join(f"{k} = ?" for k in params)
            conn.execute(f"UPDATE records SET version = version + 1, body = ?, events_null = ?, {sets} WHERE id = ?",
                         (body, events_null, *params.values(), record_id))
            self._insert_audit(conn, audit)
            return str(version + 1)

        out = await self._transaction(record_id, run)
        self._forget(record_id)  # the events read by an earlier get are no longer all there is
        return out

    async def append_events(
        self,
        record_id: str,
        events: list[Event],
        *,
        expected_version: str | None = None,
        audit: AuditEntry | None = None,
    ) -> str:
        check_id(record_id)
        if self.read_only:
            raise refuse_read_only(record_id, "append events")
        expected = None if expected_version is None else self._parse_version(record_id, expected_version)
        new, encoded = self._encode_new_events(events)
        cap = self.event_cap

        def run(conn: sqlite3.Connection) -> str:
            row = conn.execute(
                "SELECT version, component_states, states_frozen, events_count FROM records WHERE id = ?",
                (record_id,),
            ).fetchone()
            if row is None:
                raise RecordNotFound(f"{record_id}: no such record in {self.path}; nothing written")
            version, states_json, frozen, count = row
            if expected is not None and version != expected:
                raise Conflict(f"{record_id}: changed underneath (version {version}, expected {expected}); nothing written")
            total, states = self._append_rows(conn, record_id, encoded, new, count, json.loads(states_json),
                                              states_from_events=True, cap=cap, keep_states=bool(frozen))
            last = new[-1].get("time") if new else None
            sets = "version = version + 1, events_count = ?, component_states = ?"
            args: list[Any] = [total, dumps_compact(states)]
            if new:
                sets += ", events_null = 0, last_event_time = ?"
                args.append(last or None)
            conn.execute(f"UPDATE records SET {sets} WHERE id = ?", (*args, record_id))
            self._insert_audit(conn, audit)
            return str(version + 1)

        return await self._transaction(record_id, run)

    # --- audit -----------------------------------------------------------------------------------
    async def audit_append(self, entry: AuditEntry) -> None:
        if self.read_only:
            raise refuse_read_only(entry.record_id or "audit", "audit append")
        await self._transaction(entry.record_id or "audit", self._insert_audit, entry)

    async def audit_list(self, record_id: str | None = None) -> list[AuditEntry]:
        if record_id is None:
            q, args = "SELECT json FROM audit ORDER BY n", ()
        else:
            q, args = "SELECT json FROM audit WHERE record_id = ? ORDER BY n", (record_id,)

        def read(conn: sqlite3.Connection) -> list[Any]:
            return conn.execute(q, args).fetchall()

        rows = await self._call(record_id or "audit", read)
        out = []
        for (text,) in rows:
            try:
                data = json.loads(text)
            except ValueError:
                continue
            if isinstance(data, dict):
                out.append(AuditEntry.from_json(data))
        return out

    # --- leases ----------------------------------------------------------------------------------
    async def acquire_lease(self, record_id: str, holder: str, ttl_seconds: float, *, now: datetime | None = None) -> Lease:
        check_id(record_id)
        if self.read_only:
            raise refuse_read_only(record_id, "lease")
        at = now or datetime.now(timezone.utc)
        if at.tzinfo is None:
            at = at.replace(tzinfo=timezone.utc)
        expires = at + timedelta(seconds=ttl_seconds)

        def run(conn: sqlite3.Connection) -> Lease:
            row = conn.execute(
                "SELECT holder, heartbeat, expires FROM leases WHERE record_id = ?", (record_id,)).fetchone()
            if row is not None:
                cur_holder, hb, exp = row[0], _from_iso(row[1]), _from_iso(row[2])
                if cur_holder != holder and exp > at:
                    return Lease(record_id, cur_holder, hb, exp)
            conn.execute(
                "INSERT INTO leases (record_id, holder, heartbeat, expires) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (record_id) DO UPDATE SET holder = excluded.holder, "
                "heartbeat = excluded.heartbeat, expires = excluded.expires",
                (record_id, holder, _iso(at), _iso(expires)),
            )
            return Lease(record_id, holder, at, expires)

        return await self._transaction(record_id, run)

    async def release_lease(self, record_id: str, holder: str) -> None:
        check_id(record_id)
        if self.read_only:
            raise refuse_read_only(record_id, "lease release")

        def run(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM leases WHERE record_id = ? AND holder = ?", (record_id, holder))

        await self._transaction(record_id, run)

    async def leases(self) -> dict[str, Lease]:
        def read(conn: sqlite3.Connection) -> list[Any]:
            return conn.execute("SELECT record_id, holder, heartbeat, expires FROM leases").fetchall()

        rows = await self._call("leases", read)
        return {r[0]: Lease(r[0], r[1], _from_iso(r[2]), _from_iso(r[3])) for r in rows}
