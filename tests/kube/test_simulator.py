"""The simulator speaks the API server's protocol (checked with a raw HTTP client, no kube library)."""

from __future__ import annotations

import json
import os
import stat
import time
import urllib.error
import urllib.request
from pathlib import Path

import aiohttp
import pytest
import yaml

from catalyst_tui.kube.simulator import (
    SCENARIOS,
    KubeSimulator,
    Scenario,
    ThreadedSimulator,
    add_fleet,
    helmrelease,
    parse_go_bool,
    scenario_length,
    scenario_timeline,
)

HR_PATH = "/apis/helm.toolkit.fluxcd.io/v2/namespaces/flux-system/helmreleases"


async def lines(resp: aiohttp.ClientResponse) -> list[dict]:
    out = []
    async for raw in resp.content:
        if raw.strip():
            out.append(json.loads(raw))
    return out


@pytest.fixture
async def client():
    async with aiohttp.ClientSession() as s:
        yield s


def auth(sim: KubeSimulator, cid: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {sim.cluster(cid).token}"}


@pytest.mark.parametrize("value", ["1", "t", "T", "true", "TRUE", "True"])
async def test_go_booleans_start_a_watch(sim: KubeSimulator, client: aiohttp.ClientSession, value: str) -> None:
    c = sim.add_cluster("c1")
    c.apply(helmrelease("bp-cilium"))
    url = sim.server_url("c1") + HR_PATH
    async with client.get(url, params={"watch": value, "timeoutSeconds": "0.2"}, headers=auth(sim, "c1")) as resp:
        assert resp.status == 200
        events = await lines(resp)
    assert [e["type"] for e in events] == ["ADDED"]
    assert events[0]["object"]["metadata"]["name"] == "bp-cilium"


@pytest.mark.parametrize("value", ["0", "f", "F", "false", "FALSE", "False"])
async def test_go_false_is_a_list(sim: KubeSimulator, client: aiohttp.ClientSession, value: str) -> None:
    c = sim.add_cluster("c1")
    c.apply(helmrelease("bp-cilium"))
    async with client.get(sim.server_url("c1") + HR_PATH, params={"watch": value}, headers=auth(sim, "c1")) as resp:
        body = await resp.json()
    assert body["kind"] == "HelmReleaseList"
    assert body["metadata"]["resourceVersion"] == str(c.resource_version)
    assert [i["metadata"]["name"] for i in body["items"]] == ["bp-cilium"]


def test_parse_go_bool_rejects_others() -> None:
    for bad in ("yes", "", "tRUE", "2"):
        with pytest.raises(ValueError):
            parse_go_bool(bad)


async def test_bad_bool_is_400_status(sim: KubeSimulator, client: aiohttp.ClientSession) -> None:
    sim.add_cluster("c1")
    async with client.get(sim.server_url("c1") + HR_PATH, params={"watch": "yes"}, headers=auth(sim, "c1")) as resp:
        assert resp.status == 400
        body = json.loads(await resp.text())
    assert body["kind"] == "Status" and body["code"] == 400


async def test_unauthorized_is_one_line_status_json(sim: KubeSimulator, client: aiohttp.ClientSession) -> None:
    sim.add_cluster("c1")
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        async with client.get(sim.server_url("c1") + HR_PATH, headers=headers) as resp:
            text = await resp.text()
            assert resp.status == 401
        assert "\n" not in text.strip()
        body = json.loads(text)
        assert body == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                        "message": "Unauthorized", "reason": "Unauthorized", "code": 401}
    assert sim.cluster("c1").stats.unauthorized == 2


async def test_unknown_cluster_and_resource_are_404(sim: KubeSimulator, client: aiohttp.ClientSession) -> None:
    sim.add_cluster("c1")
    async with client.get(sim.server_url("nope") + HR_PATH) as resp:
        assert resp.status == 404 and (await resp.json())["reason"] == "NotFound"
    path = "/apis/helm.toolkit.fluxcd.io/v2beta1/namespaces/flux-system/helmreleases"
    async with client.get(sim.server_url("c1") + path, headers=auth(sim, "c1")) as resp:
        assert resp.status == 404


async def test_bookmarks_only_when_asked(client: aiohttp.ClientSession) -> None:
    async with KubeSimulator(bookmark_interval=0.1) as sim:
        sim.add_cluster("c1")
        url = sim.server_url("c1") + HR_PATH
        for flag, expect in (("true", True), ("false", False), (None, False)):
            params = {"watch": "1", "timeoutSeconds": "0.3"}
            if flag is not None:
                params["allowWatchBookmarks"] = flag
            started = time.monotonic()
            async with client.get(url, params=params, headers=auth(sim, "c1")) as resp:
                events = await lines(resp)
            assert 0.25 < time.monotonic() - started < 2.0  # timeoutSeconds ends the stream
            bookmarks = [e for e in events if e["type"] == "BOOKMARK"]
            assert bool(bookmarks) is expect
            for b in bookmarks:
                assert b["object"]["metadata"] == {"resourceVersion": str(sim.cluster("c1").resource_version)}


async def test_watch_replays_history_after_resource_version(sim: KubeSimulator, client: aiohttp.ClientSession) -> None:
    c = sim.add_cluster("c1")
    c.apply(helmrelease("bp-cilium"))
    rv = c.resource_version
    c.set_condition("bp-cilium", "Unknown", "Progressing", "x")
    c.apply(helmrelease("bp-flux"))
    c.delete("bp-flux")
    params = {"watch": "true", "resourceVersion": str(rv), "timeoutSeconds": "0.2"}
    async with client.get(sim.server_url("c1") + HR_PATH, params=params, headers=auth(sim, "c1")) as resp:
        events = await lines(resp)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("MODIFIED", "bp-cilium"), ("ADDED", "bp-flux"), ("DELETED", "bp-flux")]
    rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert rvs == sorted(rvs) and rvs[0] > rv


