"""import / export between the SQLite store and a catalyst-api directory."""

from __future__ import annotations

import pytest

from catalyst_tui.domain.record import to_catalyst_json
from catalyst_tui.store import AuditEntry, Refused
from catalyst_tui.store.catalyst_dir import CatalystDirStore
from catalyst_tui.store.sqlite import SQLiteStore
from catalyst_tui.store.transfer import copy_records

from .conftest import ev, make_record


def audit_factory(action):
    def make(existing, incoming):
        return AuditEntry("2026-05-04T12:00:00Z", "alice", action, incoming.id,
                          existing.status if existing else None, incoming.status, f"{action} test")
    return make


async def test_import_volume_then_export_patched_record(tmp_path):
    vol = tmp_path / "deployments"
    vol.mkdir()
    a = make_record("aaaaaaaaaaaaaaaa")
    a.append_events([ev(i) for i in range(10)])
    b = make_record("bbbbbbbbbbbbbbbb", status="ready")
    (vol / "aaaaaaaaaaaaaaaa.json").write_text(to_catalyst_json(a))
    (vol / "bbbbbbbbbbbbbbbb.json").write_text(to_catalyst_json(b))
    (vol / "cccccccccccccccc.json").write_text("{truncated")
    async with CatalystDirStore(vol) as d, SQLiteStore(tmp_path / "c.db") as s:
        rep = await copy_records(d, s, None, operator_audit=audit_factory("import"))
        assert rep.pairs() == [("aaaaaaaaaaaaaaaa", "created"), ("bbbbbbbbbbbbbbbb", "created")]
        assert [e.path.endswith("cccccccccccccccc.json") for e in rep.load_errors] == [True]
        assert not rep.ok
        assert to_catalyst_json((await s.get("aaaaaaaaaaaaaaaa")).record) == to_catalyst_json(a)
        assert [e.action for e in await s.audit_list()] == ["import", "import"]
        # importing again changes nothing
        again = await copy_records(d, s, None, operator_audit=audit_factory("import"))
        assert [o for _, o in again.pairs()] == ["unchanged", "unchanged"]
        assert len(await s.audit_list()) == 2
        # patch in SQLite, export just that record back in catalyst-api's format
        await s.update("aaaaaaaaaaaaaaaa", lambda r: setattr(r, "status", "failed"))
        out = await copy_records(s, d, ["aaaaaaaaaaaaaaaa", "ffffffffffffffff"], operator_audit=audit_factory("export"))
        assert out.pairs() == [("aaaaaaaaaaaaaaaa", "replaced"), ("ffffffffffffffff", "missing")]
        patched = (await s.get("aaaaaaaaaaaaaaaa")).record
        assert (vol / "aaaaaaaaaaaaaaaa.json").read_bytes() == to_catalyst_json(patched).encode()
        (entry,) = await d.audit_list("aaaaaaaaaaaaaaaa")
        assert (entry.action, entry.status_before, entry.status_after) == ("export", "phase1-watching", "failed")


async def test_export_to_read_only_store_is_refused(tmp_path):
    async with SQLiteStore(tmp_path / "c.db") as s:
        await s.create(make_record())
        (tmp_path / "vol").mkdir()
        async with CatalystDirStore(tmp_path / "vol", read_only=True) as d:
            with pytest.raises(Refused, match="read-only mode"):
                await copy_records(s, d, None)
    assert list((tmp_path / "vol").iterdir()) == []
