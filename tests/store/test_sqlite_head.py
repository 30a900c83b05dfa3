"""SQLiteStore.head_summaries: the records a dashboard needs for its first screen, without listing
the store (issue 5, start-up). On randomized fleets -- known and unknown statuses, stale and
resumable ``phase1-watching`` records, equal / missing / unparseable / odd ``startedAt`` values,
fractional seconds to the nanosecond, time zone offsets, formats only Python reads, unreadable
summaries -- the head holds every record of the first ``limit`` rows of the full attention order,
and each of its summaries is exactly what ``list_summaries`` returns for that record."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path
from typing import Callable

import pytest

from catalyst_tui.domain import statuses
from catalyst_tui.service.fleet import HEAD_OTHER_RANK, HEAD_RANKS, FleetRow, attention_rank, build_row
from catalyst_tui.store.base import Summary
from catalyst_tui.store.sqlite import SQLiteStore
from catalyst_tui.ui.fleet_state import attention_key

from .conftest import make_record

KUBECONFIGS = "/var/lib/catalyst/kubeconfigs"

STATUSES = [*statuses.KNOWN_STATUSES, "mystery", "Ready", "rolled-back", ""]

STARTED = [
    None, "", "0001-01-01T00:00:00Z", "0001-01-01T00:00:00.5+02:00", "garbage", "2026-13-40T99:00:00Z",
    "2026-02-30T10:00:00Z", "2026-05-04T24:00:00Z", "10:00:00", "2460000.5",
    "2026-05-04T09:00:00Z", "2026-05-04T09:00:00Z",  # equal times (twice as likely)
    "2026-05-04T09:00:00.000001Z", "2026-05-04T09:00:00.0000009Z", "2026-05-04T09:00:00.000000999Z",
    "2026-05-04T09:00:00.1Z", "2026-05-04T09:00:00.123456789Z", "2026-05-04T09:00:00.1234564Z",
    "2026-05-04T14:30:00+05:30", "2026-05-04T01:00:00-08:00", "2026-05-04T14:30:00.0000005+05:30",
    "2026-05-04T09:00:00", "2026-05-04 09:00:00", "20260504T090000Z", "2026-W19-1", "2026-05-04",
    "2026-05-04T09:00:00+0000", "2026-05-04T09Z", "1999-12-31T23:59:59.999999Z", "9999-12-31T23:59:59.999999Z",
]


def random_started(rng: random.Random) -> str | None:
    if rng.random() < 0.5:
        return rng.choice(STARTED)
    # a time of day spread over a few minutes, with or without a fraction and an offset
    secs = rng.randrange(0, 300)
    base = f"2026-05-04T09:{secs // 60:02d}:{secs % 60:02d}"
    frac = rng.choice(["", ".5", f".{rng.randrange(10**9):09d}", f".{rng.randrange(10**3):03d}"])
    return base + frac + rng.choice(["Z", "Z", "+00:00", "-00:00"])


async def seed_random_fleet(path: Path, seed: int, n: int) -> tuple[Callable[[str], object], set[str]]:
    """``n`` records (statuses, kubeconfigs and start times drawn by ``seed``); start times and a few
    unreadable component-state columns are written with SQL, as a hand-edited or foreign store
    could hold them. Returns a ``stat`` under which some ``phase1-watching`` records have no
    kubeconfig (stale), and the ids whose summary is unreadable."""
    rng = random.Random(seed)
    ids = [f"{i:04x}{rng.randrange(16**12):012x}" for i in range(n)]
    weights = [rng.random() for _ in STATUSES]
    chosen = {rid: rng.choices(STATUSES, weights)[0] for rid in ids}
    missing = {rid for rid in ids if rng.random() < 0.5}

    async with SQLiteStore(path) as store:
        for rid in ids:
            kc = f"{KUBECONFIGS}/{rid}.yaml" if rng.random() < 0.7 else ""
            rec = make_record(rid, status=chosen[rid] or "unknown-empty")
            if rec.result is not None:
                rec.result.kubeconfigPath = kc
            await store.create(rec)
    unreadable = {rid for rid in ids if rng.random() < 0.08}
    db = sqlite3.connect(path)
    with db:
        for rid in ids:
            db.execute("UPDATE records SET startedAt = ?, status = ? WHERE id = ?", (random_started(rng), chosen[rid], rid))
        for rid in unreadable:
            db.execute("UPDATE records SET component_states = ? WHERE id = ?", (rng.choice(["[1]", "{", "null"]), rid))
    db.close()

    def stat(p: str) -> object:
        if any(rid in p for rid in missing):
            raise FileNotFoundError(2, "No such file or directory", p)
        return None

    return stat, unreadable


def rows_of(summaries: list[Summary], stat: Callable[[str], object]) -> list[FleetRow]:
    rows = [build_row(s, kubeconfigs_dir=KUBECONFIGS, stat=stat) for s in summaries]
    return sorted(rows, key=attention_key)


def test_head_ranks_are_the_attention_ranks_of_rows_without_a_watcher() -> None:
    from dataclasses import replace

    from catalyst_tui.store.base import Summary as S

    for status in STATUSES:
        row = build_row(S(id="0123456789abcdef", status=status, version="1"), kubeconfigs_dir=KUBECONFIGS,
                        stat=lambda p: None)
        for stale in (False, True):
            r = replace(row, stale=stale and status == statuses.PHASE1_WATCHING)
            rank = HEAD_RANKS.get(status, HEAD_OTHER_RANK)
            if rank is None:
                assert status == statuses.PHASE1_WATCHING
            else:
                assert attention_rank(r) == rank, status


@pytest.mark.parametrize("seed", range(6))
async def test_head_holds_the_first_rows_of_the_attention_order(tmp_path: Path, seed: int) -> None:
    path = tmp_path / "fleet.db"
    n = random.Random(seed).choice([1, 7, 60, 250])
    stat, unreadable = await seed_random_fleet(path, seed, n)
    async with SQLiteStore(path) as store:
        full, errors = await store.list_summaries()
        assert {e.path.rsplit("#", 1)[1] for e in errors} == unreadable
        by_id = {s.id: s for s in full}
        ordered = rows_of(full, stat)
        for limit in (1, 2, 5, 17, 64, n, n + 5):
            got = await store.head_summaries(limit, HEAD_RANKS, other_rank=HEAD_OTHER_RANK)
            assert got is not None
            total, head = got
            assert total == n
            ids = [s.id for s in head]
            assert len(ids) == len(set(ids))
            for s in head:
                assert s == by_id[s.id]  # what list_summaries says of it, field for field
            assert rows_of(head, stat)[:limit] == ordered[:limit], (seed, limit)
            # Every phase1-watching record (stale or not is not the store's to know); of the
            # others, no more than the limit.
            watching = {s.id for s in full if s.status == statuses.PHASE1_WATCHING}
            assert watching <= set(ids)
            assert len(set(ids) - watching) <= limit


async def test_head_of_an_empty_store_and_of_one_with_only_unreadable_records(tmp_path: Path) -> None:
    path = tmp_path / "e.db"
    async with SQLiteStore(path) as store:
        assert await store.head_summaries(10, HEAD_RANKS, other_rank=HEAD_OTHER_RANK) == (0, [])
        await store.create(make_record("00000000000000aa", status="failed"))
    db = sqlite3.connect(path)
    with db:
        db.execute("UPDATE records SET component_states = '{'")
    db.close()
    async with SQLiteStore(path) as store:
        assert await store.head_summaries(10, HEAD_RANKS, other_rank=HEAD_OTHER_RANK) == (1, [])


async def test_head_reads_one_snapshot_and_leaves_no_transaction_open(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    async with SQLiteStore(path) as store:
        for i in range(5):
            await store.create(make_record(f"{i:016x}", status="failed"))
        total, head = await store.head_summaries(3, HEAD_RANKS, other_rank=HEAD_OTHER_RANK)
        assert total == 5 and len(head) == 3
        # the read connection is back in autocommit: a write commits and the next head sees it
        await store.create(make_record(f"{9:016x}", status="failed"))
        total, _ = await store.head_summaries(3, HEAD_RANKS, other_rank=HEAD_OTHER_RANK)
        assert total == 6
    async with SQLiteStore(tmp_path / "missing.db", read_only=True) as store:  # in-memory, no read connection
        assert await store.head_summaries(3, HEAD_RANKS, other_rank=HEAD_OTHER_RANK) == (0, [])


async def test_an_unreadable_record_gives_its_place_to_the_next_one(tmp_path: Path) -> None:
    path = tmp_path / "u.db"
    async with SQLiteStore(path) as store:
        for i, started in enumerate(["2026-05-04T09:00:03Z", "2026-05-04T09:00:02Z", "2026-05-04T09:00:01Z"]):
            await store.create(make_record(f"{i:016x}", status="failed", startedAt=started))
        await store.create(make_record(f"{9:016x}", status="ready", startedAt="2026-05-04T09:00:09Z"))
    db = sqlite3.connect(path)
    with db:
        db.execute("UPDATE records SET component_states = 'x' WHERE id IN (?, ?)", (f"{0:016x}", f"{2:016x}"))
    db.close()
    async with SQLiteStore(path) as store:
        assert [s.id for s in (await store.head_summaries(1, HEAD_RANKS, other_rank=HEAD_OTHER_RANK))[1]] == [f"{1:016x}"]
        total, head = await store.head_summaries(2, HEAD_RANKS, other_rank=HEAD_OTHER_RANK)
        assert total == 4 and [s.id for s in head] == [f"{1:016x}", f"{9:016x}"]
