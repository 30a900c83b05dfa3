"""The directory listing re-reads only files that changed (perf, issue 5), and never misses a change."""

from __future__ import annotations

import asyncio
import json
import os
import time

import pytest

from catalyst_tui.domain.record import to_catalyst_json
from catalyst_tui.store import catalyst_dir
from catalyst_tui.store.catalyst_dir import CatalystDirStore

from .conftest import make_record


def write(d, rid: str, org: str) -> None:
    rec = make_record(rid)
    rec.request.orgName = org
    (d / f"{rid}.json").write_text(to_catalyst_json(rec))


class Counting(CatalystDirStore):
    def __init__(self, *a, **kw) -> None:
        super().__init__(*a, **kw)
        self.decoded: list[str] = []

    def _summary_fast(self, record_id, path, data):  # type: ignore[no-untyped-def]
        self.decoded.append(record_id)
        return super()._summary_fast(record_id, path, data)


@pytest.fixture
def settled(monkeypatch):
    """Files count as settled at once (the real margin is 2 s; tests sleep past the clock tick)."""
    monkeypatch.setattr(catalyst_dir, "CACHE_SETTLE_NS", 0)


def tick() -> None:
    time.sleep(0.05)  # past the file-system timestamp granularity


def written_dir(tmp_path, ids: list[str]):
    """A directory holding record ``ids[i]`` with org ``org i``, its files' times in the past."""
    d = tmp_path / "d"
    d.mkdir()
    for i, rid in enumerate(ids):
        write(d, rid, f"org {i}")
    tick()
    return d


async def orgs(s) -> dict[str, str]:
    summaries, errors = await s.list_summaries()
    return {x.id: x.orgName for x in summaries} | {os.path.basename(e.path): "error" for e in errors}


async def test_only_changed_files_are_read_again(tmp_path, settled) -> None:
    d = written_dir(tmp_path, [f"r{i}" for i in range(5)])
    async with Counting(d, read_only=True) as s:
        assert await orgs(s) == {f"r{i}": f"org {i}" for i in range(5)}
        assert sorted(s.decoded) == [f"r{i}" for i in range(5)]
        s.decoded.clear()
        assert await orgs(s) == {f"r{i}": f"org {i}" for i in range(5)}
        assert s.decoded == []  # nothing changed: nothing read
        before = (d / "r2.json").stat()
        write(d, "r2", "org X")  # an in-place rewrite of the same size (same inode)
        after = (d / "r2.json").stat()
        assert (after.st_ino, after.st_size) == (before.st_ino, before.st_size)
        (d / "r3.json").unlink()
        write(d, "r9", "org 9")
        tick()
        assert await orgs(s) == {"r0": "org 0", "r1": "org 1", "r2": "org X", "r4": "org 4", "r9": "org 9"}
        assert sorted(s.decoded) == ["r2", "r9"]


async def test_a_same_size_rewrite_right_after_a_listing_is_seen(tmp_path) -> None:
    """With the real settle margin: a file changed within the timestamp granularity of the
    previous read is never served from the cache."""
    d = tmp_path / "d"
    d.mkdir()
    write(d, "r1", "org A")
    async with CatalystDirStore(d, read_only=True) as s:
        for org in ("org B", "org C", "org D"):
            assert (await orgs(s))["r1"] != org
            write(d, "r1", org)  # no sleep: possibly the same mtime/ctime tick, same size, same inode
            assert (await orgs(s))["r1"] == org


async def test_an_atomic_rename_is_seen(tmp_path, settled) -> None:
    d = tmp_path / "d"
    d.mkdir()
    write(d, "r1", "org A")
    tick()
    async with Counting(d, read_only=True) as s:
        assert (await orgs(s))["r1"] == "org A"
        rec = make_record("r1")
        rec.request.orgName = "org B"
        tmp = d / ".r1.tmp.json.tmp"
        tmp.write_text(to_catalyst_json(rec))
        os.utime(tmp, ns=((d / "r1.json").stat().st_atime_ns, (d / "r1.json").stat().st_mtime_ns))  # even the same mtime
        os.rename(tmp, d / "r1.json")
        assert (await orgs(s))["r1"] == "org B"


async def test_bad_files_stay_reported_and_a_fix_is_seen(tmp_path, settled) -> None:
    d = tmp_path / "d"
    d.mkdir()
    write(d, "good", "org")
    (d / "bad.json").write_text('{"id": "bad", "status": 7}')
    tick()
    async with Counting(d, read_only=True) as s:
        for _ in range(2):
            summaries, errors = await s.list_summaries()
            assert [x.id for x in summaries] == ["good"]
            assert [os.path.basename(e.path) for e in errors] == ["bad.json"] and "status" in errors[0].reason
        assert s.decoded.count("bad") == 1  # the verdict is cached too
        (d / "bad.json").write_text(json.dumps(json.loads(to_catalyst_json(make_record("bad")))))
        tick()
        summaries, errors = await s.list_summaries()
        assert sorted(x.id for x in summaries) == ["bad", "good"] and errors == []


async def test_symlinks_are_always_followed_again(tmp_path, settled) -> None:
    d = tmp_path / "d"
    d.mkdir()
    (d / "targets").mkdir()
    for org in ("org A", "org B"):
        rec = make_record("r1")
        rec.request.orgName = org
        (d / "targets" / org.replace(" ", "")).write_text(to_catalyst_json(rec))
    os.symlink(d / "targets" / "orgA", d / "r1.json")
    tick()
    async with CatalystDirStore(d, read_only=True) as s:
        assert (await orgs(s))["r1"] == "org A"
        tmp = d / "link.tmp"
        os.symlink(d / "targets" / "orgB", tmp)
        os.rename(tmp, d / "r1.json")
        assert (await orgs(s))["r1"] == "org B"
        assert (await s.get("r1")).record.request.orgName == "org B"


async def test_instances_on_one_directory_share_what_was_read(tmp_path, settled) -> None:
    """The dashboard's store and the supervisor's own store (another thread) read each file once."""
    d = written_dir(tmp_path, [f"r{i}" for i in range(4)])
    async with Counting(d, read_only=True) as a, Counting(d, read_only=True) as b:
        assert await orgs(a) == {f"r{i}": f"org {i}" for i in range(4)}
        assert await orgs(b) == {f"r{i}": f"org {i}" for i in range(4)}
        assert sorted(a.decoded) == [f"r{i}" for i in range(4)] and b.decoded == []
        write(d, "r1", "org X")
        tick()
        assert (await orgs(b))["r1"] == "org X" and b.decoded == ["r1"]
        assert (await orgs(a))["r1"] == "org X" and a.decoded.count("r1") == 1
        # Other settings (a smaller size limit) or another spelling of the path: not shared.
        async with Counting(d, read_only=True, max_record_bytes=10) as small:
            summaries, errors = await small.list_summaries()
            assert summaries == [] and len(errors) == 4 and "size limit" in errors[0].reason


async def test_concurrent_listings_of_one_directory_read_each_file_once(tmp_path, settled) -> None:
    d = written_dir(tmp_path, [f"r{i:02d}" for i in range(30)])
    async with Counting(d, read_only=True) as a, Counting(d, read_only=True) as b:
        got = await asyncio.gather(*(s.list_summaries() for s in (a, b, a, b)))
        for summaries, errors in got:
            assert errors == [] and [x.orgName for x in summaries] == [x.orgName for x in got[0][0]]
            assert len(summaries) == 30
        assert sorted(a.decoded + b.decoded) == sorted(f"r{i:02d}" for i in range(30))
