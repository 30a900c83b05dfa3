"""The supervisor end to end: real stores, real kubernetes_asyncio client, the simulator over TCP."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import AsyncIterator
from urllib.parse import parse_qs, urlparse

import jwt
import pytest

from catalyst_tui.domain.components import states_from_events
from catalyst_tui.domain.outcome import Phase1Config
from catalyst_tui.domain.statuses import BOOTSTRAP_KIT
from catalyst_tui.handover.keys import HandoverSigner
from catalyst_tui.kube.simulator import KubeSimulator, helmrelease, set_ready
from catalyst_tui.kube.state import WatchPhase
from catalyst_tui.service.supervisor import Progress, SupervisorError, format_progress, run_watch
from catalyst_tui.store.urls import open_store

from .conftest import FAST, wait_for
from .support import FAST_PHASE1, IDS, CountingStore, make_record, make_supervisor, make_supervisor_thread

RID = IDS[0]


@pytest.fixture(scope="module")
def signer_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("keys") / "handover.pem"
    HandoverSigner.load_or_generate(path)
    return path


@pytest.fixture
def signer(signer_path: Path) -> HandoverSigner:
    return HandoverSigner.load_or_generate(signer_path)


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator:
    async with open_store(f"sqlite://{tmp_path / 'catalyst.db'}") as store:
        yield store


async def add_sovereign(sim: KubeSimulator, store, tmp_path: Path, rid: str = RID, *, status: str = "phase1-watching",
                        **rec_kw) -> Path:
    sim.add_cluster(rid)
    kc = sim.write_kubeconfig(rid, tmp_path / "kubeconfigs" / f"{rid}.yaml")
    await store.create(make_record(rid, kubeconfig=str(kc), status=status, **rec_kw))
    return kc


def component_events(rec) -> list:
    return [e for e in rec.event_list() if e.phase == "component" and e.component]


async def test_resume_install_ends_ready_and_fires_the_handover(sim: KubeSimulator, sqlite_store, tmp_path: Path,
                                                               signer: HandoverSigner) -> None:
    store = CountingStore(sqlite_store)
    await add_sovereign(sim, store, tmp_path)
    sup = make_supervisor(store, tmp_path, signer=signer)
    lines: list[Progress] = []
    sup.add_progress_listener(lines.append)
    changed = sup.subscribe()
    await sup.start()
    try:
        assert set(sup.statuses()) == {RID}
        await wait_for(lambda: sup.statuses()[RID].synced, 5, "synced")
        sim.play(RID, "install")
        await asyncio.wait_for(sup.wait_all_ended(), 10)
    finally:
        await sup.stop()
    rec = (await sqlite_store.get(RID)).record
    assert rec.status == "ready" and rec.error == ""
    res = rec.result
    assert res is not None
    assert res.phase1Outcome == "ready" and res.phase1FinishedAt and rec.finished is not None
    assert res.componentStates == {c: "installed" for c in BOOTSTRAP_KIT}
    assert res.phase1Substate == ""
    # catalyst-api's event shape, current state = last event per component
    comp = component_events(rec)
    assert states_from_events([e.model_dump() for e in comp]) == {c: "installed" for c in BOOTSTRAP_KIT}
    cp = [e for e in comp if e.component == "catalyst-platform"]
    assert cp[0].state == "pending" and cp[-1].state == "installed" and cp[-1].level == "info"
    assert cp[-1].dependsOn == ["crossplane", "spire", "nats-jetstream", "keycloak", "gitea"]
    assert all(e.time.endswith("Z") and len(e.time) == 20 for e in comp)
    # the handover fired once: URL, timestamp, the handover-ready event with catalyst-api's JSON message
    assert res.handoverFiredAt and res.handoverURL.startswith(f"https://console.{rec.fqdn}/auth/handover?token=")
    last = rec.event_list()[-1]
    assert last.phase == "handover-ready"
    msg = json.loads(last.message)
    assert msg["handoverURL"] == res.handoverURL and set(msg) == {"handoverURL", "expiresAt"}
    token = parse_qs(urlparse(res.handoverURL).query)["token"][0]
    claims = jwt.decode(token, signer._key.public_key(), algorithms=["RS256"], audience=f"https://console.{rec.fqdn}")
    assert claims["deployment_id"] == RID and claims["email"] == "ops@acme.example"
    assert "All 11 blueprints reconciled. Sovereign ready for handover." in [e.message for e in rec.event_list()]
    # batched: far fewer writes than events
    n_comp = len(comp)
    assert n_comp >= 33
    assert len(store.append_calls) <= n_comp // 3, store.append_calls
    # audit: the outcome and the auto-fire, never the token
    audit = await sqlite_store.audit_list(RID)
    actions = [a.action for a in audit]
    assert "phase1-done" in actions and "handover-auto-fire" in actions
    assert token not in json.dumps([a.to_json() for a in audit])
    # progress lines and change notifications
    assert any(p.kind == "outcome" and "ready" in p.text for p in lines)
    assert any(p.kind == "handover" for p in lines)
    assert token not in "\n".join(format_progress(p) for p in lines)
    assert not changed.empty() and changed.get_nowait() == RID
    # the lease was released
    assert await sqlite_store.leases() == {}
    status = sup.statuses()[RID]
    assert status.phase == WatchPhase.DONE and status.outcome == "ready"


async def test_failed_component_ends_failed_without_handover(sim: KubeSimulator, sqlite_store, tmp_path: Path,
                                                            signer: HandoverSigner) -> None:
    await add_sovereign(sim, sqlite_store, tmp_path)
    sim.cluster(RID)  # exists
    sup = make_supervisor(sqlite_store, tmp_path, signer=signer,
                          phase1=Phase1Config(late_poll_timeout=0.5, watch_timeout=6))
    await sup.start()
    try:
        await wait_for(lambda: sup.statuses()[RID].synced, 5)
        sim.play(RID, "fail")
        await asyncio.wait_for(sup.wait_all_ended(), 10)
    finally:
        await sup.stop()
    rec = (await sqlite_store.get(RID)).record
    assert rec.status == "failed"
    assert rec.error == "Phase 1 finished with 1 failed component(s); see ComponentStates for the per-component breakdown"
    assert rec.result is not None and rec.result.phase1Outcome == "failed"
    assert rec.result.componentStates["catalyst-platform"] == "failed"
    assert not rec.result.handoverFiredAt and not rec.result.handoverURL
    failed_ev = [e for e in component_events(rec) if e.state == "failed"]
    assert failed_ev and failed_ev[0].level == "error"
    late = [e for e in rec.event_list() if "late poll" in e.message]
    assert len(late) == 1 and late[0].level == "warn"


async def test_late_poll_recovery_ends_ready(sim: KubeSimulator, sqlite_store, tmp_path: Path) -> None:
    await add_sovereign(sim, sqlite_store, tmp_path)
    sup = make_supervisor(sqlite_store, tmp_path)
    await sup.start()
    try:
        await wait_for(lambda: sup.statuses()[RID].synced, 5)
        sim.play(RID, "late-recovery")
        await asyncio.wait_for(sup.wait_all_ended(), 10)
    finally:
        await sup.stop()
    rec = (await sqlite_store.get(RID)).record
    assert rec.status == "ready" and rec.result is not None and rec.result.phase1Outcome == "ready"
    cp = [e.state for e in component_events(rec) if e.component == "catalyst-platform"]
    assert cp[-3:] == ["failed", "installing", "installed"]
    assert not rec.result.handoverFiredAt  # no signer configured: catalyst-api's no-op


async def test_never_reconciles_ends_flux_not_reconciling(sim: KubeSimulator, sqlite_store, tmp_path: Path) -> None:
    await add_sovereign(sim, sqlite_store, tmp_path)
    sim.play(RID, "never-reconciles")
    sup = make_supervisor(sqlite_store, tmp_path, phase1=Phase1Config(watch_timeout=1.2, first_seen_timeout=0.4))
    await sup.start()
    try:
        await asyncio.wait_for(sup.wait_all_ended(), 10)
    finally:
        await sup.stop()
    rec = (await sqlite_store.get(RID)).record
    assert rec.status == "failed" and rec.result is not None
    assert rec.result.phase1Outcome == "flux-not-reconciling"
    assert rec.error.startswith("Phase 1 watch saw zero HelmReleases")
    assert rec.result.componentStates is None
    msgs = [e.message for e in rec.event_list()]
    assert sum(1 for m in msgs if m.startswith("Phase 1 watch saw 0 HelmReleases in 400ms")) == 1
    assert any(m.startswith("Phase-1 watch terminated by context: context deadline exceeded") for m in msgs)


async def test_cluster_already_installed_resumes_straight_to_ready(sim: KubeSimulator, sqlite_store, tmp_path: Path,
                                                                   signer: HandoverSigner) -> None:
    """The otech102 case: the Pod rolled mid-Phase-1, the cluster finished meanwhile."""
    await add_sovereign(sim, sqlite_store, tmp_path)
    cluster = sim.cluster(RID)
    for comp in BOOTSTRAP_KIT:
        cluster.apply(set_ready(helmrelease(f"bp-{comp}"), "True", "InstallSucceeded", "Helm install succeeded"))
    sup = make_supervisor(sqlite_store, tmp_path, signer=signer)
    await sup.start()
    try:
        await asyncio.wait_for(sup.wait_all_ended(), 5)
    finally:
        await sup.stop()
    rec = (await sqlite_store.get(RID)).record
    assert rec.status == "ready" and rec.result is not None and rec.result.handoverURL
    assert len(component_events(rec)) == 11  # one per component: first sight after the resume


async def test_restart_rules_rewrite_and_skip(sim: KubeSimulator, sqlite_store, tmp_path: Path) -> None:
    await sqlite_store.create(make_record(IDS[1], kubeconfig=None, status="tofu-applying"))
    await sqlite_store.create(make_record(IDS[2], kubeconfig=str(tmp_path / "gone.yaml")))  # stale
    await sqlite_store.create(make_record(IDS[3], kubeconfig="/x", status="ready", phase1FinishedAt="2026-05-04T09:31:12Z"))
    sup = make_supervisor(sqlite_store, tmp_path)
    await sup.start()
    try:
        assert sup.statuses() == {}
        assert await asyncio.wait_for(sup.wait_all_ended(), 1) is None
    finally:
        await sup.stop()
    rewritten = (await sqlite_store.get(IDS[1])).record
    assert rewritten.status == "failed" and "catalyst-api restarted during provisioning" in rewritten.error
    stale = (await sqlite_store.get(IDS[2])).record
    assert stale.status == "phase1-watching"
    assert sup.rehydrated[IDS[2]].stale
    assert IDS[3] not in sup.rehydrated  # finished: nothing to do, not even loaded
    assert [a.action for a in await sqlite_store.audit_list(IDS[1])] == ["rehydrate"]


async def test_ready_record_without_phase1_finished_is_resumed_and_persisted(sim: KubeSimulator, sqlite_store, tmp_path: Path) -> None:
    await add_sovereign(sim, sqlite_store, tmp_path, status="ready")
    sup = make_supervisor(sqlite_store, tmp_path)
    await sup.start()
    try:
        rec = (await sqlite_store.get(RID)).record
        assert rec.status == "phase1-watching"  # resumePhase1Watch flips it, persisted at once
        assert [a.action for a in await sqlite_store.audit_list(RID)] == ["rehydrate"]
    finally:
        await sup.stop()


async def test_read_only_writes_nothing_but_shows_live_state(sim: KubeSimulator, tmp_path: Path) -> None:
    db = tmp_path / "catalyst.db"
    async with open_store(f"sqlite://{db}") as rw:
        await add_sovereign(sim, rw, tmp_path)
        before = await rw.get(RID)
    async with open_store(f"sqlite://{db}", read_only=True) as ro:
        sup = make_supervisor(ro, tmp_path)
        await sup.start()
        try:
            sim.play(RID, "install")
            await asyncio.wait_for(sup.wait_all_ended(), 10)
            st = sup.statuses()[RID]
            assert st.observe_only and st.outcome == "ready" and len(st.components) == 11
        finally:
            await sup.stop()
        after = await ro.get(RID)
    assert after.version == before.version and after.record == before.record


async def test_directory_store_observe_only_by_default_then_take_over(sim: KubeSimulator, tmp_path: Path) -> None:
    ddir = tmp_path / "deployments"
    async with open_store(f"catalyst-dir://{ddir}") as store:
        await add_sovereign(sim, store, tmp_path)
        path = ddir / f"{RID}.json"
        original = path.read_bytes()
        sup = make_supervisor(store, tmp_path)
        await sup.start()
        try:
            await wait_for(lambda: sup.statuses()[RID].synced, 5)
            st = sup.statuses()[RID]
            assert st.observe_only and st.lease_holder is None
            sim.play(RID, "install")
            await wait_for(lambda: len(st.components) == 11, 5)
            await asyncio.sleep(0.3)
            assert path.read_bytes() == original  # catalyst-api's file untouched
            await sup.take_over(RID)
            assert not st.observe_only
            await asyncio.wait_for(sup.wait_all_ended(), 10)
        finally:
            await sup.stop()
        rec = (await store.get(RID)).record
        assert rec.status == "ready"
        assert "take-over" in [a.action for a in await store.audit_list(RID)]


async def test_directory_store_take_over_flag(sim: KubeSimulator, tmp_path: Path) -> None:
    async with open_store(f"catalyst-dir://{tmp_path / 'deployments'}") as store:
        await add_sovereign(sim, store, tmp_path)
        sup = make_supervisor(store, tmp_path, take_over=True)
        await sup.start()
        try:
            assert not sup.statuses()[RID].observe_only
            sim.play(RID, "install")
            await asyncio.wait_for(sup.wait_all_ended(), 10)
        finally:
            await sup.stop()
        rec = (await store.get(RID)).record
        assert rec.status == "ready"
        actions = [a.action for a in await store.audit_list(RID)]
        assert actions.count("take-over") == 1 and "phase1-done" in actions


async def test_token_rotation_is_visible_and_times_out_failed(sim: KubeSimulator, sqlite_store, tmp_path: Path) -> None:
    await add_sovereign(sim, sqlite_store, tmp_path)
    sup = make_supervisor(sqlite_store, tmp_path, phase1=Phase1Config(watch_timeout=1.2, first_seen_timeout=5))
    await sup.start()
    try:
        await wait_for(lambda: sup.statuses()[RID].synced, 5)
        sim.play(RID, "token-rotation")
        await wait_for(lambda: sup.statuses()[RID].phase == WatchPhase.ERROR, 5, "ERROR")
        assert sup.statuses()[RID].reason.startswith("401 Unauthorized")
        await asyncio.sleep(0.3)
        rec = (await sqlite_store.get(RID)).record
        assert rec.result is not None and rec.result.phase1Substate == "watcher-reconnecting"
        await asyncio.wait_for(sup.wait_all_ended(), 10)
    finally:
        await sup.stop()
    rec = (await sqlite_store.get(RID)).record
    assert rec.status == "failed" and rec.result is not None and rec.result.phase1Outcome == "timeout"
    assert "timed out before convergence" in rec.error
    assert any(e.level == "error" and e.message.startswith("401 Unauthorized") for e in rec.event_list())


async def test_two_sovereigns_concurrently_and_a_broken_one(sim: KubeSimulator, sqlite_store, tmp_path: Path) -> None:
    await add_sovereign(sim, sqlite_store, tmp_path, IDS[0])
    await add_sovereign(sim, sqlite_store, tmp_path, IDS[1])
    bad_kc = tmp_path / "kubeconfigs" / f"{IDS[2]}.yaml"
    bad_kc.write_text("clusters: [\n")
    await sqlite_store.create(make_record(IDS[2], kubeconfig=str(bad_kc)))
    sup = make_supervisor(sqlite_store, tmp_path, phase1=Phase1Config(late_poll_timeout=0.2, watch_timeout=4))
    await sup.start()
    try:
        await wait_for(lambda: all(sup.statuses()[i].synced for i in IDS[:2]), 5)
        sim.play(IDS[0], "install")
        sim.play(IDS[1], "fail")
        await wait_for(lambda: sup.statuses()[IDS[2]].phase == WatchPhase.ERROR, 5)
        assert "not YAML" in sup.statuses()[IDS[2]].reason
        await wait_for(lambda: not ({IDS[0], IDS[1]} & sup.active), 10, "both ended")
        assert IDS[2] in sup.active
    finally:
        await sup.stop()
    a = (await sqlite_store.get(IDS[0])).record
    b = (await sqlite_store.get(IDS[1])).record
    c = (await sqlite_store.get(IDS[2])).record
    assert a.status == "ready" and b.status == "failed"
    assert {e.component for e in component_events(a)} == set(BOOTSTRAP_KIT)
    assert "failed" not in {e.state for e in component_events(a)}
    assert any(e.level == "error" and "not YAML" in e.message for e in c.event_list())
    assert c.status == "phase1-watching"


async def test_stop_flushes_pending_and_releases_the_lease(sim: KubeSimulator, sqlite_store, tmp_path: Path) -> None:
    await add_sovereign(sim, sqlite_store, tmp_path)
    sup = make_supervisor(sqlite_store, tmp_path, flush_interval=30.0)  # nothing flushes by itself
    await sup.start()
    await wait_for(lambda: sup.statuses()[RID].synced, 5)
    assert RID in await sqlite_store.leases()
    sim.play(RID, "install")
    await wait_for(lambda: len(sup.statuses()[RID].components) == 11, 5)
    shown = dict(sup.statuses()[RID].components)
    await sup.stop()
    rec = (await sqlite_store.get(RID)).record
    written = states_from_events([e.model_dump() for e in component_events(rec)])
    assert set(written) == set(shown)  # everything seen reached the store at stop
    assert await sqlite_store.leases() == {}
    assert sup.statuses()[RID].phase == WatchPhase.DONE


@pytest.mark.parametrize("own_thread", [False, True], ids=["same-loop", "own-thread"])
async def test_reattach_stop_watcher_and_errors(sim: KubeSimulator, sqlite_store, tmp_path: Path, own_thread: bool) -> None:
    """The operator's watcher actions, on the caller's loop and (as the dashboard runs them) on
    the supervisor's own thread: the same results, the same errors."""
    await add_sovereign(sim, sqlite_store, tmp_path)
    await sqlite_store.create(make_record(IDS[1], kubeconfig=str(tmp_path / "missing.yaml")))
    sup = make_supervisor_thread(sqlite_store, tmp_path) if own_thread else make_supervisor(sqlite_store, tmp_path)
    await sup.start()
    try:
        await wait_for(lambda: sup.statuses()[RID].synced, 5)
        await sup.stop_watcher(RID)
        assert sup.statuses()[RID].phase == WatchPhase.DONE and RID not in sup.active
        assert RID not in await sqlite_store.leases()
        with pytest.raises(SupervisorError):
            await sup.stop_watcher(RID)
        decision = await sup.reattach(RID)
        assert decision.resume and RID in sup.active
        await wait_for(lambda: sup.statuses()[RID].synced, 5)
        with pytest.raises(SupervisorError) as err:
            await sup.reattach(IDS[1])
        assert IDS[1] in str(err.value) and "no kubeconfig" in str(err.value) and "\n" not in str(err.value)
    finally:
        await sup.stop()
    actions = [a.action for a in await sqlite_store.audit_list(RID)]
    assert "stop-watcher" in actions and "reattach" in actions
    if own_thread:
        with pytest.raises(SupervisorError, match="not running"):
            await sup.reattach(RID)


