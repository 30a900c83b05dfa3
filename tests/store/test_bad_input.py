"""Issue 2 "Bad input": each case gives one clear one-line message and leaves the disk byte-identical."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from catalyst_tui.domain.record import Event, to_catalyst_json
from catalyst_tui.store import InvalidRecordId, StoreError, StoreUnavailable
from catalyst_tui.store.catalyst_dir import CatalystDirStore, UnreadableRecord
from catalyst_tui.store.common import MAX_RECORD_BYTES
from catalyst_tui.store.sqlite import SQLiteStore
from catalyst_tui.store.urls import open_store

from . import procs
from .conftest import SAMPLE_CANONICAL, ev, make_record, snapshot_tree

RID = "3f9c2a7e1b8d4c60"
VALID = json.loads(SAMPLE_CANONICAL)


def one_line(msg: str) -> str:
    assert "\n" not in msg and "Traceback" not in msg, msg
    return msg


def _with(**changes) -> str:
    data = dict(VALID)
    data.update(changes)
    return json.dumps(data, indent=2)


BROKEN_FILES = {
    "truncated-json": (SAMPLE_CANONICAL[:200], "invalid JSON at line "),
    "json-array": ("[" + SAMPLE_CANONICAL + "]", "expected a JSON object, got list"),
    "status-is-a-number": (_with(status=7), "field status: Input should be a valid string"),
    "events-is-a-string": (_with(events="x"), "field events: Input should be a valid list"),
    "empty-file": ("", "empty file"),
    "id-differs-from-file-name": (_with(id="bbbbbbbbbbbbbbbb"), "record id 'bbbbbbbbbbbbbbbb' differs from the file name"),
    "not-utf8": (b"\xff\xfe{}", "not UTF-8 (invalid start byte at byte 0)"),
}


@pytest.mark.parametrize("case", sorted(BROKEN_FILES))
async def test_broken_record_file_is_reported_and_left_alone(tmp_path, case):
    content, reason = BROKEN_FILES[case]
    d = tmp_path / "deployments"
    d.mkdir()
    path = d / f"{RID}.json"
    (path.write_bytes if isinstance(content, bytes) else path.write_text)(content)
    (d / "aaaaaaaaaaaaaaaa.json").write_text(to_catalyst_json(make_record("aaaaaaaaaaaaaaaa")))
    before = snapshot_tree(tmp_path)
    async with CatalystDirStore(d) as s:
        summaries, errors = await s.list_summaries()
        assert [x.id for x in summaries] == ["aaaaaaaaaaaaaaaa"]  # one bad file never aborts the load
        (err,) = errors
        assert err.path == str(path)
        assert one_line(err.reason).startswith(reason)
        with pytest.raises(UnreadableRecord) as exc:
            await s.get(RID)
        assert one_line(str(exc.value)) == f"{path}: {err.reason}"
        # a write through the read path refuses too, and writes nothing
        with pytest.raises(UnreadableRecord):
            await s.update(RID, lambda r: setattr(r, "status", "failed"))
        with pytest.raises(UnreadableRecord):
            await s.append_events(RID, [ev(1)])
    assert snapshot_tree(tmp_path) == before


async def test_symlink_pointing_outside_is_not_followed(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.json").write_text(SAMPLE_CANONICAL)
    d = tmp_path / "deployments"
    d.mkdir()
    (d / f"{RID}.json").symlink_to(outside / "secret.json")
    inner = make_record("aaaaaaaaaaaaaaaa")
    (d / "real.data").write_text(to_catalyst_json(inner))
    (d / "aaaaaaaaaaaaaaaa.json").symlink_to("real.data")  # inside the directory: fine
    before = snapshot_tree(tmp_path)
    async with CatalystDirStore(d) as s:
        summaries, (err,) = await s.list_summaries()
        assert [x.id for x in summaries] == ["aaaaaaaaaaaaaaaa"]
        assert (err.path, one_line(err.reason)) == (str(d / f"{RID}.json"), "symlink points outside the store directory")
        with pytest.raises(UnreadableRecord, match=r"^.*/3f9c2a7e1b8d4c60\.json: symlink points outside the store directory$"):
            await s.get(RID)
        with pytest.raises(StoreError):
            await s.create(make_record())
    assert snapshot_tree(tmp_path) == before


def _realistic_event(i: int) -> Event:
    msg = json.dumps({"level": "info", "ts": "2026-05-04T09:08:06.123Z", "HelmRelease": {"name": "bp-keycloak", "namespace": "flux-system"},
                      "msg": "reconciling release, upgrade in progress", "revision": f"sha256:{i:064x}", "controller": "helmrelease"})
    return Event.model_validate({"time": "2026-05-04T09:08:06Z", "phase": "component-log", "level": "info", "message": msg, "component": "keycloak"})


async def test_50_mb_file_is_refused_before_it_is_read(tmp_path):
    # The size limit must leave room for the largest real record: 10,000 helm-controller log events.
    real = make_record("aaaaaaaaaaaaaaaa")
    real.append_events([_realistic_event(i) for i in range(10_000)])
    real_bytes = to_catalyst_json(real).encode()
    assert len(real_bytes) * 4 < MAX_RECORD_BYTES, len(real_bytes)
    # A *valid* 50 MB record (one giant event), so the limit is the only reason to refuse it.
    big = make_record()
    big.append_events([Event.model_validate({"time": "2026-05-04T09:08:06Z", "phase": "tofu", "level": "info", "message": "x" * (50 * 1024 * 1024)})])
    d = tmp_path / "deployments"
    d.mkdir()
    (d / f"{RID}.json").write_bytes(to_catalyst_json(big).encode())
    (d / "aaaaaaaaaaaaaaaa.json").write_bytes(real_bytes)
    before = snapshot_tree(tmp_path)
    async with CatalystDirStore(d) as s:
        summaries, (err,) = await s.list_summaries()
        assert [x.id for x in summaries] == ["aaaaaaaaaaaaaaaa"] and summaries[0].events_count == 10_000
        assert one_line(err.reason) == "file is 50.0 MiB, over the 32.0 MiB record size limit"
        with pytest.raises(UnreadableRecord, match="over the 32.0 MiB record size limit$"):
            await s.get(RID)
    async with CatalystDirStore(d, max_record_bytes=64 * 1024 * 1024, read_only=True) as s:
        assert len((await s.get(RID)).record.events[-1].message) == 50 * 1024 * 1024  # valid, just too big
    assert snapshot_tree(tmp_path) == before


@pytest.mark.parametrize("as_url", [True, False])
async def test_store_path_that_is_not_sqlite(tmp_path, as_url):
    p = tmp_path / "notes.db"
    p.write_text("these are my notes, not a database\n" * 50)
    before = snapshot_tree(tmp_path)
    with pytest.raises(StoreUnavailable) as exc:
        async with open_store(f"sqlite://{p}" if as_url else str(p)):
            pass
    assert one_line(str(exc.value)) == f"{p}: not a catalyst-tui SQLite store (file is not a database)"
    assert snapshot_tree(tmp_path) == before  # no -wal/-shm, bytes untouched


async def test_sqlite_file_of_another_application(tmp_path):
    p = tmp_path / "other.db"
    db = sqlite3.connect(p)
    db.execute("CREATE TABLE contacts (name TEXT)")
    db.commit()
    db.close()
    before = snapshot_tree(tmp_path)
    with pytest.raises(StoreUnavailable) as exc:
        async with open_store(str(p)):
            pass
    assert one_line(str(exc.value)) == f"{p}: not a catalyst-tui SQLite store (a SQLite database with other tables)"
    assert snapshot_tree(tmp_path) == before


@pytest.mark.parametrize("kind", ["sqlite", "catalyst-dir"])
async def test_invalid_record_id_arguments(tmp_path, kind):
    url = f"sqlite://{tmp_path / 's' / 'c.db'}" if kind == "sqlite" else f"catalyst-dir://{tmp_path / 'd'}"
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "passwd.json").write_text(SAMPLE_CANONICAL)
    async with open_store(url) as s:
        await s.create(make_record())
    before = snapshot_tree(tmp_path)
    async with open_store(url) as s:
        for bad in ("../etc/passwd", "a/b", "..", ".", "", "..\\x"):
            for op in (
                lambda: s.get(bad),
                lambda: s.create(make_record(bad)),
                lambda: s.replace(make_record(bad), "1"),
                lambda: s.append_events(bad, [ev(1)]),
            ):
                with pytest.raises(InvalidRecordId) as exc:
                    await op()
                assert one_line(str(exc.value)).endswith("invalid record id (must not be empty, '.' or '..', or contain '/', '\\' or NUL)")
                assert str(exc.value).startswith(repr(bad))
                assert exc.value.exit_code == 2
    assert snapshot_tree(tmp_path) == before


def _read_only_runner(d: Path) -> list[str] | None:
    """How to run a child against a read-only ``d``. Root ignores directory mode bits, so as root
    the child runs in a private mount namespace where ``d`` is a read-only bind mount (the mount
    dies with the child; nothing leaks). Not root: plain ``chmod 0555`` is honoured."""
    if os.geteuid() != 0:
        os.chmod(d, 0o555)
        return []
    if not shutil.which("unshare"):
        return None
    probe = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                            f"mount --bind '{d}' '{d}' && mount -o remount,bind,ro '{d}'"], capture_output=True)
    if probe.returncode != 0:
        return None
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c",
            f"mount --bind '{d}' '{d}' && mount -o remount,bind,ro '{d}' && exec \"$0\" \"$@\""]


async def test_read_only_directory_reads_work_writes_refused(tmp_path):
    d = tmp_path / "deployments"
    d.mkdir()
    (d / f"{RID}.json").write_text(SAMPLE_CANONICAL)
    (d / ".catalyst-tui.lock").write_bytes(b"")  # left by an earlier writer
    before = snapshot_tree(tmp_path)
    prefix = _read_only_runner(d)
    if prefix is None:
        pytest.skip("root without mount namespaces: cannot make a directory read-only for root")
    try:
        out = subprocess.run([*prefix, sys.executable, "-c", procs.READ_ONLY_CHILD, str(d), RID],
                             capture_output=True, text=True, timeout=60)
    finally:
        os.chmod(d, 0o755)
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    assert res["writable"] is False and res["listed"] == [RID]
    reason = "Read-only file system" if os.geteuid() == 0 else "Permission denied"
    for name, rid in (("replace", RID), ("append", RID), ("create", "bbbbbbbbbbbbbbbb"), ("audit", RID)):
        assert res[name] == f"StoreUnavailable: {d}: directory is not writable: {reason}; nothing written for {rid}", res[name]
    assert snapshot_tree(tmp_path) == before


async def test_second_process_holding_a_sqlite_write_transaction(tmp_path):
    p = tmp_path / "c.db"
    async with SQLiteStore(p) as s:
        await s.create(make_record())
    before = snapshot_tree(tmp_path)
    locker = subprocess.Popen([sys.executable, "-c", procs.SQLITE_LOCKER, str(p)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert locker.stdout.readline().strip() == "locked"
        db_bytes = p.read_bytes()
        async with SQLiteStore(p, busy_timeout=0.3) as s:
            got = await s.get(RID)  # WAL: reads still work, and see no uncommitted data
            assert got.record.error == ""
            assert (await s.list_summaries())[0][0].error == ""
            rec = got.record
            rec.status = "failed"
            with pytest.raises(StoreUnavailable) as exc:
                await s.replace(rec, got.version)
            assert one_line(str(exc.value)) == f"{RID}: store {p} is locked by another process's write (waited 0.3 s); nothing written"
            with pytest.raises(StoreUnavailable, match="locked by another process"):
                await s.append_events(RID, [ev(1)])
        assert p.read_bytes() == db_bytes
    finally:
        locker.stdin.close()
        locker.wait(10)
        locker.stdout.close()
    assert locker.returncode == 0
    assert snapshot_tree(tmp_path) == before
    async with SQLiteStore(p) as s:
        assert (await s.get(RID)).record.status == "phase1-watching"
    db = sqlite3.connect(p)
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    db.close()


async def test_second_process_holding_the_directory_write_lock(tmp_path):
    d = tmp_path / "deployments"
    async with CatalystDirStore(d) as s:
        await s.create(make_record())
    before = snapshot_tree(tmp_path)
    locker = subprocess.Popen([sys.executable, "-c", procs.FLOCK_LOCKER, str(d / ".catalyst-tui.lock")],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert locker.stdout.readline().strip() == "locked"
        async with CatalystDirStore(d, lock_timeout=0.3) as s:
            got = await s.get(RID)
            got.record.status = "failed"
            with pytest.raises(StoreUnavailable) as exc:
                await s.replace(got.record, got.version)
            assert one_line(str(exc.value)) == f"{RID}: {d} is locked by another catalyst-tui writer (waited 0.3 s); nothing written"
    finally:
        locker.stdin.close()
        locker.wait(10)
        locker.stdout.close()
    assert snapshot_tree(tmp_path) == before
