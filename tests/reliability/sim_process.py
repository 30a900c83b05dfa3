"""The Kubernetes API simulator in a process of its own, driven by JSON lines on stdin.

For the memory soak (tests/reliability/test_watch_faults.py): the dashboard process must hold the
dashboard, the supervisor and the watchers only, so that its resident set size measures them and
not the simulated clusters (whose watch history, request log and stalled server-side handlers are
the simulator's business). Real deployments have the API servers elsewhere, too.

Protocol: one JSON object per line on stdin, one JSON reply per line on stdout.

* ``{"op": "add", "id": ID, "kubeconfig": PATH}``: a cluster with the 11 bootstrap-kit
  HelmReleases (catalyst-platform stays installing: the watch never ends), its kubeconfig written;
* ``{"op": "churn", "id": ID, "seed": N}``: Flux changes one component's Ready condition;
* ``{"op": "fault", "id": ID, "kind": KIND, "kubeconfig": PATH}``: flap, storm, stall, garbage,
  plain, token (rotated, new kubeconfig written, as catalyst-api would), drop;
* ``{"op": "forget"}``: drop the request log; ``{"op": "stop"}``: exit.

The first line written is ``{"ready": true, "url": BASE_URL}``.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
from typing import Any

from catalyst_tui.domain.statuses import BOOTSTRAP_KIT
from catalyst_tui.kube.simulator import KubeSimulator, SimCluster, helmrelease, write_kubeconfig

CHURN = (
    ("Unknown", "Progressing", "Running 'upgrade' action with timeout of 5m0s"),
    ("True", "UpgradeSucceeded", "Helm upgrade succeeded for release {c} with chart bp-{c}@1.0.{n}"),
    ("False", "ArtifactFailed", "HelmChart 'flux-system/flux-system-bp-{c}' is not ready"),
)


def churn(cluster: SimCluster, rng: random.Random) -> None:
    comp = rng.choice([c for c in BOOTSTRAP_KIT if c != "catalyst-platform"])
    status, reason, message = rng.choice(CHURN)
    cluster.set_condition(f"bp-{comp}", status, reason, message.format(c=comp, n=rng.randrange(99)))


def fault(sim: KubeSimulator, cid: str, kind: str, kubeconfig: str) -> None:
    c = sim.cluster(cid)
    if kind == "flap":
        c.unreachable_for(0.6)
    elif kind == "storm":
        c.storm_410(4)
        c.expire_watches()
    elif kind == "stall":
        c.stall_watches()
    elif kind == "garbage":
        c.inject_garbage()
    elif kind == "plain":
        c.fail_next_watches(2, kind="plain", status=503, body="upstream connect error")
        c.close_watches()
    elif kind == "token":
        write_kubeconfig(kubeconfig, server=sim.server_url(cid), token=c.rotate_token(), name=cid)
    elif kind == "drop":
        c.drop_watches()
    else:
        raise ValueError(f"unknown fault {kind!r}")


async def serve() -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    rngs: dict[str, random.Random] = {}

    def reply(obj: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()

    async with KubeSimulator(speed=10.0, bookmark_interval=1.0, history_limit=100) as sim:
        reply({"ready": True, "url": sim.base_url})
        while line := await reader.readline():
            cmd = json.loads(line)
            op = cmd["op"]
            try:
                if op == "add":
                    c = sim.add_cluster(cmd["id"])
                    sim.write_kubeconfig(cmd["id"], cmd["kubeconfig"])
                    for comp in BOOTSTRAP_KIT:
                        c.apply(helmrelease(f"bp-{comp}"))
                    c.set_condition("bp-catalyst-platform", "Unknown", "Progressing", "Running 'install' action with timeout of 5m0s")
                    rngs[cmd["id"]] = random.Random(cmd["id"])
                elif op == "churn":
                    churn(sim.cluster(cmd["id"]), rngs[cmd["id"]])
                elif op == "fault":
                    fault(sim, cmd["id"], cmd["kind"], cmd["kubeconfig"])
                elif op == "forget":
                    for c in sim.clusters.values():
                        c.stats.watch_resource_versions.clear()
                elif op == "stop":
                    reply({"ok": True})
                    break
                else:
                    raise ValueError(f"unknown op {op!r}")
            except Exception as exc:  # noqa: BLE001 - reported to the test
                reply({"ok": False, "error": f"{type(exc).__name__}: {exc}"})
                continue
            reply({"ok": True})


if __name__ == "__main__":
    asyncio.run(serve())
