"""SQLite write path (perf, issue 5): replace keeps unchanged event rows, concurrent writes share a
commit, reads run on a connection of their own. Real SQLite files; a trigger in the database
counts what really happens to the events table."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time

import pytest

from catalyst_tui.domain.record import Event
from catalyst_tui.store import Conflict, StoreUnavailable
from catalyst_tui.store.sqlite import SQLiteStore

from .conftest import ev, make_record

RID = "3f9c2a7e1b8d4c60"


def add_event_log(path) -> None:
    """A table + triggers recording every insert/delete on ``events`` (written by the store's own
    transactions, so they tell exactly which rows a replace touched)."""
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE ev_log (op TEXT NOT NULL, seq INTEGER NOT NULL);
        CREATE TRIGGER ev_ins AFTER INSERT ON events BEGIN INSERT INTO ev_log VALUES ('insert', NEW.seq); END;
        CREATE TRIGGER ev_del AFTER DELETE ON events BEGIN INSERT INTO ev_log VALUES ('delete', OLD.seq); END;
    """)
    db.close()


def take_log(path) -> list[tuple[str, int]]:
    db = sqlite3.connect(path)
    try:
        rows = db.execute("SELECT op, seq FROM ev_log ORDER BY rowid").fetchall()
        db.execute("DELETE FROM ev_log")
        db.commit()
    finally:
        db.close()
    return rows


def messages(rec) -> list[str]:
    return [e.message for e in rec.event_list()]


@pytest.fixture
async def db(tmp_path):
    path = tmp_path / "c.db"
    async with SQLiteStore(path, event_cap=20) as s:
        await s.create(make_record())  # 3 events
    add_event_log(path)
    async with SQLiteStore(path, event_cap=20) as s:
        yield s, path


async def test_replace_with_the_same_events_touches_no_event_row(db) -> None:
    s, path = db
    got = await s.get(RID)
    got.record.status = "failed"
    v = await s.replace(got.record, got.version)
    assert take_log(path) == []
    after = await s.get(RID)
    assert after.version == v and after.record.status == "failed"
    assert messages(after.record) == messages(got.record)
    (summary,), _ = await s.list_summaries()
    assert summary.status == "failed" and summary.events_count == 3
    # a copy (as RecordStore.update makes) compares by content: still nothing rewritten
    again = await s.update(RID, lambda r: setattr(r, "error", "boom"))
    assert take_log(path) == [] and (await s.get(RID)).record.error == "boom" and again.version == str(int(v) + 1)


async def test_replace_with_appended_events_inserts_only_those(db) -> None:
    s, path = db
    got = await s.get(RID)
    got.record.append_events([ev(i, phase="component", component="cilium", state="installing") for i in range(4)])
    got.record.status = "ready"
    await s.replace(got.record, got.version)
    assert take_log(path) == [("insert", 4), ("insert", 5), ("insert", 6), ("insert", 7)]
    after = (await s.get(RID)).record
    assert messages(after) == messages(got.record) and len(after.event_list()) == 7
    (summary,), _ = await s.list_summaries()
    assert summary.events_count == 7 and summary.last_event_time == after.event_list()[-1].time
    assert summary.component_states["cilium"] == "installing"
    # then an append, then a replace of what get() returned: still only the new rows
    await s.append_events(RID, [ev(50, phase="component", component="cilium", state="installed")])
    take_log(path)
    cur = await s.get(RID)
    cur.record.append_events([ev(51)])
    await s.replace(cur.record, cur.version)
    assert take_log(path) == [("insert", 9)]
    final = (await s.get(RID)).record
    assert messages(final)[-2:] == ["line 50", "line 51"] and len(final.event_list()) == 9


async def test_replace_past_the_cap_rewrites_and_keeps_the_newest(db) -> None:
    s, path = db
    got = await s.get(RID)
    got.record.append_events([ev(i) for i in range(30)], cap=1000)  # 33 events: over the store's cap (20)
    await s.replace(got.record, got.version)
    log = take_log(path)
    assert ("delete", 1) in log and len([op for op, _ in log if op == "insert"]) == 20
    after = (await s.get(RID)).record
    assert messages(after) == messages(got.record)[-20:]
    # an append at the cap drops the oldest, and a replace afterwards sees exactly those rows
    await s.append_events(RID, [ev(100), ev(101)])
    cur = await s.get(RID)
    assert messages(cur.record) == (messages(got.record)[-20:] + ["line 100", "line 101"])[-20:]
    take_log(path)
    cur.record.status = "failed"
    await s.replace(cur.record, cur.version)
    assert take_log(path) == []
    assert messages((await s.get(RID)).record) == messages(cur.record)


async def test_an_event_changed_in_place_is_written(db) -> None:
    s, path = db
    got = await s.get(RID)
    got.record.events[1].message = "edited"  # type: ignore[index]
    await s.replace(got.record, got.version)
    assert take_log(path)  # rewritten
    assert messages((await s.get(RID)).record)[1] == "edited"
    got = await s.get(RID)
    got.record.events[0].dependsOn = ["x"]  # type: ignore[index]
    await s.replace(got.record, got.version)
    assert (await s.get(RID)).record.events[0].dependsOn == ["x"]  # type: ignore[index]


