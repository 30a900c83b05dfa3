"""The HelmRelease watcher against the simulator, over TCP, with the real kubernetes_asyncio client."""

from __future__ import annotations

import asyncio
import gc
import subprocess
import sys
import warnings
from dataclasses import replace
from pathlib import Path

import pytest

from catalyst_tui.domain.statuses import BOOTSTRAP_KIT
from catalyst_tui.kube.simulator import DEFAULT_DEPENDS, SCENARIOS, KubeSimulator, helmrelease, set_ready
from catalyst_tui.kube.state import WatchPhase

from .conftest import FAST, Recorder, Running, make_watcher, wait_for


def all_in(rec: Recorder, state: str, comps=BOOTSTRAP_KIT) -> bool:
    s = rec.states()
    return all(s.get(c) == state for c in comps)


async def test_install_in_dependency_order(sim: KubeSimulator, tmp_path: Path) -> None:
    sim.add_cluster("c1")
    kc = sim.write_kubeconfig("c1", tmp_path / "c1.yaml")
    watcher, rec = make_watcher(kc)
    async with Running(watcher):
        await wait_for(lambda: watcher.status.synced, 5)
        sim.play("c1", "install")
        # while it waits, a dependant is pending with Flux's dependency message
        await wait_for(lambda: "gitea" in watcher.status.components, 5)
        gitea = watcher.status.components["gitea"]
        await wait_for(lambda: watcher.status.components["gitea"].message.startswith("dependency 'flux-system/bp-"), 5)
        assert rec.states()["gitea"] == "pending"
        await wait_for(lambda: all_in(rec, "installed"), 8, "all 11 installed")
        assert watcher.status.phase == WatchPhase.WATCHING
        assert watcher.status.synced and rec.synced == 1
    # every component was first seen pending and waited on its dependencies by message
    firsts = {}
    for comp, prev, new, msg in rec.transitions:
        firsts.setdefault(comp, (prev, new))
    assert set(firsts) == set(BOOTSTRAP_KIT)  # podinfo (no bp- prefix) ignored
    assert all(prev is None for prev, _ in firsts.values())
    installed_at = {c: i for i, (c, _p, n, _m) in enumerate(rec.transitions) if n == "installed"}
    for comp, deps in DEFAULT_DEPENDS.items():
        for dep in deps:
            assert installed_at[dep] < installed_at[comp], f"{comp} installed before its dependency {dep}"
    assert gitea.state.value == "pending"
    # no transition repeats a state (transitions only)
    last: dict[str, str] = {}
    for comp, prev, new, _ in rec.transitions:
        assert last.get(comp) == prev and prev != new
        last[comp] = new
    assert sim.cluster("c1").stats.list_requests == 1
    assert sim.cluster("c1").stats.last_watch_bookmarks is True
    assert watcher.status.components["cilium"].depends_on == ()
    assert watcher.status.components["catalyst-platform"].depends_on == DEFAULT_DEPENDS["catalyst-platform"]
    assert watcher.status.last_event_at is not None


async def test_failed_component(sim: KubeSimulator, tmp_path: Path) -> None:
    sim.add_cluster("c1")
    kc = sim.write_kubeconfig("c1", tmp_path / "c1.yaml")
    watcher, rec = make_watcher(kc)
    async with Running(watcher):
        await wait_for(lambda: watcher.status.synced, 5)
        sim.play("c1", "fail")
        await wait_for(lambda: rec.states().get("catalyst-platform") == "failed", 8, "catalyst-platform failed")
    states = rec.states()
    assert all(states[c] == "installed" for c in BOOTSTRAP_KIT if c != "catalyst-platform")
    d = watcher.status.components["catalyst-platform"]
    assert d.reason == "InstallFailed" and d.level == "error" and "context deadline exceeded" in d.message


async def test_late_recovery(sim: KubeSimulator, tmp_path: Path) -> None:
    sim.add_cluster("c1")
    kc = sim.write_kubeconfig("c1", tmp_path / "c1.yaml")
    watcher, rec = make_watcher(kc)
    async with Running(watcher):
        await wait_for(lambda: watcher.status.synced, 5)
        sim.play("c1", "late-recovery")
        await wait_for(lambda: all_in(rec, "installed") and any(n == "failed" for *_, n, _m in rec.transitions), 10,
                       "recovery")
    cp = [n for c, _p, n, _m in rec.transitions if c == "catalyst-platform"]
    assert cp[-3:] == ["failed", "installing", "installed"]


