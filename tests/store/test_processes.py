"""Real OS processes race on the same record: exactly one write wins, the other gets Conflict."""

from __future__ import annotations

import multiprocessing as mp
import sqlite3

import pytest

from catalyst_tui.store.urls import open_store

from . import procs
from .conftest import make_record

RID = "3f9c2a7e1b8d4c60"
ROUNDS = 5


@pytest.mark.parametrize("kind", ["sqlite", "catalyst-dir"])
async def test_two_processes_same_read_exactly_one_wins(tmp_path, kind):
    url = f"sqlite://{tmp_path / 'c.db'}" if kind == "sqlite" else f"catalyst-dir://{tmp_path / 'deployments'}"
    async with open_store(url) as s:
        await s.create(make_record())
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(2)
    queue = ctx.Queue()
    workers = [ctx.Process(target=procs.race_worker, args=(url, RID, ROUNDS, barrier, queue)) for _ in range(2)]
    for w in workers:
        w.start()
    try:
        results = [queue.get(timeout=60) for _ in range(2 * ROUNDS)]
    finally:
        for w in workers:
            w.join(30)
        queue.close()
        queue.join_thread()
    assert all(w.exitcode == 0 for w in workers)
    winners = {}
    for r in range(ROUNDS):
        outcomes = sorted(o for rr, _, o, _ in results if rr == r)
        assert outcomes == ["conflict", "won"], (r, results)
        winners[r] = next(pid for rr, pid, o, _ in results if rr == r and o == "won")
    for _, _, o, msg in results:
        if o == "conflict":
            assert msg.startswith(f"{RID}: changed underneath (version ") and msg.endswith("nothing written"), msg
    async with open_store(url) as s:
        final = (await s.get(RID)).record
        assert final.error == f"pid {winners[ROUNDS - 1]} round {ROUNDS - 1}"
        trail = await s.audit_list(RID)
        # the audit trail holds exactly the winning writes, in order: no lost or phantom update
        assert [(e.operator, e.reason) for e in trail] == [(f"pid {winners[r]}", f"round {r}") for r in range(ROUNDS)]
    if kind == "sqlite":
        db = sqlite3.connect(tmp_path / "c.db")
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        db.close()
