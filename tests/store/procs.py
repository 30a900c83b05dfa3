"""Code that runs in *other OS processes* during the store tests (multiprocessing spawn / scripts)."""

from __future__ import annotations

import asyncio
import os

from catalyst_tui.store import AuditEntry, Conflict
from catalyst_tui.store.urls import open_store


def race_worker(url: str, record_id: str, rounds: int, barrier, queue) -> None:
    """Each round: read, wait until the rival has read too, then write from that same read."""

    async def main() -> None:
        async with open_store(url) as store:
            for r in range(rounds):
                current = await store.get(record_id)
                rec = current.record
                rec.status = "failed"
                rec.error = f"pid {os.getpid()} round {r}"
                entry = AuditEntry("2026-05-04T12:00:00Z", f"pid {os.getpid()}", "patch-status", record_id,
                                   "phase1-watching", "failed", f"round {r}")
                barrier.wait(30)
                try:
                    await store.replace(rec, current.version, audit=entry)
                    queue.put((r, os.getpid(), "won", ""))
                except Conflict as exc:
                    queue.put((r, os.getpid(), "conflict", str(exc)))
                except Exception as exc:  # reported, never hidden
                    queue.put((r, os.getpid(), "error", f"{type(exc).__name__}: {exc}"))
                barrier.wait(30)

    asyncio.run(main())


SQLITE_LOCKER = r"""
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")
db.execute("UPDATE records SET error = 'uncommitted' ")
print("locked", flush=True)
sys.stdin.read()          # hold the write transaction until the parent closes our stdin
db.execute("ROLLBACK")
db.close()
"""

FLOCK_LOCKER = r"""
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
sys.stdin.read()
os.close(fd)
"""

READ_ONLY_CHILD = r"""
import asyncio, json, sys
from catalyst_tui.store import StoreError
from catalyst_tui.store.catalyst_dir import CatalystDirStore
from catalyst_tui.store import AuditEntry
from catalyst_tui.domain.record import Event

async def main(d, rid):
    out = {}
    async with CatalystDirStore(d) as s:
        out["writable"] = s.writable
        summaries, errors = await s.list_summaries()
        out["listed"] = [x.id for x in summaries]
        cur = await s.get(rid)
        rec = cur.record
        rec.status = "failed"
        attempts = {
            "replace": lambda: s.replace(rec, cur.version),
            "append": lambda: s.append_events(rid, [Event.model_validate({"time": "2026-05-04T10:00:00Z", "phase": "operator", "message": "x"})]),
            "create": lambda: s.create(rec.model_copy(update={"id": "bbbbbbbbbbbbbbbb"})),
            "audit": lambda: s.audit_append(AuditEntry("t", "op", "annotate", rid, None, None, "r")),
        }
        for name, fn in attempts.items():
            try:
                await fn()
                out[name] = "WROTE"
            except StoreError as exc:
                out[name] = f"{type(exc).__name__}: {exc}"
    print(json.dumps(out))

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""