async def test_never_reconciles(sim: KubeSimulator, tmp_path: Path) -> None:
    sim.add_cluster("c1")
    kc = sim.write_kubeconfig("c1", tmp_path / "c1.yaml")
    watcher, rec = make_watcher(kc)
    async with Running(watcher):
        await wait_for(lambda: watcher.status.synced, 5)
        sim.play("c1", "never-reconciles")
        await wait_for(lambda: watcher.status.synced, 5, "synced")
        await asyncio.sleep(0.3)
    assert rec.transitions == [] and watcher.status.phase == WatchPhase.WATCHING


async def test_flapping_api_server_recovers(sim: KubeSimulator, tmp_path: Path) -> None:
    sim.add_cluster("c1")
    kc = sim.write_kubeconfig("c1", tmp_path / "c1.yaml")
    watcher, rec = make_watcher(kc)
    async with Running(watcher):
        await wait_for(lambda: watcher.status.synced, 5)
        sim.play("c1", "flapping", speed=40)  # outage windows long enough to be refused
        await wait_for(lambda: all_in(rec, "installed"), 10, "all installed despite flaps")
        await wait_for(lambda: watcher.status.phase == WatchPhase.WATCHING, 3, "watching again")
    levels = [lvl for lvl, _ in rec.events]
    assert "warn" in levels and any("reconnecting" in m for _, m in rec.events)
    assert any("re-established" in m for _, m in rec.events)
    assert sim.cluster("c1").stats.refused >= 1
    assert watcher.stats.reconnects >= 1


async def test_whole_server_down_then_back(sim: KubeSimulator, tmp_path: Path) -> None:
    c = sim.add_cluster("c1")
    kc = sim.write_kubeconfig("c1", tmp_path / "c1.yaml")
    c.apply(helmrelease("bp-cilium"))
    watcher, rec = make_watcher(kc)
    async with Running(watcher):
        await wait_for(lambda: watcher.status.synced, 5)
        restart = asyncio.create_task(sim.restart(0.5))
        await wait_for(lambda: watcher.status.phase == WatchPhase.RECONNECTING, 3, "reconnecting")
        assert "cannot connect" in watcher.status.reason or "closed" in watcher.status.reason or "broke" in watcher.status.reason
        await restart
        c.set_condition("bp-cilium", "True", "InstallSucceeded", "ok")
        await wait_for(lambda: rec.states().get("cilium") == "installed", 5, "event after restart")
    assert c.stats.list_requests == 1  # resumed from the resourceVersion, no relist


async def test_410_relists(sim: KubeSimulator, tmp_path: Path) -> None:
    c = sim.add_cluster("c1")
    kc = sim.write_kubeconfig("c1", tmp_path / "c1.yaml")
    c.apply(helmrelease("bp-cilium"))
    watcher, rec = make_watcher(kc)
    async with Running(watcher):
        await wait_for(lambda: watcher.status.synced and c.watches, 5)
        assert c.expire_watches() == 1
        await wait_for(lambda: c.stats.list_requests == 2, 5, "relist")
        c.set_condition("bp-cilium", "True", "InstallSucceeded", "ok")
        await wait_for(lambda: rec.states().get("cilium") == "installed", 5)
    assert watcher.stats.relists_410 == 1
    assert rec.synced == 1  # synced once; a relist is not a new sync


async def test_compacted_while_disconnected_gives_410_then_relist(sim: KubeSimulator, tmp_path: Path) -> None:
    c = sim.add_cluster("c1")
    kc = sim.write_kubeconfig("c1", tmp_path / "c1.yaml")
    c.apply(helmrelease("bp-cilium"))
    watcher, rec = make_watcher(kc)
    async with Running(watcher):
        await wait_for(lambda: watcher.status.synced and c.watches, 5)
        c.set_unreachable(True)
        c.set_condition("bp-cilium", "True", "InstallSucceeded", "ok")
        c.compact()
        await asyncio.sleep(0.2)
        c.set_unreachable(False)
        await wait_for(lambda: rec.states().get("cilium") == "installed", 5, "state via relist")
    assert c.stats.list_requests == 2 and watcher.stats.relists_410 == 1


