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
import os
import sqlite3
import stat
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import aiosqlite

from ..domain.components import current_states
from ..domain.record import EVENT_BUFFER_CAP, Event, Record, RecordDecodeError, record_from_dict, record_to_dict
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

SCHEMA_VERSION = 1
#: ``PRAGMA application_id`` of a catalyst-tui store ("CTUI").
APPLICATION_ID = 0x43545549
SQLITE_HEADER = b"SQLite format 3\x00"

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
        self._lock = asyncio.Lock()
        self._own_commits = 0

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
            db = await aiosqlite.connect(target, isolation_level=None, timeout=self.busy_timeout)
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"{self.path}: cannot open store: {exc}") from None
        try:
            await db.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            if await self._prepare(db, in_memory=target == ":memory:"):
                await db.close()
                db = await aiosqlite.connect(":memory:", isolation_level=None)
                await self._prepare(db, in_memory=True)
        except StoreError:
            await db.close()
            raise
        except sqlite3.DatabaseError as exc:
            await db.close()
            msg = str(exc)
            if "not a database" in msg or "malformed" in msg:
                raise StoreUnavailable(f"{self.path}: not a catalyst-tui SQLite store ({msg})") from None
            raise StoreUnavailable(f"{self.path}: {self._describe(exc)}") from None
        except BaseException:
            await db.close()
            raise
        self._db = db

    async def _prepare(self, db: aiosqlite.Connection, *, in_memory: bool) -> bool:
        """Check or create the schema; True when the caller must fall back to an empty memory store."""
        async with db.execute("SELECT name FROM sqlite_master WHERE type='table'") as cur:
            tables = {row[0] for row in await cur.fetchall()}
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
        await db.execute("PRAGMA synchronous = FULL")
        return False

    async def close(self) -> None:
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

    # --- reads -----------------------------------------------------------------------------------
    async def list_summaries(self) -> tuple[list[Summary], list[LoadError]]:
        db = self._conn()
        async with self._lock:
            try:
                async with db.execute(f"SELECT {_SUMMARY_COLUMNS} FROM records ORDER BY startedAt, id") as cur:
                    rows = await cur.fetchall()
            except sqlite3.Error as exc:
                raise self._wrap("list", exc) from None
        out: list[Summary] = []
        errors: list[LoadError] = []
        for row in rows:
            (rid, version, status, fqdn, org, region, started, finished, error, kc, p1f, p1o, p1s, hf, hu, owner,
             states, count, last) = row
            try:
                comp = json.loads(states)
                if not isinstance(comp, dict):
                    raise ValueError("component_states is not an object")
            except ValueError as exc:
                errors.append(LoadError(f"{self.path}#{rid}", f"summary unreadable: {exc}"))
                continue
            out.append(
                Summary(
                    id=rid, status=status, version=str(version), sovereignFQDN=fqdn, orgName=org, region=region,
                    startedAt=started, finishedAt=finished, error=error, component_states=comp,
                    kubeconfigPath=kc, phase1FinishedAt=p1f, phase1Outcome=p1o, phase1Substate=p1s,
                    handoverFiredAt=hf, handoverURL_set=bool(hu), ownerEmail=owner, events_count=count,
                    last_event_time=last,
                )
            )
        return out, errors

    async def get(self, record_id: str) -> Versioned:
        check_id(record_id)
        db = self._conn()
        async with self._lock:
            try:
                await db.execute("BEGIN")
                try:
                    async with db.execute(
                        "SELECT version, body, events_null FROM records WHERE id = ?", (record_id,)
                    ) as cur:
                        row = await cur.fetchone()
                    events: list[Any] = []
                    if row is not None and not row[2]:
                        async with db.execute(
                            "SELECT json FROM events WHERE record_id = ? ORDER BY seq", (record_id,)
                        ) as cur:
                            events = [r[0] for r in await cur.fetchall()]
                finally:
                    await db.execute("COMMIT")
            except sqlite3.Error as exc:
                raise self._wrap(record_id, exc) from None
        if row is None:
            raise RecordNotFound(f"{record_id}: no such record in {self.path}")
        version, body, events_null = row
        try:
            data = json.loads(body)
            data["events"] = None if events_null else [json.loads(e) for e in events]
            record = record_from_dict(data, source=record_id)
        except (ValueError, RecordDecodeError) as exc:
            raise UnreadableRecord(f"{record_id}: stored record unreadable: {exc}") from None
        return Versioned(record, str(version))

    async def change_token(self) -> str:
        db = self._conn()
        async with self._lock:
            try:
                async with db.execute("PRAGMA data_version") as cur:
                    row = await cur.fetchone()
            except sqlite3.Error as exc:
                raise self._wrap("change-token", exc) from None
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
    def _summary_params(data: dict[str, Any]) -> dict[str, Any]:
        f = summary_fields(data)
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

    async def _begin(self, db: aiosqlite.Connection, record_id: str) -> None:
        try:
            await db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise self._wrap(record_id, exc) from None

    async def _finish(self, db: aiosqlite.Connection, record_id: str, ok: bool) -> None:
        if ok:
            try:
                await db.execute("COMMIT")
            except sqlite3.Error as exc:
                try:
                    await db.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
                raise self._wrap(record_id, exc) from None
            self._own_commits += 1
        else:
            try:
                await db.execute("ROLLBACK")
            except sqlite3.Error:
                pass

    async def _transaction(self, record_id: str, body) -> Any:  # type: ignore[no-untyped-def]
        """Run ``body(db)`` inside one BEGIN IMMEDIATE … COMMIT (ROLLBACK on any error)."""
        db = self._conn()
        async with self._lock:
            await self._begin(db, record_id)
            ok = False
            try:
                result = await body(db)
                ok = True
            except sqlite3.Error as exc:
                await self._finish(db, record_id, False)
                raise self._wrap(record_id, exc) from None
            except BaseException:
                await self._finish(db, record_id, False)
                raise
            await self._finish(db, record_id, ok)
            return result

    async def _insert_audit(self, db: aiosqlite.Connection, entry: AuditEntry | None) -> None:
        if entry is None:
            return
        await db.execute(
            "INSERT INTO audit (time, record_id, json) VALUES (?, ?, ?)",
            (entry.time, entry.record_id, dumps_compact(entry.to_json())),
        )

    async def _write_events(self, db: aiosqlite.Connection, record_id: str, encoded: list[str], start: int) -> None:
        await db.executemany(
            "INSERT INTO events (record_id, seq, json) VALUES (?, ?, ?)",
            ((record_id, start + i, e) for i, e in enumerate(encoded)),
        )

    async def create(self, record: Record, *, audit: AuditEntry | None = None) -> str:
        record_id = check_id(record.id)
        if self.read_only:
            raise refuse_read_only(record_id, "create")
        data, encoded, events_null = self._encode(record)
        params = self._summary_params(data)
        body = dumps_compact({k: v for k, v in data.items() if k != "events"})

        async def run(db: aiosqlite.Connection) -> str:
            async with db.execute("SELECT version FROM records WHERE id = ?", (record_id,)) as cur:
                row = await cur.fetchone()
            if row is not None:
                raise Conflict(f"{record_id}: already exists (version {row[0]}); nothing written")
            cols = ["id", "version", "body", "events_null", *params]
            await db.execute(
                f"INSERT INTO records ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})",
                (record_id, 1, body, int(events_null), *params.values()),
            )
            await self._write_events(db, record_id, encoded, 1)
            await self._insert_audit(db, audit)
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

    async def _check_version(self, db: aiosqlite.Connection, record_id: str, expected: int | None) -> int:
        async with db.execute("SELECT version FROM records WHERE id = ?", (record_id,)) as cur:
            row = await cur.fetchone()
        if row is None:
            raise RecordNotFound(f"{record_id}: no such record in {self.path}; nothing written")
        if expected is not None and row[0] != expected:
            raise Conflict(f"{record_id}: changed underneath (version {row[0]}, expected {expected}); nothing written")
        return int(row[0])

    async def replace(self, record: Record, expected_version: str, *, audit: AuditEntry | None = None) -> str:
        record_id = check_id(record.id)
        if self.read_only:
            raise refuse_read_only(record_id, "replace")
        expected = self._parse_version(record_id, expected_version)
        data, encoded, events_null = self._encode(record)
        params = self._summary_params(data)
        body = dumps_compact({k: v for k, v in data.items() if k != "events"})

        async def run(db: aiosqlite.Connection) -> str:
            sets = ", ".join(f"{k} = ?" for k in params)
            cur = await db.execute(
                f"UPDATE records SET version = version + 1, body = ?, events_null = ?, {sets} "
                "WHERE id = ? AND version = ?",
                (body, int(events_null), *params.values(), record_id, expected),
            )
            if cur.rowcount != 1:
                await self._check_version(db, record_id, expected)
                raise Conflict(f"{record_id}: changed underneath; nothing written")  # pragma: no cover
            await db.execute("DELETE FROM events WHERE record_id = ?", (record_id,))
            await self._write_events(db, record_id, encoded, 1)
            await self._insert_audit(db, audit)
            return str(expected + 1)

        return await self._transaction(record_id, run)

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
        new = [event_to_dict(e) for e in events]
        if len(new) > self.event_cap:
            new = new[-self.event_cap:]
        encoded = [dumps_compact(e) for e in new]

        async def run(db: aiosqlite.Connection) -> str:
            async with db.execute(
                "SELECT version, component_states, states_frozen, events_count FROM records WHERE id = ?",
                (record_id,),
            ) as cur:
                row = await cur.fetchone()
            if row is None:
                raise RecordNotFound(f"{record_id}: no such record in {self.path}; nothing written")
            version, states_json, frozen, count = row
            if expected is not None and version != expected:
                raise Conflict(f"{record_id}: changed underneath (version {version}, expected {expected}); nothing written")
            async with db.execute("SELECT max(seq) FROM events WHERE record_id = ?", (record_id,)) as cur:
                mrow = await cur.fetchone()
            top = int(mrow[0] or 0) if mrow else 0
            await self._write_events(db, record_id, encoded, top + 1)
            new_top = top + len(encoded)
            total = count + len(encoded)
            recompute = False
            if total > self.event_cap:
                cut = new_top - self.event_cap
                async with db.execute(
                    "SELECT json FROM events WHERE record_id = ? AND seq <= ?", (record_id, cut)
                ) as cur:
                    dropped = [r[0] for r in await cur.fetchall()]
                # Only a dropped *component* event can change what the survivors say.
                recompute = any('"phase":"component"' in d for d in dropped)
                await db.execute("DELETE FROM events WHERE record_id = ? AND seq <= ?", (record_id, cut))
                total = self.event_cap
            states = json.loads(states_json)
            if not frozen:
                if recompute:
                    async with db.execute(
                        "SELECT json FROM events WHERE record_id = ? AND json LIKE '%\"phase\":\"component\"%' ORDER BY seq",
                        (record_id,),
                    ) as cur:
                        survivors = [json.loads(r[0]) for r in await cur.fetchall()]
                    states = current_states(None, survivors)
                else:
                    states = merge_event_states(states, new)
            last = new[-1].get("time") if new else None
            sets = "version = version + 1, events_count = ?, component_states = ?"
            args: list[Any] = [total, dumps_compact(states)]
            if new:
                sets += ", events_null = 0, last_event_time = ?"
                args.append(last or None)
            await db.execute(f"UPDATE records SET {sets} WHERE id = ?", (*args, record_id))
            await self._insert_audit(db, audit)
            return str(version + 1)

        return await self._transaction(record_id, run)

    # --- audit -----------------------------------------------------------------------------------
    async def audit_append(self, entry: AuditEntry) -> None:
        if self.read_only:
            raise refuse_read_only(entry.record_id or "audit", "audit append")

        async def run(db: aiosqlite.Connection) -> None:
            await self._insert_audit(db, entry)

        await self._transaction(entry.record_id or "audit", run)

    async def audit_list(self, record_id: str | None = None) -> list[AuditEntry]:
        db = self._conn()
        async with self._lock:
            try:
                if record_id is None:
                    q, args = "SELECT json FROM audit ORDER BY n", ()
                else:
                    q, args = "SELECT json FROM audit WHERE record_id = ? ORDER BY n", (record_id,)
                async with db.execute(q, args) as cur:
                    rows = await cur.fetchall()
            except sqlite3.Error as exc:
                raise self._wrap(record_id or "audit", exc) from None
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

        async def run(db: aiosqlite.Connection) -> Lease:
            async with db.execute(
                "SELECT holder, heartbeat, expires FROM leases WHERE record_id = ?", (record_id,)
            ) as cur:
                row = await cur.fetchone()
            if row is not None:
                cur_holder, hb, exp = row[0], _from_iso(row[1]), _from_iso(row[2])
                if cur_holder != holder and exp > at:
                    return Lease(record_id, cur_holder, hb, exp)
            await db.execute(
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

        async def run(db: aiosqlite.Connection) -> None:
            await db.execute("DELETE FROM leases WHERE record_id = ? AND holder = ?", (record_id, holder))

        await self._transaction(record_id, run)

    async def leases(self) -> dict[str, Lease]:
        db = self._conn()
        async with self._lock:
            try:
                async with db.execute("SELECT record_id, holder, heartbeat, expires FROM leases") as cur:
                    rows = await cur.fetchall()
            except sqlite3.Error as exc:
                raise self._wrap("leases", exc) from None
        return {r[0]: Lease(r[0], r[1], _from_iso(r[2]), _from_iso(r[3])) for r in rows}
