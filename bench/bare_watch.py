"""The live-watching baseline: a bare kubernetes_asyncio watch per cluster consuming the stream.

``python -m bench.bare_watch PLAN.json OUT.json [--mode watch|raw]``

* ``watch`` (the baseline of target 3): per cluster one Configuration from its kubeconfig
  (``load_kube_config``), one ApiClient, a LIST for the resourceVersion, then the library's own
  ``watch.Watch().stream(list_namespaced_custom_object, ...)`` counting MODIFIED events. Nothing
  is derived, stored or shown.
* ``raw``: the ceiling: aiohttp ``readline`` + ``json.loads`` on the same watch URL (tells
  whether the simulator, not the consumer, limits the rate).

After the watches are open it asks the simulator to publish (``/arm``), then waits until every
cluster delivered its planned number of events, and writes ``{t_go, t_done, events, ...}``.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
from typing import Any

import aiohttp

GROUP, VERSION, PLURAL, NS = "helm.toolkit.fluxcd.io", "v2", "helmreleases", "flux-system"


async def arm(control_url: str, run: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as s:
        async with s.post(f"{control_url}/arm", json={"run": run}) as r:
            body = await r.json()
            if r.status != 200:
                raise RuntimeError(body)
            return body


async def consume_watch(plan: dict[str, Any]) -> dict[str, Any]:
    from kubernetes_asyncio import client, config, watch

    clusters = plan["clusters"]
    apis = []
    for cid, kpath, expected in clusters:
        cfg = client.Configuration()
        await config.load_kube_config(config_file=kpath, client_configuration=cfg, persist_config=False)
        api = client.ApiClient(configuration=cfg)
        apis.append((cid, api, client.CustomObjectsApi(api), expected))
    done_at: dict[str, float] = {}
    counted = 0

    async def one(cid: str, co: Any, expected: int) -> None:
        nonlocal counted
        lst = await co.list_namespaced_custom_object(GROUP, VERSION, NS, PLURAL)
        rv = lst["metadata"]["resourceVersion"]
        got = 0
        async with watch.Watch() as w:
            async for ev in w.stream(co.list_namespaced_custom_object, GROUP, VERSION, NS, PLURAL,
                                     resource_version=rv, timeout_seconds=240, _request_timeout=(10, 260)):
                if ev["type"] == "MODIFIED":
                    got += 1
                    counted += 1
                    if got >= expected:
                        done_at[cid] = time.monotonic()
                        break

    tasks = [asyncio.create_task(one(cid, co, exp)) for cid, _, co, exp in apis]
    go = await arm(plan["control_url"], plan["run"])
    await asyncio.gather(*tasks)
    for _, api, _, _ in apis:
        await api.close()
    return {"t_go": go["t_go"], "publish_s": go["publish_s"], "t_done": max(done_at.values()), "events": counted}


async def consume_raw(plan: dict[str, Any]) -> dict[str, Any]:
    import yaml

    done_at: dict[str, float] = {}
    counted = 0
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_read=260),
                                     connector=aiohttp.TCPConnector(limit=0)) as session:

        async def one(cid: str, kpath: str, expected: int) -> None:
            nonlocal counted
            with open(kpath) as fh:
                kc = yaml.safe_load(fh)
            server = kc["clusters"][0]["cluster"]["server"]
            headers = {"Authorization": f"Bearer {kc['users'][0]['user']['token']}"}
            url = f"{server}/apis/{GROUP}/{VERSION}/namespaces/{NS}/{PLURAL}"
            async with session.get(url, headers=headers) as r:
                rv = (await r.json())["metadata"]["resourceVersion"]
            got = 0
            async with session.get(url, headers=headers, params={"watch": "1", "resourceVersion": rv, "timeoutSeconds": "240"}) as r:
                while got < expected:
                    line = await r.content.readline()
                    if not line:
                        break
                    ev = json.loads(line)
                    if ev["type"] == "MODIFIED":
                        got += 1
                        counted += 1
            done_at[cid] = time.monotonic()

        tasks = [asyncio.create_task(one(cid, kpath, exp)) for cid, kpath, exp in plan["clusters"]]
        go = await arm(plan["control_url"], plan["run"])
        await asyncio.gather(*tasks)
    return {"t_go": go["t_go"], "publish_s": go["publish_s"], "t_done": max(done_at.values()), "events": counted}


def main() -> None:
    plan_path, out_path = sys.argv[1], sys.argv[2]
    mode = sys.argv[4] if len(sys.argv) > 4 and sys.argv[3] == "--mode" else "watch"
    with open(plan_path) as fh:
        plan = json.load(fh)
    fn = consume_watch if mode == "watch" else consume_raw
    out = asyncio.run(fn(plan))
    out["mode"] = mode
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with open(out_path, "w") as fh:
        json.dump(out, fh)


if __name__ == "__main__":
    main()
