"""The ``records_by_status`` index behind the dashboard's first screenful: in new stores, added to
an existing store when it is opened writable, and not needed for a right answer (read-only)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from catalyst_tui.service.fleet import HEAD_OTHER_RANK, HEAD_RANKS
from catalyst_tui.store.sqlite import SQLiteStore

from .conftest import make_record


def indexes(path: Path) -> set[str]:
    with sqlite3.connect(path) as c:
        return {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type='index' AND name NOT LIKE 'sqlite_%'")}


def plan(path: Path) -> str:
    with sqlite3.connect(path) as c:
        return " ".join(r[3] for r in c.execute("EXPLAIN QUERY PLAN SELECT status, count(*) FROM records GROUP BY status"))


async def test_new_stores_have_it_and_older_ones_get_it_when_opened_writable(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    async with SQLiteStore(db) as store:
        for i, status in enumerate(["failed", "ready", "phase1-watching", "ready", "pending"]):
            await store.create(make_record(f"{i:016x}", status=status))
    assert "records_by_status" in indexes(db)
    assert "COVERING INDEX records_by_status" in plan(db)

    with sqlite3.connect(db) as c:  # a store made before the index existed
        c.execute("DROP INDEX records_by_status")
    async with SQLiteStore(db, read_only=True) as ro:  # read-only: nothing written, same answer
        total, head = await ro.head_summaries(3, HEAD_RANKS, other_rank=HEAD_OTHER_RANK)
    assert "records_by_status" not in indexes(db)
    assert total == 5 and "failed" in {s.status for s in head}
    async with SQLiteStore(db) as store:
        total2, head2 = await store.head_summaries(3, HEAD_RANKS, other_rank=HEAD_OTHER_RANK)
        assert (await store.get("0000000000000000")).record.status == "failed"
    assert "records_by_status" in indexes(db)
    assert (total2, sorted(s.id for s in head2)) == (total, sorted(s.id for s in head))