async def test_compacted_resource_version_gets_410_error_event(sim: KubeSimulator, client: aiohttp.ClientSession) -> None:
    c = sim.add_cluster("c1")
    c.apply(helmrelease("bp-cilium"))
    old = c.resource_version - 1
    c.compact()
    params = {"watch": "true", "resourceVersion": str(old)}
    async with client.get(sim.server_url("c1") + HR_PATH, params=params, headers=auth(sim, "c1")) as resp:
        assert resp.status == 200
        events = await lines(resp)
    assert len(events) == 1 and events[0]["type"] == "ERROR"
    st = events[0]["object"]
    assert st["kind"] == "Status" and st["code"] == 410 and st["reason"] == "Expired"
    assert st["message"].startswith(f"too old resource version: {old} (")


async def test_history_limit_compacts(client: aiohttp.ClientSession) -> None:
    async with KubeSimulator(history_limit=3) as sim:
        c = sim.add_cluster("c1")
        first = c.resource_version
        for i in range(6):
            c.apply(helmrelease(f"bp-x{i}"))
        assert len(c.history) == 3 and c.compacted_rv > first


async def test_unreachable_aborts_requests(sim: KubeSimulator, client: aiohttp.ClientSession) -> None:
    c = sim.add_cluster("c1")
    c.set_unreachable(True)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        async with client.get(sim.server_url("c1") + HR_PATH, headers=auth(sim, "c1")) as resp:
            await resp.read()
    c.set_unreachable(False)
    async with client.get(sim.server_url("c1") + HR_PATH, headers=auth(sim, "c1")) as resp:
        assert resp.status == 200


async def test_kubeconfig_file(sim: KubeSimulator, tmp_path: Path) -> None:
    sim.add_cluster("abc")
    path = sim.write_kubeconfig("abc", tmp_path / "kc" / "abc.yaml")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    data = yaml.safe_load(path.read_text())
    assert data["clusters"][0]["cluster"]["server"] == f"http://127.0.0.1:{sim.port}/clusters/abc"
    assert data["users"][0]["user"]["token"] == sim.cluster("abc").token
    assert data["current-context"] == "abc"
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temp file left


def test_scenarios_are_well_formed() -> None:
    install = scenario_timeline(SCENARIOS["install"])
    assert 40 < scenario_length(SCENARIOS["install"]) < 90  # the demo: about a minute at speed 1
    assert [t for t, *_ in install] == sorted(t for t, *_ in install)
    assert scenario_timeline(SCENARIOS["never-reconciles"]) == []
    with pytest.raises(ValueError):
        scenario_timeline(Scenario(components=("a", "b"), depends_on={"a": ("b",), "b": ("a",)}))
    jittered = [t for t, *_ in scenario_timeline(Scenario(jitter=0.3), seed="x")]
    assert jittered == [t for t, *_ in scenario_timeline(Scenario(jitter=0.3), seed="x")]  # seeded


async def test_fleet_helper(sim: KubeSimulator, tmp_path: Path) -> None:
    paths = add_fleet(sim, [f"{i:016x}" for i in range(3)], tmp_path, {"0000000000000001": "fail"}, speed=1000)
    assert sorted(p.name for p in paths.values()) == [f"{i:016x}.yaml" for i in range(3)]
    for cid in paths:
        await sim.cluster(cid).scenario_done.wait()
    assert sim.cluster("0000000000000001").get("bp-catalyst-platform")["status"]["conditions"][0]["reason"] == "InstallFailed"
    assert sim.cluster("0000000000000000").get("bp-catalyst-platform")["status"]["conditions"][0]["status"] == "True"


def test_threaded_simulator(tmp_path: Path) -> None:
    with ThreadedSimulator(speed=1000) as ts:
        assert ts.sim is not None
        ts.call(ts.sim.add_cluster, "t1")
        ts.call(ts.sim.play, "t1", "install")
        ts.call(lambda: ts.cluster("t1").scenario_done.wait())
        kc = ts.call(ts.sim.write_kubeconfig, "t1", tmp_path / "t1.yaml")
        assert kc.exists()
        req = urllib.request.Request(ts.sim.server_url("t1") + HR_PATH,
                                     headers={"Authorization": f"Bearer {ts.cluster('t1').token}"})
        with urllib.request.urlopen(req, timeout=5) as resp:
            body = json.loads(resp.read())
        assert len([i for i in body["items"] if i["metadata"]["name"].startswith("bp-")]) == 11
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(urllib.request.Request(ts.sim.server_url("t1") + HR_PATH), timeout=5)
        assert err.value.code == 401
        err.value.close()
        thread = ts._thread
    assert thread is not None and not thread.is_alive()


async def test_stop_with_open_watches_is_quick(client: aiohttp.ClientSession) -> None:
    sim = KubeSimulator()
    await sim.start()
    c = sim.add_cluster("c1")
    resp = await client.get(sim.server_url("c1") + HR_PATH, params={"watch": "1"}, headers=auth(sim, "c1"))
    resp2 = await client.get(sim.server_url("c1") + HR_PATH, params={"watch": "1"}, headers=auth(sim, "c1"))
    c.stall_watches()
    started = time.monotonic()
    await sim.stop()
    assert time.monotonic() - started < 1.0
    resp.close()
    resp2.close()