async def test_event_rows_changed_behind_the_store_are_rewritten(db) -> None:
    s, path = db
    got = await s.get(RID)
    raw = sqlite3.connect(path)
    raw.execute("DELETE FROM events WHERE record_id = ? AND seq = 2", (RID,))  # version not bumped
    raw.commit()
    raw.close()
    take_log(path)
    got.record.status = "failed"
    await s.replace(got.record, got.version)
    assert messages((await s.get(RID)).record) == messages(got.record)  # all three again


async def test_a_conflicting_replace_writes_nothing_and_the_next_one_works(db) -> None:
    s, path = db
    got = await s.get(RID)
    other = await s.get(RID)
    other.record.append_events([ev(7)])
    await s.replace(other.record, other.version)
    take_log(path)
    got.record.append_events([ev(8)])
    with pytest.raises(Conflict):
        await s.replace(got.record, got.version)
    assert take_log(path) == []
    fresh = await s.get(RID)
    fresh.record.append_events([ev(9)])
    await s.replace(fresh.record, fresh.version)
    assert messages((await s.get(RID)).record)[-2:] == ["line 7", "line 9"]


async def test_concurrent_writes_share_commits_and_each_keeps_its_own_outcome(tmp_path) -> None:
    path = tmp_path / "c.db"
    async with SQLiteStore(path) as s:
        ids = [f"r{i:03d}" for i in range(40)]
        for rid in ids:
            await s.create(make_record(rid))
        stale = await s.get(ids[0])
        fresh = await s.get(ids[0])
        fresh.record.status = "failed"
        await s.replace(fresh.record, fresh.version)
        commits = s._own_commits

        async def append(rid: str) -> str:
            return await s.append_events(rid, [ev(1), ev(2)])

        stale.record.status = "ready"
        results = await asyncio.gather(*(append(rid) for rid in ids), s.replace(stale.record, stale.version),
                                       return_exceptions=True)
        assert all(isinstance(v, str) for v in results[:-1]), results
        assert isinstance(results[-1], Conflict)
        assert s._own_commits - commits <= 2  # 41 writes, one or two commits
    async with SQLiteStore(path) as s:  # durable, each one
        for rid in ids:
            assert messages((await s.get(rid)).record)[-2:] == ["line 1", "line 2"]
        assert (await s.get(ids[0])).record.status == "failed"


async def test_a_write_waits_for_another_process_lock_without_blocking_the_loop(tmp_path) -> None:
    path = tmp_path / "c.db"
    async with SQLiteStore(path, busy_timeout=5) as s:
        await s.create(make_record())
        locker = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        locker.execute("BEGIN IMMEDIATE")
        release = threading.Timer(0.4, lambda: locker.execute("COMMIT"))
        release.start()
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        t = asyncio.create_task(ticker())
        try:
            started = time.monotonic()
            await s.append_events(RID, [ev(1)])
            waited = time.monotonic() - started
        finally:
            t.cancel()
            await asyncio.gather(t, return_exceptions=True)
            release.join()
            locker.close()
        assert waited >= 0.3  # it did wait for the lock…
        assert ticks >= 10  # …without holding up the event loop
        assert messages((await s.get(RID)).record)[-1] == "line 1"


async def test_reads_see_other_processes_and_unchanged_summaries_are_reused(tmp_path) -> None:
    path = tmp_path / "c.db"
    async with SQLiteStore(path) as a, SQLiteStore(path) as b:
        await a.create(make_record("x1"))
        await a.create(make_record("x2"))
        first, _ = await b.list_summaries()
        again, _ = await b.list_summaries()
        assert [s.id for s in first] == ["x1", "x2"] == [s.id for s in again]
        assert all(p is q for p, q in zip(first, again))  # nothing changed: nothing rebuilt
        got = await a.get("x2")
        got.record.status = "failed"
        await a.replace(got.record, got.version)
        third, _ = await b.list_summaries()
        assert third[0] is first[0] and third[1].status == "failed"
        assert (await b.get("x2")).record.status == "failed"
        token = await b.change_token()
        await a.append_events("x1", [Event.model_validate({"time": "2026-05-04T10:00:00Z", "phase": "p", "message": "m"})])
        assert await b.change_token() != token


async def test_a_write_error_in_a_group_fails_only_that_write(tmp_path) -> None:
    path = tmp_path / "c.db"
    async with SQLiteStore(path) as s:
        await s.create(make_record("ok1"))
        await s.create(make_record("ok2"))
        bad = make_record("ok1")
        results = await asyncio.gather(s.append_events("ok1", [ev(1)]), s.create(bad), s.append_events("ok2", [ev(2)]),
                                       s.append_events("missing", [ev(3)]), return_exceptions=True)
        assert isinstance(results[0], str) and isinstance(results[2], str)
        assert isinstance(results[1], Conflict) and "already exists" in str(results[1])
        assert "no such record" in str(results[3])
        assert messages((await s.get("ok1")).record)[-1] == "line 1"
        assert messages((await s.get("ok2")).record)[-1] == "line 2"


async def test_writes_after_close_are_refused(tmp_path) -> None:
    s = SQLiteStore(tmp_path / "c.db")
    await s.open()
    await s.create(make_record())
    await s.close()
    with pytest.raises(StoreUnavailable):
        await s.append_events(RID, [ev(1)])