async def test_clean_close_resumes_from_resource_version(sim: KubeSimulator, tmp_path: Path) -> None:
    c = sim.add_cluster("c1")
    kc = sim.write_kubeconfig("c1", tmp_path / "c1.yaml")
    c.apply(helmrelease("bp-cilium"))
    watcher, rec = make_watcher(kc)
    async with Running(watcher):
        await wait_for(lambda: watcher.status.synced and c.watches, 5)
        c.set_condition("bp-cilium", "Unknown", "Progressing", "installing")
        await wait_for(lambda: rec.states().get("cilium") == "installing", 5)
        rv = watcher.resource_version
        assert c.close_watches() == 1
        await wait_for(lambda: c.stats.watch_requests >= 2 and c.watches, 5, "second watch")
        c.set_condition("bp-cilium", "True", "InstallSucceeded", "ok")
        await wait_for(lambda: rec.states().get("cilium") == "installed", 5)
    assert c.stats.list_requests == 1
    assert c.stats.watch_resource_versions[1] == rv
    assert not rec.events  # a clean close is routine, not an incident


async def test_server_timeout_resumes_without_relist(sim: KubeSimulator, tmp_path: Path) -> None:
    c = sim.add_cluster("c1")
    kc = sim.write_kubeconfig("c1", tmp_path / "c1.yaml")
    c.apply(helmrelease("bp-cilium"))
    watcher, rec = make_watcher(kc, config=replace(FAST, timeout_seconds=1))
    async with Running(watcher):
        await wait_for(lambda: c.stats.watch_requests >= 2, 6, "two watch requests")
    assert c.stats.list_requests == 1
    assert c.stats.last_watch_timeout == 1
    assert all(rv for rv in c.stats.watch_resource_versions)


async def test_dropped_connection_resumes(sim: KubeSimulator, tmp_path: Path) -> None:
    c = sim.add_cluster("c1")
    kc = sim.write_kubeconfig("c1", tmp_path / "c1.yaml")
    c.apply(helmrelease("bp-cilium"))
    watcher, rec = make_watcher(kc)
    async with Running(watcher):
        await wait_for(lambda: watcher.status.synced and c.watches, 5)
        assert c.drop_watches() == 1
        await wait_for(lambda: c.stats.watch_requests >= 2 and c.watches, 5, "reconnected")
        c.set_condition("bp-cilium", "True", "InstallSucceeded", "ok")
        await wait_for(lambda: rec.states().get("cilium") == "installed", 5)
        await wait_for(lambda: watcher.status.phase == WatchPhase.WATCHING, 2)
    assert c.stats.list_requests == 1
    assert any("broke off" in m for _, m in rec.events)


async def test_half_open_stream_times_out_and_reconnects(sim: KubeSimulator, tmp_path: Path) -> None:
    c = sim.add_cluster("c1")
    kc = sim.write_kubeconfig("c1", tmp_path / "c1.yaml")
    c.apply(helmrelease("bp-cilium"))
    cfg = replace(FAST, timeout_seconds=1, read_grace=0.5)
    watcher, rec = make_watcher(kc, config=cfg)
    async with Running(watcher):
        await wait_for(lambda: watcher.status.synced and c.watches, 5)
        assert c.stall_watches() == 1
        c.set_condition("bp-cilium", "True", "InstallSucceeded", "ok")  # lost on the stalled stream
        await wait_for(lambda: rec.states().get("cilium") == "installed", 5, "update after the read timeout")
    assert watcher.stats.read_timeouts == 1
    assert any("half-open" in m for _, m in rec.events)
    assert c.stats.list_requests == 1


async def test_token_rotation_gives_error_state_then_recovers_with_new_kubeconfig(sim: KubeSimulator, tmp_path: Path) -> None:
    c = sim.add_cluster("c1")
    kc = sim.write_kubeconfig("c1", tmp_path / "c1.yaml")
    c.apply(helmrelease("bp-cilium"))
    watcher, rec = make_watcher(kc)
    async with Running(watcher):
        await wait_for(lambda: watcher.status.synced and c.watches, 5)
        new = c.rotate_token()
        await wait_for(lambda: watcher.status.phase == WatchPhase.ERROR, 5, "ERROR after rotation")
        assert watcher.status.reason.startswith("401 Unauthorized")
        assert ("error", watcher.status.reason) in rec.events
        assert new not in watcher.status.reason
        await asyncio.sleep(0.7)  # retried less often, still ERROR, still one event
        assert watcher.status.phase == WatchPhase.ERROR
        assert sum(1 for lvl, _ in rec.events if lvl == "error") == 1
        # the operator fixes the kubeconfig: the watcher re-reads it on its next retry
        sim.write_kubeconfig("c1", kc)
        c.set_condition("bp-cilium", "True", "InstallSucceeded", "ok")
        await wait_for(lambda: rec.states().get("cilium") == "installed", 5, "recovered")
        assert watcher.status.phase == WatchPhase.WATCHING


