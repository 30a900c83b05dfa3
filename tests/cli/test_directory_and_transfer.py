"""The command line on a real catalyst-api record directory, import/export, and a rehydrate that
meets a concurrent writer."""

from __future__ import annotations

import asyncio
import json
import threading
from datetime import datetime, timezone
from pathlib import Path

from catalyst_tui.domain.record import to_catalyst_json
from catalyst_tui.service import actions
from catalyst_tui.store.urls import open_store

from .conftest import FAILED, HOSTILE, READY, RESUMABLE, STALE, TOFU, audit_entries, dump_store, fleet_records, get_record, tree_bytes


def write_dir(root: Path, kdir: Path) -> Path:
    root.mkdir(mode=0o700)
    for rec in fleet_records(kdir):
        (root / f"{rec.id}.json").write_text(to_catalyst_json(rec), encoding="utf-8")
    # catalyst-api's LoadAll skips these; so do we.
    (root / ".write-probe").write_text("")
    (root / "notes.txt").write_text("not a record")
    (root / "broken.json").write_text('{"id": "broken", "status": ')
    return root


def test_show_json_is_the_file_byte_for_byte(cli, tmp_path, kdir):
    vol = write_dir(tmp_path / "deployments", kdir)
    for rid in (READY, HOSTILE, STALE):
        r = cli(str(vol), "show", rid, "--json")
        assert r.code == 0
        assert r.out.encode("utf-8") == (vol / f"{rid}.json").read_bytes()


def test_list_skips_bad_files_with_one_line_each(cli, tmp_path, kdir):
    vol = write_dir(tmp_path / "deployments", kdir)
    r = cli(f"catalyst-dir://{vol}", "list", "--json")
    assert r.code == 0
    assert len(json.loads(r.out)) == 6
    assert "broken.json" in r.err and r.err.count("\n") == 1


def test_patch_on_directory_warns_and_expect_mismatch_leaves_files_untouched(cli, tmp_path, kdir):
    vol = write_dir(tmp_path / "deployments", kdir)
    before = tree_bytes(vol)
    r = cli(str(vol), "patch-status", STALE, "--to", "ready", "--reason", "x", "--expect", "failed")
    assert r.code == 4 and r.err.count("\n") == 1
    assert tree_bytes(vol) == before
    r = cli(str(vol), "--read-only", "patch-status", STALE, "--to", "ready", "--reason", "x")
    assert r.code == 5
    assert tree_bytes(vol) == before
    r = cli(str(vol), "--operator", "alice", "patch-status", STALE, "--to", "ready", "--reason", "otech102 workaround")
    assert r.code == 0, r.err
    assert "a catalyst-api still writing this record will overwrite the patch" in r.err
    on_disk = json.loads((vol / f"{STALE}.json").read_text())
    assert on_disk["status"] == "ready" and on_disk["events"][-1]["phase"] == "operator"
    assert (vol / f"{STALE}.json").stat().st_mode & 0o777 == 0o600
    r = cli(str(vol), "audit", "--json")
    (entry,) = json.loads(r.out)
    assert (entry["operator"], entry["record_id"], entry["status_after"]) == ("alice", STALE, "ready")


def test_rehydrate_on_directory(cli, tmp_path, kdir):
    vol = write_dir(tmp_path / "deployments", kdir)
    before = tree_bytes(vol)
    assert cli(str(vol), "rehydrate", "--dry-run").code == 0
    assert tree_bytes(vol) == before
    r = cli(str(vol), "rehydrate", "--json")
    assert r.code == 0 and "broken.json" in r.err
    assert json.loads((vol / f"{TOFU}.json").read_text())["status"] == "failed"
    assert (vol / "broken.json").read_text() == '{"id": "broken", "status": '


def test_export_then_import_round_trip(cli, db, tmp_path):
    vol = tmp_path / "export-vol"
    r = cli(db, "--operator", "dora", "export", f"catalyst-dir://{vol}", READY, FAILED)
    assert r.code == 0, r.err
    assert sorted(r.out.splitlines()) == sorted([f"{READY}: created", f"{FAILED}: created"])
    assert (vol / f"{READY}.json").read_text() == to_catalyst_json(get_record(db, READY))
    # Export again: unchanged, nothing written.
    snap = tree_bytes(vol)
    r = cli(db, "export", str(vol), READY)
    assert r.code == 0 and r.out.strip() == f"{READY}: unchanged"
    assert tree_bytes(vol) == snap
    # Missing id: exit 3, the rest still exported.
    r = cli(db, "export", str(vol), "0000000000000000", TOFU)
    assert r.code == 3 and "0000000000000000" in r.err and f"{TOFU}: created" in r.out
    # Import into a fresh SQLite store; audited there with the operator.
    fresh = f"sqlite://{tmp_path / 'fresh.db'}"
    r = cli(fresh, "--operator", "erin", "import", str(vol))
    assert r.code == 0, r.err
    assert sorted(dump_store(fresh)["records"]) == sorted([READY, FAILED, TOFU])
    entries = audit_entries(fresh)
    assert {e["action"] for e in entries} == {"import"} and {e["operator"] for e in entries} == {"erin"}
    assert to_catalyst_json(get_record(fresh, READY)) == to_catalyst_json(get_record(db, READY))


def test_import_missing_source_is_one_line(cli, db, tmp_path):
    before = dump_store(db)
    r = cli(db, "import", f"catalyst-dir://{tmp_path / 'nope'}")
    assert r.code != 0 and r.err.count("\n") == 1
    assert dump_store(db) == before


def test_rehydrate_conflict_is_per_record_and_never_fatal(db, kdir):
    """A second real writer changes one record between rehydrate's read and its write."""

    def concurrent_patch() -> None:
        async def go() -> None:
            async with open_store(db) as other:
                await actions.patch_status(other, RESUMABLE, "failed", "someone else got there first", operator="zed")

        asyncio.run(go())

    fired: list[str] = []

    def stat(path: str):
        # rehydrate stats each record's kubeconfig; RESUMABLE's is the cue for the other writer.
        if path.endswith(f"{RESUMABLE}.yaml") and not fired:
            fired.append(path)
            t = threading.Thread(target=concurrent_patch)
            t.start()
            t.join()
        import os

        return os.stat(path)

    async def go():
        async with open_store(db) as store:
            return await actions.rehydrate_all(
                store, kubeconfigs_dir=str(kdir), operator="carol", now=datetime(2026, 5, 6, tzinfo=timezone.utc), stat=stat
            )

    report = asyncio.run(go())
    assert fired
    by_id = {r.id: r for r in report.rows}
    assert by_id[RESUMABLE].error and by_id[RESUMABLE].exit_code == 4 and not by_id[RESUMABLE].persisted
    assert RESUMABLE in by_id[RESUMABLE].error
    assert by_id[TOFU].persisted and not by_id[TOFU].error
    resumable = get_record(db, RESUMABLE)
    assert resumable.status == "failed" and resumable.events[-1].message.endswith("someone else got there first")
    assert get_record(db, TOFU).status == "failed"