async def test_run_watch_prints_lines_and_exits(sim: KubeSimulator, sqlite_store, tmp_path: Path) -> None:
    await add_sovereign(sim, sqlite_store, tmp_path)
    sim.play(RID, "install")
    lines: list[str] = []
    code = await asyncio.wait_for(run_watch(
        sqlite_store, printer=lines.append, holder="cli", kubeconfigs_dir=str(tmp_path / "kubeconfigs"),
        phase1=FAST_PHASE1, watch=FAST, flush_interval=0.1), 15)
    assert code == 0
    text = "\n".join(lines)
    assert any("watching 1 Sovereign(s) (writing); 0 record(s) not resumed" in line for line in lines)
    assert f"{RID} s{RID[:4]}.omani.works cilium installed: " in text
    assert "Phase 1 ready: status ready" in text
    assert lines[-1].endswith("every resumed watch has ended")
    assert all("\x1b" not in line and "\n" not in line for line in lines)
    assert (await sqlite_store.get(RID)).record.status == "ready"


async def test_run_watch_follow_is_cancelled_cleanly(sim: KubeSimulator, sqlite_store, tmp_path: Path) -> None:
    await add_sovereign(sim, sqlite_store, tmp_path)
    lines: list[str] = []
    task = asyncio.create_task(run_watch(sqlite_store, follow=True, printer=lines.append, holder="cli",
                                         kubeconfigs_dir=str(tmp_path / "kubeconfigs"),
                                         watch=FAST))
    await wait_for(lambda: any("watching 1" in line for line in lines), 5)
    sim.play(RID, "install")
    await wait_for(lambda: any("cilium installed" in line for line in lines), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    rec = (await sqlite_store.get(RID)).record
    assert any(e.component == "cilium" and e.state == "installed" for e in rec.event_list())
    assert await sqlite_store.leases() == {}


async def test_run_watch_with_nothing_to_resume(sqlite_store, tmp_path: Path) -> None:
    lines: list[str] = []
    assert await run_watch(sqlite_store, printer=lines.append, kubeconfigs_dir=str(tmp_path)) == 0
    assert any("watching 0 Sovereign(s)" in line for line in lines)


async def test_observer_writes_the_outcome_when_the_holder_is_gone(sim: KubeSimulator, sqlite_store, tmp_path: Path) -> None:
    """The holder died after Phase 1 ended on the cluster but before writing: its lease expires and
    the observer, which saw the same outcome, writes it."""
    await add_sovereign(sim, sqlite_store, tmp_path)
    ghost = await sqlite_store.acquire_lease(RID, "ghost", 1.0)
    assert ghost.held_by("ghost")
    sup = make_supervisor(sqlite_store, tmp_path, lease_ttl=0.6)
    await sup.start()
    try:
        st = sup.statuses()[RID]
        assert st.observe_only and st.lease_holder == "ghost"
        sim.play(RID, "install")
        await wait_for(lambda: st.phase == WatchPhase.DONE and st.outcome == "ready", 5, "observed outcome")
        assert RID in sup.active  # not ended: waiting for the holder to write
        assert (await sqlite_store.get(RID)).record.status == "phase1-watching"
        await asyncio.wait_for(sup.wait_all_ended(), 5)
    finally:
        await sup.stop()
    rec = (await sqlite_store.get(RID)).record
    assert rec.status == "ready" and rec.result is not None and rec.result.phase1Outcome == "ready"
    assert {e.component for e in component_events(rec)} == set(BOOTSTRAP_KIT)
    assert [a.operator for a in await sqlite_store.audit_list(RID) if a.action == "phase1-done"] == ["test-holder"]


async def test_observer_ends_when_the_holder_writes(sim: KubeSimulator, tmp_path: Path) -> None:
    db = tmp_path / "catalyst.db"
    async with open_store(f"sqlite://{db}") as s1, open_store(f"sqlite://{db}") as s2:
        await add_sovereign(sim, s1, tmp_path)
        writer = make_supervisor(s1, tmp_path, holder="writer")
        observer = make_supervisor(s2, tmp_path, holder="observer")
        await writer.start()
        await observer.start()
        try:
            assert not writer.statuses()[RID].observe_only
            assert observer.statuses()[RID].lease_holder == "writer"
            sim.play(RID, "install")
            await asyncio.wait_for(writer.wait_all_ended(), 10)
            await asyncio.wait_for(observer.wait_all_ended(), 10)
        finally:
            await writer.stop()
            await observer.stop()
        rec = (await s1.get(RID)).record
        assert rec.status == "ready"
        comp = component_events(rec)
        assert len(comp) == len({(e.component, e.state) for e in comp})  # one writer: no duplicates
        assert [a.operator for a in await s1.audit_list(RID) if a.action == "phase1-done"] == ["writer"]


async def test_kubeconfig_broken_until_the_watch_timeout_is_watcher_start_failed(sqlite_store, tmp_path: Path) -> None:
    kc = tmp_path / "kubeconfigs" / f"{RID}.yaml"
    kc.parent.mkdir(parents=True)
    kc.write_text("current-context: nowhere\ncontexts: []\nclusters: []\n")
    await sqlite_store.create(make_record(RID, kubeconfig=str(kc)))
    sup = make_supervisor(sqlite_store, tmp_path, phase1=Phase1Config(watch_timeout=0.8, first_seen_timeout=5))
    await sup.start()
    try:
        await wait_for(lambda: sup.statuses()[RID].phase in (WatchPhase.ERROR, WatchPhase.DONE), 5)
        await asyncio.wait_for(sup.wait_all_ended(), 5)
    finally:
        await sup.stop()
    rec = (await sqlite_store.get(RID)).record
    assert rec.status == "failed" and rec.result is not None
    assert rec.result.phase1Outcome == "watcher-start-failed"
    assert rec.error.startswith("Phase 1 watch could not start")
    assert any(e.level == "error" and str(kc) in e.message for e in rec.event_list())


async def test_take_over_refused_while_another_lease_is_live_and_on_read_only(sim: KubeSimulator, tmp_path: Path) -> None:
    db = tmp_path / "catalyst.db"
    async with open_store(f"sqlite://{db}") as store:
        await add_sovereign(sim, store, tmp_path)
        await store.acquire_lease(RID, "someone-else", 30)
        sup = make_supervisor(store, tmp_path)
        await sup.start()
        try:
            assert sup.statuses()[RID].lease_holder == "someone-else"
            with pytest.raises(SupervisorError) as err:
                await sup.take_over(RID)
            assert "lease held by someone-else until" in str(err.value)
        finally:
            await sup.stop()
        await store.release_lease(RID, "someone-else")
    async with open_store(f"sqlite://{db}", read_only=True) as ro:
        sup = make_supervisor(ro, tmp_path)
        await sup.start()
        try:
            with pytest.raises(SupervisorError) as err:
                await sup.take_over(RID)
            assert "read-only" in str(err.value)
        finally:
            await sup.stop()


async def test_take_over_a_directory_record_that_was_not_watched(sim: KubeSimulator, tmp_path: Path) -> None:
    async with open_store(f"catalyst-dir://{tmp_path / 'deployments'}") as store:
        await add_sovereign(sim, store, tmp_path)
        sup = make_supervisor(store, tmp_path)
        await sup.start()
        try:
            await sup.stop_watcher(RID)
            await sup.take_over(RID)
            assert not sup.statuses()[RID].observe_only
            sim.play(RID, "install")
            await asyncio.wait_for(sup.wait_all_ended(), 10)
        finally:
            await sup.stop()
        assert (await store.get(RID)).record.status == "ready"
        actions = [a.action for a in await store.audit_list(RID)]
        assert "take-over" in actions and "phase1-done" in actions