async def test_forbidden_is_an_error_state(sim: KubeSimulator, tmp_path: Path) -> None:
    c = sim.add_cluster("c1")
    c.forbidden = True
    kc = sim.write_kubeconfig("c1", tmp_path / "c1.yaml")
    watcher, rec = make_watcher(kc)
    async with Running(watcher):
        await wait_for(lambda: watcher.status.phase == WatchPhase.ERROR, 5)
    assert watcher.status.reason.startswith("403 Forbidden")


async def test_crds_absent_is_an_error_state(sim: KubeSimulator, tmp_path: Path) -> None:
    c = sim.add_cluster("c1")
    c.crd_installed = False
    kc = sim.write_kubeconfig("c1", tmp_path / "c1.yaml")
    watcher, rec = make_watcher(kc)
    async with Running(watcher):
        await wait_for(lambda: watcher.status.phase == WatchPhase.ERROR, 5)
    assert "404" in watcher.status.reason and "CRDs" in watcher.status.reason


async def test_garbage_line_is_a_watcher_error_and_others_go_on(sim: KubeSimulator, tmp_path: Path) -> None:
    a, b = sim.add_cluster("a"), sim.add_cluster("b")
    wa, ra = make_watcher(sim.write_kubeconfig("a", tmp_path / "a.yaml"), record_id="a")
    wb, rb = make_watcher(sim.write_kubeconfig("b", tmp_path / "b.yaml"), record_id="b")
    for c in (a, b):
        c.apply(helmrelease("bp-cilium"))
    async with Running(wa), Running(wb):
        await wait_for(lambda: a.watches and b.watches, 5)
        a.inject_garbage()
        await wait_for(lambda: any(lvl == "error" for lvl, _ in ra.events), 5, "garbage event")
        b.set_condition("bp-cilium", "True", "InstallSucceeded", "ok")
        a.set_condition("bp-cilium", "True", "InstallSucceeded", "ok")
        await wait_for(lambda: rb.states().get("cilium") == "installed", 5)
        await wait_for(lambda: ra.states().get("cilium") == "installed", 5)
    msg = next(m for lvl, m in ra.events if lvl == "error")
    assert "non-JSON line" in msg and "502 Bad Gateway" in msg and "\n" not in msg
    assert wa.stats.garbage == 1 and not rb.events
    assert a.stats.list_requests == 1  # resumed from the resourceVersion


@pytest.mark.parametrize("status,expect_phase,needle", [
    (500, WatchPhase.RECONNECTING, "HTTP 500 with a plain-text body"),
    (401, WatchPhase.ERROR, "401 Unauthorized (plain-text body"),
])
async def test_plain_text_error_body(sim: KubeSimulator, tmp_path: Path, status: int, expect_phase: WatchPhase, needle: str) -> None:
    c = sim.add_cluster("c1")
    kc = sim.write_kubeconfig("c1", tmp_path / "c1.yaml")
    c.apply(helmrelease("bp-cilium"))
    watcher, rec = make_watcher(kc, config=replace(FAST, error_retry=5.0, backoff_initial=2.0))
    async with Running(watcher):
        await wait_for(lambda: watcher.status.synced and c.watches, 5)
        c.fail_next_watches(1, kind="plain", status=status, body="Upstream says no")
        c.close_watches()
        await wait_for(lambda: watcher.status.phase == expect_phase, 5, f"{expect_phase}")
    assert needle in watcher.status.reason or any(needle in m for _, m in rec.events)
    assert any(lvl == "error" for lvl, _ in rec.events)


async def test_plain_text_500_recovers(sim: KubeSimulator, tmp_path: Path) -> None:
    c = sim.add_cluster("c1")
    kc = sim.write_kubeconfig("c1", tmp_path / "c1.yaml")
    c.apply(helmrelease("bp-cilium"))
    watcher, rec = make_watcher(kc)
    async with Running(watcher):
        await wait_for(lambda: watcher.status.synced and c.watches, 5)
        c.fail_next_watches(2, kind="plain", status=500)
        c.fail_next_lists(1, kind="plain", status=500)
        c.close_watches()
        await wait_for(lambda: c.stats.watch_requests >= 4 and c.watches, 5)
        c.set_condition("bp-cilium", "True", "InstallSucceeded", "ok")
        await wait_for(lambda: rec.states().get("cilium") == "installed", 5)
    assert watcher.status.phase == WatchPhase.WATCHING


