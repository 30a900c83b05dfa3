"""The directory backend behaves like catalyst-api's store on the same volume (§1.2, §1.3)."""

from __future__ import annotations

import json
import os
import stat

import pytest

from catalyst_tui.domain.record import loads_record, to_catalyst_json
from catalyst_tui.store import AuditEntry, Conflict
from catalyst_tui.store.catalyst_dir import AUDIT_NAME, CatalystDirStore, version_of

from .conftest import SAMPLE, SAMPLE_CANONICAL, ev, make_record

RID = "3f9c2a7e1b8d4c60"


def catalyst_api_save(directory, record) -> bytes:
    """What catalyst-api's store.Save leaves on disk (temp + rename)."""
    data = to_catalyst_json(record).encode()
    tmp = directory / f".{record.id}.123456.json.tmp"
    tmp.write_bytes(data)
    os.chmod(tmp, 0o600)
    os.rename(tmp, directory / f"{record.id}.json")
    return data


async def test_written_bytes_are_exactly_catalyst_json_with_mode_0600(tmp_path):
    d = tmp_path / "deployments"
    async with CatalystDirStore(d) as s:
        rec = make_record()
        v = await s.create(rec)
        path = d / f"{RID}.json"
        assert path.read_bytes() == to_catalyst_json(rec).encode()
        assert v == version_of(path.read_bytes())
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(d).st_mode) == 0o700
        await s.audit_append(AuditEntry("t", "op", "annotate", RID, None, None, "r"))
        assert stat.S_IMODE(os.stat(d / AUDIT_NAME).st_mode) == 0o600
        # no temp or probe files are left behind
        assert sorted(p.name for p in d.iterdir()) == sorted([f"{RID}.json", AUDIT_NAME, ".catalyst-tui.lock"])


async def test_reads_what_catalyst_api_wrote_and_skips_like_load_all(tmp_path):
    d = tmp_path / "deployments"
    d.mkdir()
    (d / f"{RID}.json").write_text(SAMPLE_CANONICAL)
    (d / ".aaaaaaaaaaaaaaaa.999.json.tmp").write_text("{half")
    (d / ".write-probe").write_text("")
    (d / "notes.txt").write_text("hello")
    (d / "sub.json").mkdir()
    async with CatalystDirStore(d, read_only=True) as s:
        summaries, errors = await s.list_summaries()
        assert [x.id for x in summaries] == [RID] and errors == []
        got = await s.get(RID)
        assert to_catalyst_json(got.record) == SAMPLE_CANONICAL
        assert got.version == version_of(SAMPLE_CANONICAL.encode())
        assert summaries[0].version == got.version


async def test_conflict_when_catalyst_api_rewrote_the_file(tmp_path):
    d = tmp_path / "deployments"
    d.mkdir()
    catalyst_api_save(d, make_record())
    async with CatalystDirStore(d) as s:
        mine = await s.get(RID)
        # catalyst-api persists its next event (rewrite after every event)
        theirs = make_record()
        theirs.append_events([ev(1)])
        their_bytes = catalyst_api_save(d, theirs)
        mine.record.status = "failed"
        with pytest.raises(Conflict, match=rf"^{RID}: changed underneath .*nothing written$"):
            await s.replace(mine.record, mine.version)
        assert (d / f"{RID}.json").read_bytes() == their_bytes
        assert not [p for p in d.iterdir() if p.name.endswith(".tmp")]
        # an unguarded append goes on top of catalyst-api's latest file
        await s.append_events(RID, [ev(2)])
        rec = loads_record((d / f"{RID}.json").read_bytes())
        assert [e.message for e in rec.events[-2:]] == ["line 1", "line 2"]


async def test_fast_summary_matches_full_decode(tmp_path):
    d = tmp_path / "deployments"
    d.mkdir()
    rec = make_record()
    res = rec.ensure_result()
    res.handoverURL = "https://console.acme.omani.works/auth/handover?token=x"
    res.handoverFiredAt = "2026-05-04T10:00:00Z"
    catalyst_api_save(d, rec)
    async with CatalystDirStore(d) as s:
        (fast,), _ = await s.list_summaries()
        from catalyst_tui.store.common import summary_from_dict
        from catalyst_tui.domain.record import record_to_dict

        full = summary_from_dict(record_to_dict((await s.get(RID)).record), fast.version)
        assert fast == full
        assert fast.handoverURL_set and fast.handoverFiredAt == "2026-05-04T10:00:00Z"


async def test_event_with_wrong_type_is_a_load_error_with_gets_message(tmp_path):
    d = tmp_path / "deployments"
    d.mkdir()
    data = json.loads(SAMPLE)
    data["events"][1]["time"] = 5
    (d / f"{RID}.json").write_text(json.dumps(data))
    async with CatalystDirStore(d, read_only=True) as s:
        summaries, (err,) = await s.list_summaries()
        assert summaries == []
        assert err.reason == "field events.1.time: Input should be a valid string"
        with pytest.raises(Exception) as exc:
            await s.get(RID)
        assert str(exc.value) == f"{err.path}: {err.reason}"
