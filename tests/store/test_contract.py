"""One contract, both backends: every test here runs against SQLite and the catalyst-api directory."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone

import pytest

from catalyst_tui.domain.record import to_catalyst_json
from catalyst_tui.store import AuditEntry, Conflict, InvalidRecordId, RecordNotFound, Refused
from catalyst_tui.store.urls import open_store

from .conftest import SAMPLE, ev, make_record

BACKENDS = ["sqlite", "catalyst-dir"]


def store_url(kind: str, tmp_path) -> str:
    if kind == "sqlite":
        return f"sqlite://{tmp_path / 'state' / 'catalyst.db'}"
    return f"catalyst-dir://{tmp_path / 'deployments'}"


@pytest.fixture(params=BACKENDS)
async def store(request, tmp_path):
    async with open_store(store_url(request.param, tmp_path)) as s:
        yield s


def audit(record_id: str, action: str = "patch-status", before: str | None = "failed", after: str | None = "ready") -> AuditEntry:
    return AuditEntry(
        time=datetime.now(timezone.utc).isoformat(), operator="alice@10.0.0.1", action=action,
        record_id=record_id, status_before=before, status_after=after, reason="ticket 42",
    )


async def test_create_then_get_round_trips_catalyst_bytes(store, sample_record):
    version = await store.create(sample_record)
    got = await store.get(sample_record.id)
    assert got.version == version
    assert to_catalyst_json(got.record) == to_catalyst_json(sample_record)
    # unknown keys survive at every depth
    text = to_catalyst_json(got.record)
    assert '"futureTopKey"' in text and '"futureRequestKey"' in text and '"futureEventKey": 1' in text
    assert json.loads(text) == json.loads(SAMPLE)


async def test_create_existing_id_conflicts(store, sample_record):
    await store.create(sample_record)
    with pytest.raises(Conflict, match=r"^3f9c2a7e1b8d4c60: already exists"):
        await store.create(sample_record)


async def test_get_missing_and_invalid_ids(store):
    with pytest.raises(RecordNotFound, match=r"^0000000000000000: no such record"):
        await store.get("0000000000000000")
    for bad in ("../etc/passwd", "a/b", "..", ".", "", "a\\b"):
        with pytest.raises(InvalidRecordId, match="invalid record id"):
            await store.get(bad)


async def test_events_null_stays_null(store):
    rec = make_record("aaaaaaaaaaaaaaaa", events=None)
    await store.create(rec)
    got = await store.get(rec.id)
    assert got.record.events is None
    assert '"events": null' in to_catalyst_json(got.record)
    summaries, errors = await store.list_summaries()
    assert errors == [] and summaries[0].events_count == 0 and summaries[0].last_event_time is None


async def test_replace_with_current_version_then_stale_version_conflicts(store, sample_record):
    v1 = await store.create(sample_record)
    rec = (await store.get(sample_record.id)).record
    rec.status = "failed"
    rec.error = "operator patched"
    v2 = await store.replace(rec, v1, audit=audit(rec.id))
    assert v2 != v1
    assert (await store.get(rec.id)).record.status == "failed"
    stale = rec.model_copy(deep=True)
    stale.status = "ready"
    with pytest.raises(Conflict, match=r"^3f9c2a7e1b8d4c60: changed underneath .*nothing written$"):
        await store.replace(stale, v1, audit=audit(rec.id, after="ready"))
    got = await store.get(rec.id)
    assert got.record.status == "failed" and got.version == v2
    # the audit entry of the losing mutation was not written either
    entries = await store.audit_list(rec.id)
    assert [e.status_after for e in entries] == ["ready"]
    assert len(entries) == 1


async def test_replace_missing_record(store, sample_record):
    with pytest.raises((RecordNotFound, Conflict)):
        await store.replace(sample_record, "1")


async def test_update_helper_writes_audit_with_mutation(store, sample_record):
    await store.create(sample_record)

    def mutate(r):
        r.status = "failed"

    out = await store.update(sample_record.id, mutate, audit=lambda b, a: audit(a.id, before=b.status, after=a.status))
    assert out.record.status == "failed"
    (entry,) = await store.audit_list()
    assert (entry.status_before, entry.status_after, entry.operator) == ("phase1-watching", "failed", "alice@10.0.0.1")
    assert await store.audit_list("ffffffffffffffff") == []


async def test_append_events_and_summary_states(store, sample_record):
    v1 = await store.create(sample_record)
    v2 = await store.append_events(sample_record.id, [ev(1, phase="component", component="cert-manager", state="installed"), ev(2)])
    assert v2 != v1
    got = await store.get(sample_record.id)
    assert got.version == v2
    assert [e.message for e in got.record.events[-2:]] == ["line 1", "line 2"]
    (s,), errors = await store.list_summaries()
    assert errors == []
    assert s.version == v2 and s.events_count == 5 and s.last_event_time == "2026-05-04T10:00:02Z"
    assert s.component_states == {"cilium": "installed", "cert-manager": "installed"}
    assert (s.components_installed, s.components_total) == (2, 2)
    assert s.sovereignFQDN == "acme.omani.works" and s.orgName == "Acme Telecom" and s.region == "fsn1"
    assert s.finishedAt is None and s.startedAt == "2026-05-04T09:00:01.482913377Z"
    assert s.kubeconfigPath.endswith("3f9c2a7e1b8d4c60.yaml") and s.phase1Substate == "watcher-watching"
    assert s.ownerEmail == "ops@acme.example" and s.handoverURL_set is False
    # a guarded append on a stale version conflicts and writes nothing
    with pytest.raises(Conflict, match="changed underneath"):
        await store.append_events(sample_record.id, [ev(3)], expected_version=v1, audit=audit(sample_record.id))
    assert (await store.get(sample_record.id)).version == v2
    assert await store.audit_list() == []
    # guarded append on the current version works and carries its audit entry
    await store.append_events(sample_record.id, [ev(3, phase="operator")], expected_version=v2, audit=audit(sample_record.id))
    assert len(await store.audit_list(sample_record.id)) == 1


async def test_frozen_component_states_after_phase1(store, sample_record):
    rec = sample_record
    res = rec.ensure_result()
    res.phase1FinishedAt = "2026-05-04T09:30:00Z"
    res.componentStates = {"cilium": "installed", "keycloak": "failed"}
    await store.create(rec)
    await store.append_events(rec.id, [ev(1, phase="component", component="keycloak", state="installed")])
    (s,), _ = await store.list_summaries()
    assert s.component_states == {"cilium": "installed", "keycloak": "failed"}
    assert s.phase1FinishedAt == "2026-05-04T09:30:00Z"


async def test_event_cap_drops_oldest(store, sample_record):
    cap = 10_000
    await store.create(sample_record)  # 3 events, the first component one is 'cilium'
    await store.append_events(sample_record.id, [ev(i) for i in range(cap - 3)])
    (s,), _ = await store.list_summaries()
    assert s.events_count == cap
    await store.append_events(sample_record.id, [ev(cap + i) for i in range(2)])
    got = (await store.get(sample_record.id)).record
    assert len(got.events) == cap
    # the two oldest (flux-bootstrap and the cilium component event) were dropped
    assert got.events[0].component == "cert-manager"
    assert got.events[-1].message == f"line {cap + 1}"
    (s,), _ = await store.list_summaries()
    assert s.events_count == cap
    # the summary agrees with the survivors: cilium's only event is gone
    assert s.component_states == {"cert-manager": "pending"}
    # replace with more than the cap keeps the newest
    got.events = got.events + [ev(50_000)]
    v = (await store.get(got.id)).version
    await store.replace(got, v)
    again = (await store.get(got.id)).record
    assert len(again.events) == cap and again.events[-1].message == "line 50000"


async def test_list_summaries_and_change_token(store, sample_record):
    t0 = await store.change_token()
    assert await store.change_token() == t0
    await store.create(sample_record)
    t1 = await store.change_token()
    assert t1 != t0
    await store.create(make_record("bbbbbbbbbbbbbbbb", status="ready"))
    await store.append_events("bbbbbbbbbbbbbbbb", [ev(1)])
    t2 = await store.change_token()
    assert t2 != t1
    summaries, errors = await store.list_summaries()
    assert errors == []
    assert {s.id: s.status for s in summaries} == {"3f9c2a7e1b8d4c60": "phase1-watching", "bbbbbbbbbbbbbbbb": "ready"}


async def test_change_token_sees_another_connection(tmp_path, request):
    for kind in BACKENDS:
        url = store_url(kind, tmp_path / kind)
        async with open_store(url) as a, open_store(url) as b:
            await a.create(make_record())
            t = await b.change_token()
            await a.append_events("3f9c2a7e1b8d4c60", [ev(1)])
            assert await b.change_token() != t, kind
            (s,), _ = await b.list_summaries()
            assert s.events_count == 4


async def test_read_only_refuses_every_mutation(tmp_path):
    for kind in BACKENDS:
        url = store_url(kind, tmp_path / kind)
        async with open_store(url) as rw:
            v = await rw.create(make_record())
        async with open_store(url, read_only=True) as ro:
            rec = (await ro.get("3f9c2a7e1b8d4c60")).record
            with pytest.raises(Refused, match=r"^3f9c2a7e1b8d4c60: read-only mode"):
                await ro.replace(rec, v)
            with pytest.raises(Refused, match=r"^3f9c2a7e1b8d4c60: read-only mode"):
                await ro.create(make_record())
            with pytest.raises(Refused, match=r"^3f9c2a7e1b8d4c60: read-only mode"):
                await ro.append_events(rec.id, [ev(1)])
            with pytest.raises(Refused, match="read-only mode"):
                await ro.audit_append(audit(rec.id))
            with pytest.raises(Refused):
                await ro.acquire_lease(rec.id, "me", 30)


async def test_read_only_missing_store_creates_nothing(tmp_path):
    async with open_store(f"sqlite://{tmp_path / 'nope' / 'x.db'}", read_only=True) as s:
        assert await s.list_summaries() == ([], [])
    assert not (tmp_path / "nope").exists()


async def test_audit_append_and_list(store):
    await store.audit_append(audit("3f9c2a7e1b8d4c60", action="rehydrate"))
    await store.audit_append(audit("bbbbbbbbbbbbbbbb", action="import"))
    assert [e.action for e in await store.audit_list()] == ["rehydrate", "import"]
    assert [e.action for e in await store.audit_list("bbbbbbbbbbbbbbbb")] == ["import"]


async def test_concurrent_replaces_in_one_process_exactly_one_wins(store, sample_record):
    v = await store.create(sample_record)
    recs = []
    for st in ("ready", "failed", "wiped"):
        r = sample_record.model_copy(deep=True)
        r.status = st
        recs.append(r)
    results = await asyncio.gather(*(store.replace(r, v) for r in recs), return_exceptions=True)
    assert sum(isinstance(x, str) for x in results) == 1
    assert sum(isinstance(x, Conflict) for x in results) == 2


async def test_leases_sqlite(tmp_path):
    async with open_store(store_url("sqlite", tmp_path)) as s:
        assert s.supports_leases
        now = datetime(2026, 5, 4, 12, 0, tzinfo=timezone.utc)
        a = await s.acquire_lease("3f9c2a7e1b8d4c60", "proc-a", 30, now=now)
        assert a.held_by("proc-a") and a.expires == now + timedelta(seconds=30)
        b = await s.acquire_lease("3f9c2a7e1b8d4c60", "proc-b", 30, now=now + timedelta(seconds=10))
        assert b.held_by("proc-a")
        a2 = await s.acquire_lease("3f9c2a7e1b8d4c60", "proc-a", 30, now=now + timedelta(seconds=20))
        assert a2.held_by("proc-a") and a2.expires == now + timedelta(seconds=50)
        b2 = await s.acquire_lease("3f9c2a7e1b8d4c60", "proc-b", 30, now=now + timedelta(seconds=51))
        assert b2.held_by("proc-b")
        assert set(await s.leases()) == {"3f9c2a7e1b8d4c60"}
        await s.release_lease("3f9c2a7e1b8d4c60", "proc-a")  # not the holder: no effect
        assert (await s.leases())["3f9c2a7e1b8d4c60"].holder == "proc-b"
        await s.release_lease("3f9c2a7e1b8d4c60", "proc-b")
        assert await s.leases() == {}


async def test_leases_refused_on_directory(tmp_path):
    async with open_store(store_url("catalyst-dir", tmp_path)) as s:
        assert not s.supports_leases
        with pytest.raises(Refused, match="leases are not supported"):
            await s.acquire_lease("3f9c2a7e1b8d4c60", "me", 30)


async def test_replace_head_is_get_and_replace_without_reading_the_events(store, sample_record):
    """get_head + replace_head write exactly what get + (change, append) + replace would: same
    bytes, same summary; the stored events are kept, a stale version conflicts, the cap holds."""
    from catalyst_tui.domain.outcome import mark_phase1_done

    rid = sample_record.id
    await store.create(sample_record)
    await store.append_events(rid, [ev(1, phase="component", component="keycloak", state="installing")])
    head = await store.get_head(rid)
    full = await store.get(rid)
    assert head.version == full.version
    assert head.record.events is None or head.record.events == full.record.events  # (a backend may read them)
    # the same change both ways: the outcome, frozen component states, two new events
    a, b = head.record, full.record
    ev_a = mark_phase1_done(a, "ready", {"cilium": "installed", "keycloak": "installed"}, datetime(2026, 5, 4, 10, 0, tzinfo=timezone.utc))
    ev_b = mark_phase1_done(b, "ready", {"cilium": "installed", "keycloak": "installed"}, datetime(2026, 5, 4, 10, 0, tzinfo=timezone.utc))
    extra = [ev(7, phase="component", component="keycloak", state="installed")]
    b.append_events(extra + ev_b)
    v_new = await store.replace_head(a, head.version, extra + ev_a, audit=audit(rid, "phase1-done", "phase1-watching", "ready"))
    got = await store.get(rid)
    assert got.version == v_new
    assert to_catalyst_json(got.record) == to_catalyst_json(b)
    (s,), _ = await store.list_summaries()
    assert s.version == v_new and s.status == b.status and s.events_count == len(b.events)
    assert s.component_states == {"cilium": "installed", "keycloak": "installed"}  # frozen by the result
    assert s.last_event_time == b.events[-1].time
    assert [e.action for e in await store.audit_list(rid)] == ["phase1-done"]
    # a stale version conflicts and writes nothing
    with pytest.raises(Conflict, match="changed underneath"):
        await store.replace_head(a, head.version, [ev(8)])
    assert to_catalyst_json((await store.get(rid)).record) == to_catalyst_json(b)
    # nothing to append: the head only, the events untouched
    b2 = (await store.get_head(rid)).record
    b2.error = "patched"
    await store.replace_head(b2, v_new, [])
    after = (await store.get(rid)).record
    assert after.error == "patched" and after.events == b.events


async def test_replace_head_keeps_the_newest_10000_events(store, sample_record):
    from catalyst_tui.domain.record import EVENT_BUFFER_CAP

    rid = sample_record.id
    await store.create(sample_record)
    await store.append_events(rid, [ev(i % 50) for i in range(EVENT_BUFFER_CAP - 5)])
    new = [ev(1) for _ in range(10)]
    for i, e in enumerate(new):
        e.message = f"new {i}"
    before = (await store.get(rid)).record.events
    head = await store.get_head(rid)
    await store.replace_head(head.record, head.version, new)
    rec = (await store.get(rid)).record
    assert len(rec.events) == EVENT_BUFFER_CAP and rec.events[-1].message == "new 9"
    assert rec.events == (before + new)[-EVENT_BUFFER_CAP:]  # the oldest went, the newest stayed
    (s,), _ = await store.list_summaries()
    assert s.events_count == EVENT_BUFFER_CAP


async def test_get_head_and_replace_head_refuse_bad_input_and_write_nothing(store, sample_record):
    rid = sample_record.id
    v1 = await store.create(sample_record)
    before = to_catalyst_json((await store.get(rid)).record)
    with pytest.raises(RecordNotFound, match=r"^0000000000000000: no such record"):
        await store.get_head("0000000000000000")
    with pytest.raises(InvalidRecordId, match="invalid record id"):
        await store.get_head("../etc/passwd")
    head = (await store.get_head(rid)).record
    head.status = "ready"
    for bad in ("not-a-version", "", "9" * 40):
        with pytest.raises(Conflict) as err:
            await store.replace_head(head, bad, [ev(1)], audit=audit(rid))
        assert "\n" not in str(err.value) and rid in str(err.value)
    ghost = head.model_copy(update={"id": "0000000000000000"})
    with pytest.raises((RecordNotFound, Conflict)):
        await store.replace_head(ghost, v1, [ev(1)])
    assert to_catalyst_json((await store.get(rid)).record) == before
    assert (await store.get(rid)).version == v1
    assert await store.audit_list() == []
    assert [s.id for s in (await store.list_summaries())[0]] == [rid]


async def test_sqlite_get_head_of_an_unreadable_stored_record_says_so_in_one_line(tmp_path, sample_record):
    import sqlite3

    from catalyst_tui.store.common import UnreadableRecord

    db = tmp_path / "c.db"
    async with open_store(f"sqlite://{db}") as s:
        await s.create(sample_record)
    with sqlite3.connect(db) as c:
        c.execute("UPDATE records SET body = ? WHERE id = ?", ('{"id": "3f9c2a7e1b8d4c60", "status": 42', sample_record.id))
    async with open_store(f"sqlite://{db}") as s:
        with pytest.raises(UnreadableRecord) as err:
            await s.get_head(sample_record.id)
        assert str(err.value).startswith(f"{sample_record.id}: stored record unreadable") and "\n" not in str(err.value)