async def test_410_storm(sim: KubeSimulator, tmp_path: Path) -> None:
    c = sim.add_cluster("c1")
    kc = sim.write_kubeconfig("c1", tmp_path / "c1.yaml")
    c.apply(helmrelease("bp-cilium"))
    watcher, rec = make_watcher(kc)
    async with Running(watcher):
        await wait_for(lambda: watcher.status.synced and c.watches, 5)
        c.storm_410(6)
        c.expire_watches()
        await wait_for(lambda: watcher.stats.relists_410 >= 7 and c.watches, 8, "storm over")
        c.set_condition("bp-cilium", "True", "InstallSucceeded", "ok")
        await wait_for(lambda: rec.states().get("cilium") == "installed", 5)
        await wait_for(lambda: watcher.status.phase == WatchPhase.WATCHING, 2)
    assert c.stats.list_requests == 8
    assert any("410 Gone" in m for _, m in rec.events)


async def test_two_clusters_no_crosstalk(sim: KubeSimulator, tmp_path: Path) -> None:
    sim.add_cluster("a")
    sim.add_cluster("b")
    ka = sim.write_kubeconfig("a", tmp_path / "a.yaml")
    kb = sim.write_kubeconfig("b", tmp_path / "b.yaml")
    sim.play("a", "install")
    sim.play("b", SCENARIOS["fail"].with_(fail="gitea"))
    wa, ra = make_watcher(ka, record_id="a")
    wb, rb = make_watcher(kb, record_id="b")
    async with Running(wa), Running(wb):
        await wait_for(lambda: all_in(ra, "installed"), 8, "a installed")
        await wait_for(lambda: rb.states().get("gitea") == "failed", 8, "b gitea failed")
    assert "failed" not in ra.states().values()
    assert rb.states()["catalyst-platform"] == "pending"  # waits on the failed gitea forever
    # a's token does not open b
    from catalyst_tui.kube.simulator import write_kubeconfig
    cross = write_kubeconfig(tmp_path / "cross.yaml", server=sim.server_url("b"), token=sim.cluster("a").token, name="x")
    wx, rx = make_watcher(cross, record_id="x")
    async with Running(wx):
        await wait_for(lambda: wx.status.phase == WatchPhase.ERROR, 5)
    assert rx.transitions == []


async def test_deleted_release_keeps_last_state(sim: KubeSimulator, tmp_path: Path) -> None:
    c = sim.add_cluster("c1")
    kc = sim.write_kubeconfig("c1", tmp_path / "c1.yaml")
    c.apply(set_ready(helmrelease("bp-cilium"), "True", "InstallSucceeded", "ok"))
    watcher, rec = make_watcher(kc)
    async with Running(watcher):
        await wait_for(lambda: rec.states().get("cilium") == "installed" and c.watches, 5)
        c.delete("bp-cilium")
        await wait_for(lambda: watcher.stats.events >= 1, 5)
    assert rec.states() == {"cilium": "installed"}  # catalyst-api ignores deletes


async def test_cancel_mid_watch_leaks_nothing(sim: KubeSimulator, tmp_path: Path) -> None:
    c = sim.add_cluster("c1")
    kc = sim.write_kubeconfig("c1", tmp_path / "c1.yaml")
    sim.play("c1", "install")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            watcher, rec = make_watcher(kc)
            task = asyncio.create_task(watcher.run())
            await wait_for(lambda: c.watches, 5)
            await asyncio.sleep(0.05)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        gc.collect()
        await asyncio.sleep(0.05)
        gc.collect()
    leaks = [w for w in caught if issubclass(w.category, ResourceWarning) or "Unclosed" in str(w.message)]
    assert leaks == []


def test_importing_the_watcher_does_not_import_kubernetes_asyncio() -> None:
    code = (
        "import sys\n"
        "import catalyst_tui.kube.watcher, catalyst_tui.kube.kubeconfig, catalyst_tui.kube.simulator\n"
        "import catalyst_tui.kube.state\n"
        "assert 'kubernetes_asyncio' not in sys.modules, sorted(m for m in sys.modules if m.startswith('kubernetes'))\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    import random

    cfg = replace(FAST, backoff_initial=0.5, backoff_factor=2.0, backoff_max=8.0, jitter=0.5)
    watcher, _ = make_watcher("unused.yaml", config=cfg)
    watcher.rng = random.Random(7)
    delays = [watcher._backoff() for _ in range(8)]
    bases = [0.5, 1, 2, 4, 8, 8, 8, 8]
    for d, base in zip(delays, bases):
        assert base * 0.5 <= d <= base
    assert len(set(delays)) == len(delays)  # jittered
    watcher._healthy()
    assert watcher._backoff() <= 0.5  # reset once data flows
    assert 0.3 * 0.75 <= watcher._error_delay() <= 0.3  # errors retry on their own, slower clock
