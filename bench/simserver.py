"""The Kubernetes API simulator in its own process, for the live-watching bench.

``python -m bench.simserver`` starts :class:`catalyst_tui.kube.simulator.KubeSimulator` (one
server, many clusters routed by path) plus a small control server on another loopback port, prints
``{"base_url": ..., "control_url": ...}`` on stdout and runs until its stdin closes.

Control (JSON over HTTP):

* ``POST /setup {"run", "clusters": [[cluster_id, kubeconfig_path], ...], "transitions"}``: adds
  the clusters, each with the 11 bootstrap-kit HelmReleases (no status yet: ``pending``), writes
  their kubeconfigs, and **pre-computes** the status stream: ``transitions`` MODIFIED events spread
  round-robin over every HelmRelease, each one changing the derived state (installing <-> degraded,
  the last one ``installed``), so the stream is nothing but transitions and Phase 1 ends ``ready``
  on every cluster exactly when its last event arrives. Returns the per-cluster plan.
* ``POST /arm {"run"}``: waits until every cluster of the run has an open watch, then publishes
  the whole stream at once (pre-encoded lines straight into the watch queues and the history, as
  ``SimCluster.apply`` would, minus the JSON encoding) and answers ``{"t_go": monotonic}``.
  ``time.monotonic`` is system-wide on Linux, so consumers compare it with their own clock.
"""

from __future__ import annotations

import asyncio
import copy
import json
import sys
import time
from typing import Any

from aiohttp import web

from catalyst_tui.domain.components import FLUX_NAMESPACE
from catalyst_tui.domain.statuses import BOOTSTRAP_KIT
from catalyst_tui.kube.simulator import DEFAULT_DEPENDS, KubeSimulator, _line, helmrelease, set_ready

INSTALLING = ("Unknown", "Progressing", "Running 'install' action with timeout of 5m0s")
DEGRADED = ("False", "HealthCheckFailed", "Helm test failed for release flux-system/{c}: pod {c}-test not ready (attempt {n})")


def state_sequence(k: int) -> list[str]:
    """The derived states one HelmRelease goes through in ``k`` events (each a transition)."""
    seq = ["installing" if j % 2 == 0 else "degraded" for j in range(k - 1)]
    return seq + ["installed"]


def plan_counts(n_clusters: int, transitions: int) -> list[list[int]]:
    """Events per HelmRelease: an even split of ``transitions`` (the first ones get one more)."""
    per_hr = n_clusters * len(BOOTSTRAP_KIT)
    base, extra = divmod(transitions, per_hr)
    out = []
    g = 0
    for _ in range(n_clusters):
        row = []
        for _ in BOOTSTRAP_KIT:
            row.append(base + (1 if g < extra else 0))
            g += 1
        out.append(row)
    return out


class Bench:
    def __init__(self, sim: KubeSimulator) -> None:
        self.sim = sim
        self.runs: dict[str, dict[str, Any]] = {}

    async def setup(self, request: web.Request) -> web.Response:
        body = await request.json()
        run = body["run"]
        clusters: list[list[str]] = body["clusters"]
        counts = plan_counts(len(clusters), int(body["transitions"]))
        sim = self.sim
        stream: list[tuple[Any, tuple[str, str], dict[str, Any], bytes]] = []
        plan: dict[str, dict[str, list[str]]] = {}
        objs: dict[tuple[str, str], dict[str, Any]] = {}
        for (cid, kpath), row in zip(clusters, counts):
            cluster = sim.add_cluster(cid)
            for comp in BOOTSTRAP_KIT:
                deps = [f"bp-{d}" for d in DEFAULT_DEPENDS.get(comp, ())]
                cluster.apply(helmrelease(f"bp-{comp}", depends_on=deps))
            sim.write_kubeconfig(cid, kpath)
            plan[cid] = {comp: state_sequence(k) for comp, k in zip(BOOTSTRAP_KIT, row)}
        # round-robin: round r touches every HelmRelease that has an r-th event, cluster by cluster
        rounds = max(max(r) for r in counts)
        next_rv = {cid: sim.cluster(cid).resource_version for cid, _ in clusters}
        for r in range(rounds):
            for (cid, _), row in zip(clusters, counts):
                cluster = sim.cluster(cid)
                for comp, k in zip(BOOTSTRAP_KIT, row):
                    if r >= k:
                        continue
                    key = (FLUX_NAMESPACE, f"bp-{comp}")
                    prev = objs.get((cid, key[1])) or cluster.objects[key]
                    obj = copy.deepcopy(prev)
                    state = plan[cid][comp][r]
                    if state == "installing":
                        status, reason, msg = INSTALLING
                    elif state == "degraded":
                        status, reason, msg = DEGRADED
                        msg = msg.format(c=comp, n=r)
                    else:
                        status, reason = "True", "InstallSucceeded"
                        msg = f"Helm install succeeded for release {FLUX_NAMESPACE}/{comp}.v1 with chart bp-{comp}@1.0.0"
                    set_ready(obj, status, reason, msg)
                    next_rv[cid] += 1
                    obj["metadata"]["resourceVersion"] = str(next_rv[cid])
                    objs[(cid, key[1])] = obj
                    stream.append((cluster, key, obj, _line("MODIFIED", obj)))
        self.runs[run] = {"clusters": [c for c, _ in clusters], "stream": stream}
        return web.json_response({"events": len(stream), "plan": plan})

    async def arm(self, request: web.Request) -> web.Response:
        body = await request.json()
        run = self.runs[body["run"]]
        clusters = [self.sim.cluster(c) for c in run["clusters"]]
        deadline = time.monotonic() + float(body.get("timeout", 120))
        while not all(c.watches for c in clusters):
            if time.monotonic() > deadline:
                missing = sum(1 for c in clusters if not c.watches)
                return web.json_response({"error": f"{missing} cluster(s) never opened a watch"}, status=504)
            await asyncio.sleep(0.005)
        t_go = time.monotonic()
        for cluster, key, obj, line in run["stream"]:
            rv = int(obj["metadata"]["resourceVersion"])
            cluster.resource_version = rv
            cluster.objects[key] = obj
            cluster.history.append((rv, line))
            if len(cluster.history) > cluster.history_limit:
                drop = len(cluster.history) - cluster.history_limit
                cluster.compacted_rv = cluster.history[drop - 1][0]
                del cluster.history[:drop]
            for conn in list(cluster.watches):
                conn.queue.put_nowait(("line", line))
        t_pub = time.monotonic()
        run["stream"] = []
        return web.json_response({"t_go": t_go, "publish_s": t_pub - t_go})

    async def teardown(self, request: web.Request) -> web.Response:
        body = await request.json()
        run = self.runs.pop(body["run"], None)
        for cid in (run or {}).get("clusters", []):
            cluster = self.sim.clusters.pop(cid, None)
            if cluster is not None:
                for conn in list(cluster.watches):
                    conn.queue.put_nowait(("shutdown", None))
        return web.json_response({"ok": True})


async def main() -> None:
    async with KubeSimulator(bookmark_interval=5.0) as sim:
        bench = Bench(sim)
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/setup", bench.setup)
        app.router.add_post("/arm", bench.arm)
        app.router.add_post("/teardown", bench.teardown)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.25)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        print(json.dumps({"base_url": sim.base_url, "control_url": f"http://127.0.0.1:{port}"}), flush=True)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, sys.stdin.read)  # until the orchestrator closes our stdin
        await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
