"""A Kubernetes API simulator for HelmReleases: many simulated Sovereign clusters behind one server.

It serves LIST and WATCH of ``helm.toolkit.fluxcd.io/v2`` HelmReleases the way a real API server
does, closely enough that the real kubernetes_asyncio client cannot tell the difference:

* ``metadata.resourceVersion`` on every object and list; watches replay history after the
  requested resourceVersion, or send synthetic ADDED events for everything when it is unset/"0";
* ADDED / MODIFIED / DELETED, and BOOKMARK only when ``allowWatchBookmarks`` is true;
* an ``ERROR`` event carrying a ``Status`` 410 ``Expired`` when the requested resourceVersion was
  compacted away (or on demand);
* ``timeoutSeconds`` (real seconds, never time-scaled: it is the client's contract);
* bearer-token auth, errors as one-line ``Status`` JSON (401 Unauthorized, 403 Forbidden, 404);
* Go-style booleans in the query (``1 t T true TRUE True`` / ``0 f F false FALSE False``), since
  kubernetes_asyncio sends ``watch=True``.

One server process hosts many clusters, routed by a path prefix: each kubeconfig says
``server: http://127.0.0.1:PORT/clusters/<id>`` and kubernetes_asyncio appends ``/apis/...``.
Each cluster has its own token, objects, resourceVersion counter and watch history.

Scenarios (:class:`Scenario`) script what Flux does on a new Sovereign, in *scenario seconds*
divided by a speed factor (tests run a whole install in about a second, the demo in about a
minute). Fault hooks on :class:`SimCluster` (drop/close/stall watches, garbage lines, plain-text
errors, 410 storms, token rotation, unreachable windows) drive the watcher's resilience tests.

Use :class:`KubeSimulator` as an async context manager inside a running loop, or
:class:`ThreadedSimulator` to run it in a background thread with its own loop (for code that runs
its own loop, such as Textual snapshot tests).

All methods of :class:`KubeSimulator` and :class:`SimCluster` that mutate state are plain
functions that must run in the simulator's loop; from another thread use
``ThreadedSimulator.call(fn, *args)``.
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
import random
import secrets
import threading
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterable, Mapping, TypeVar

import yaml
from aiohttp import web

from ..domain.components import FLUX_NAMESPACE, HELMRELEASE_GROUP, HELMRELEASE_PLURAL, HELMRELEASE_VERSION
from ..domain.statuses import BOOTSTRAP_KIT
from ..fsutil import write_file_atomic

T = TypeVar("T")

API_VERSION = f"{HELMRELEASE_GROUP}/{HELMRELEASE_VERSION}"

_GO_TRUE = frozenset({"1", "t", "T", "true", "TRUE", "True"})
_GO_FALSE = frozenset({"0", "f", "F", "false", "FALSE", "False"})


def parse_go_bool(value: str) -> bool:
    """Go's ``strconv.ParseBool``: what the API server accepts for ``watch=`` and friends."""
    if value in _GO_TRUE:
        return True
    if value in _GO_FALSE:
        return False
    raise ValueError(f"invalid boolean {value!r}")


def status_body(code: int, reason: str, message: str, details: Mapping[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details is not None:
        body["details"] = dict(details)
    return body


def status_response(code: int, reason: str, message: str, details: Mapping[str, Any] | None = None) -> web.Response:
    """A Status as the API server sends it: JSON on one line (kubernetes_asyncio reads it as an event)."""
    return web.Response(
        status=code,
        text=json.dumps(status_body(code, reason, message, details), separators=(",", ":")),
        content_type="application/json",
    )


def _now_rfc3339() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _line(event_type: str, obj: Mapping[str, Any]) -> bytes:
    return (json.dumps({"type": event_type, "object": obj}, separators=(",", ":")) + "\n").encode()


# --- HelmRelease objects ------------------------------------------------------------------------

def helmrelease(name: str, *, depends_on: Iterable[str] = (), namespace: str = FLUX_NAMESPACE, version: str = "1.0.0") -> dict[str, Any]:
    """A realistic Flux v2 HelmRelease (about 1 KB once it has a status), without status yet."""
    short = name[3:] if name.startswith("bp-") else name
    spec: dict[str, Any] = {
        "interval": "10m",
        "releaseName": short,
        "targetNamespace": short,
        "chart": {
            "spec": {
                "chart": name,
                "version": version,
                "sourceRef": {"kind": "HelmRepository", "name": "openova-blueprints", "namespace": namespace},
                "reconcileStrategy": "ChartVersion",
            }
        },
        "install": {"crds": "CreateReplace", "remediation": {"retries": 3}},
        "upgrade": {"crds": "CreateReplace", "remediation": {"retries": 3}},
    }
    deps = [{"name": d, "namespace": namespace} for d in depends_on]
    if deps:
        spec["dependsOn"] = deps
    return {
        "apiVersion": API_VERSION,
        "kind": "HelmRelease",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {
                "kustomize.toolkit.fluxcd.io/name": "bootstrap-kit",
                "kustomize.toolkit.fluxcd.io/namespace": "flux-system",
            },
            "finalizers": ["finalizers.fluxcd.io"],
        },
        "spec": spec,
    }


def set_ready(obj: dict[str, Any], status: str, reason: str, message: str) -> dict[str, Any]:
    """Set the Ready condition (and the Released condition helm-controller keeps beside it)."""
    now = _now_rfc3339()
    generation = obj.get("metadata", {}).get("generation", 1)
    st = obj.setdefault("status", {})
    st["observedGeneration"] = generation
    conds = [c for c in st.get("conditions", []) if isinstance(c, dict) and c.get("type") not in ("Ready", "Released")]
    old = {c.get("type"): c for c in st.get("conditions", []) if isinstance(c, dict)}
    ready_old = old.get("Ready", {})
    ready = {
        "type": "Ready",
        "status": status,
        "observedGeneration": generation,
        "lastTransitionTime": now if ready_old.get("status") != status else ready_old.get("lastTransitionTime", now),
        "reason": reason,
        "message": message,
    }
    conds.insert(0, ready)
    if status == "True":
        conds.insert(1, {"type": "Released", "status": "True", "observedGeneration": generation,
                         "lastTransitionTime": now, "reason": reason, "message": message})
    st["conditions"] = conds
    chart = obj.get("spec", {}).get("chart", {}).get("spec", {})
    st["lastAttemptedRevision"] = chart.get("version", "")
    st["helmChart"] = f"{FLUX_NAMESPACE}/{FLUX_NAMESPACE}-{obj.get('metadata', {}).get('name', '')}"
    return obj


# --- watch connections ----------------------------------------------------------------------------

class _WatchConn:
    """One open watch stream; the handler drains ``queue``."""

    __slots__ = ("queue", "cluster_id", "stalled")

    def __init__(self, cluster_id: str) -> None:
        self.queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self.cluster_id = cluster_id
        self.stalled = False


@dataclass
class SimStats:
    """What a cluster was asked, for assertions (relist or not, which resourceVersion…)."""

    list_requests: int = 0
    watch_requests: int = 0
    #: ``resourceVersion`` of every watch request, in order ("" when unset).
    watch_resource_versions: list[str] = field(default_factory=list)
    unauthorized: int = 0
    refused: int = 0
    #: ``allowWatchBookmarks`` / ``timeoutSeconds`` of the last watch request.
    last_watch_bookmarks: bool | None = None
    last_watch_timeout: float | None = None


class SimCluster:
    """One simulated Sovereign API server (its HelmReleases, token, history and faults)."""

    def __init__(self, cluster_id: str, token: str, *, history_limit: int = 1000, bookmark_interval: float = 5.0) -> None:
        self.id = cluster_id
        self.token = token
        self.history_limit = history_limit
        self.bookmark_interval = bookmark_interval
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}
        self.resource_version = 1000 + random.randrange(1000)
        #: Watches from a resourceVersion at or below this get 410 Expired.
        self.compacted_rv = self.resource_version
        self.history: list[tuple[int, bytes]] = []
        self.watches: set[_WatchConn] = set()
        self.stats = SimStats()
        self.unreachable = False
        self.forbidden = False
        self.crd_installed = True
        self._watch_faults: list[tuple[str, int, str]] = []
        self._list_faults: list[tuple[str, int, str]] = []
        self._unreachable_handle: asyncio.TimerHandle | None = None
        self.scenario_task: asyncio.Task[None] | None = None
        self.scenario_done = asyncio.Event()

    # --- objects -----------------------------------------------------------------------------
    def _publish(self, event_type: str, obj: Mapping[str, Any]) -> None:
        line = _line(event_type, obj)
        self.history.append((self.resource_version, line))
        if len(self.history) > self.history_limit:
            drop = len(self.history) - self.history_limit
            self.compacted_rv = self.history[drop - 1][0]
            del self.history[:drop]
        for conn in list(self.watches):
            conn.queue.put_nowait(("line", line))

    def apply(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Create or update an object (ADDED or MODIFIED); returns the stored copy."""
        obj = copy.deepcopy(dict(obj))
        meta = obj.setdefault("metadata", {})
        ns = meta.setdefault("namespace", FLUX_NAMESPACE)
        key = (ns, meta["name"])
        old = self.objects.get(key)
        self.resource_version += 1
        meta["resourceVersion"] = str(self.resource_version)
        if old is None:
            meta.setdefault("uid", str(uuid.uuid4()))
            meta.setdefault("creationTimestamp", _now_rfc3339())
            meta.setdefault("generation", 1)
        else:
            meta["uid"] = old["metadata"]["uid"]
            meta["creationTimestamp"] = old["metadata"]["creationTimestamp"]
            gen = old["metadata"].get("generation", 1)
            meta["generation"] = gen + 1 if obj.get("spec") != old.get("spec") else gen
        self.objects[key] = obj
        self._publish("ADDED" if old is None else "MODIFIED", obj)
        return obj

    def get(self, name: str, namespace: str = FLUX_NAMESPACE) -> dict[str, Any] | None:
        return self.objects.get((namespace, name))

    def set_condition(self, name: str, status: str, reason: str, message: str, namespace: str = FLUX_NAMESPACE) -> dict[str, Any]:
        """helm-controller updating the Ready condition of an existing HelmRelease."""
        obj = copy.deepcopy(self.objects[(namespace, name)])
        set_ready(obj, status, reason, message)
        return self.apply(obj)

    def patch(self, name: str, mutate: Callable[[dict[str, Any]], None], namespace: str = FLUX_NAMESPACE) -> dict[str, Any]:
        obj = copy.deepcopy(self.objects[(namespace, name)])
        mutate(obj)
        return self.apply(obj)

    def delete(self, name: str, namespace: str = FLUX_NAMESPACE) -> None:
        obj = self.objects.pop((namespace, name))
        self.resource_version += 1
        obj = copy.deepcopy(obj)
        obj["metadata"]["resourceVersion"] = str(self.resource_version)
        self._publish("DELETED", obj)

    # --- faults --------------------------------------------------------------------------------
    def _broadcast(self, item: tuple[str, Any]) -> int:
        conns = list(self.watches)
        for conn in conns:
            conn.queue.put_nowait(item)
        return len(conns)

    def compact(self) -> None:
        """Forget the watch history: resuming from any older resourceVersion now gets 410."""
        self.history.clear()
        self.compacted_rv = self.resource_version

    def expire_watches(self) -> int:
        """Send 410 Expired on every open watch (and compact, so a resume gets 410 too)."""
        self.compact()
        return self._broadcast(("expire", None))

    def close_watches(self) -> int:
        """End every open watch cleanly (as when the server's own timeout fires)."""
        return self._broadcast(("close", None))

    def drop_watches(self) -> int:
        """Abort the TCP connection of every open watch (the client sees a payload error)."""
        return self._broadcast(("drop", None))

    def stall_watches(self) -> int:
        """Make every open watch half-open: it sends nothing more and never closes."""
        return self._broadcast(("stall", None))

    def inject_garbage(self, line: str = "<html><body>502 Bad Gateway</body></html>") -> int:
        """Write a non-JSON line on every open watch, then carry on."""
        return self._broadcast(("raw", (line.rstrip("\n") + "\n").encode()))

    def fail_next_watches(self, count: int = 1, *, kind: str = "plain", status: int = 500, body: str = "Internal Server Error") -> None:
        """The next ``count`` watch requests fail: ``kind`` "plain" (a text/plain body with
        ``status``), "status" (a Status JSON body with ``status``) or "410" (ERROR Expired)."""
        self._watch_faults.extend([(kind, status, body)] * count)

    def fail_next_lists(self, count: int = 1, *, kind: str = "plain", status: int = 500, body: str = "Internal Server Error") -> None:
        self._list_faults.extend([(kind, status, body)] * count)

    def storm_410(self, count: int = 5) -> None:
        """The next ``count`` watches answer 410 Expired however fresh their resourceVersion."""
        self.fail_next_watches(count, kind="410")

    def set_unreachable(self, unreachable: bool = True) -> None:
        """While unreachable, open watches are dropped and every new request is aborted before a
        response (the client sees the server disconnect)."""
        self.unreachable = unreachable
        if self._unreachable_handle is not None:
            self._unreachable_handle.cancel()
            self._unreachable_handle = None
        if unreachable:
            self.drop_watches()

    def unreachable_for(self, seconds: float) -> None:
        self.set_unreachable(True)
        self._unreachable_handle = asyncio.get_running_loop().call_later(seconds, self.set_unreachable, False)

    def rotate_token(self, new_token: str | None = None, *, drop_watches: bool = True) -> str:
        """Replace the accepted token; kubeconfigs with the old one get 401 from now on."""
        self.token = new_token or secrets.token_hex(32)
        if drop_watches:
            self.close_watches()
        return self.token

    # --- request handling -------------------------------------------------------------------
    def _take(self, faults: list[tuple[str, int, str]]) -> tuple[str, int, str] | None:
        return faults.pop(0) if faults else None

    def _list_body(self, namespace: str | None) -> dict[str, Any]:
        items = [obj for (ns, _), obj in sorted(self.objects.items()) if namespace is None or ns == namespace]
        return {
            "apiVersion": API_VERSION,
            "kind": "HelmReleaseList",
            "metadata": {"resourceVersion": str(self.resource_version)},
            "items": items,
        }

    def _bookmark(self) -> bytes:
        return _line("BOOKMARK", {"kind": "HelmRelease", "apiVersion": API_VERSION,
                                  "metadata": {"resourceVersion": str(self.resource_version)}})


# --- scenarios --------------------------------------------------------------------------------------

#: A plausible dependency graph for the 11-component kit (catalyst-platform is the only leaf, so a
#: failure there leaves every other component installed and Phase 1 all-terminal).
DEFAULT_DEPENDS: dict[str, tuple[str, ...]] = {
    "cilium": (),
    "cert-manager": ("cilium",),
    "flux": ("cilium",),
    "crossplane": ("flux",),
    "sealed-secrets": ("cert-manager",),
    "spire": ("cert-manager",),
    "nats-jetstream": ("cert-manager",),
    "openbao": ("cert-manager", "sealed-secrets"),
    "keycloak": ("openbao",),
    "gitea": ("keycloak",),
    "catalyst-platform": ("crossplane", "spire", "nats-jetstream", "keycloak", "gitea"),
}

#: Install time of each component in scenario seconds (the critical path is about a minute).
DEFAULT_DURATIONS: dict[str, float] = {
    "cilium": 6.0,
    "cert-manager": 7.0,
    "flux": 4.0,
    "crossplane": 9.0,
    "sealed-secrets": 5.0,
    "spire": 8.0,
    "nats-jetstream": 7.0,
    "openbao": 9.0,
    "keycloak": 10.0,
    "gitea": 7.0,
    "catalyst-platform": 9.0,
}


@dataclass(frozen=True)
class Scenario:
    """What Flux does on one simulated Sovereign, in scenario seconds (divided by ``speed``)."""

    name: str = "install"
    components: tuple[str, ...] = BOOTSTRAP_KIT
    depends_on: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: dict(DEFAULT_DEPENDS))
    durations: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_DURATIONS))
    #: When the bootstrap-kit Kustomization creates the HelmReleases.
    appear_at: float = 1.0
    #: helm-controller's delay between a dependency turning Ready and the dependant starting.
    pickup: float = 1.0
    #: This component's install fails (InstallFailed) and stays failed.
    fail: str | None = None
    #: This component fails, then (``recover_after`` after every other component finished) the
    #: remediation retry succeeds: the late-poll recovery case.
    recover: str | None = None
    recover_after: float = 6.0
    #: False: Flux never reconciles the kit, no HelmRelease ever appears.
    reconcile: bool = True
    #: (at, duration) windows in which the API server is unreachable.
    flaps: tuple[tuple[float, float], ...] = ()
    #: Rotate the cluster's token at this time (the kubeconfig's token gets 401 afterwards).
    rotate_token_at: float | None = None
    #: Non bootstrap-kit HelmReleases in flux-system (the watcher must ignore them).
    extra_releases: tuple[str, ...] = ("podinfo",)
    #: Random spread of each duration (fraction), seeded by the cluster id, so a fleet is not in lockstep.
    jitter: float = 0.0

    def with_(self, **changes: Any) -> "Scenario":
        return replace(self, **changes)


SCENARIOS: dict[str, Scenario] = {
    "install": Scenario(),
    "fail": Scenario(name="fail", fail="catalyst-platform"),
    "late-recovery": Scenario(name="late-recovery", recover="catalyst-platform"),
    "never-reconciles": Scenario(name="never-reconciles", reconcile=False, extra_releases=()),
    "flapping": Scenario(name="flapping", flaps=((8.0, 6.0), (30.0, 5.0))),
    "token-rotation": Scenario(name="token-rotation", rotate_token_at=20.0),
}

Action = Callable[[SimCluster], None]


def _ready_message(name: str, chart_version: str, action: str = "install") -> str:
    verb = "install" if action == "install" else "upgrade"
    return f"Helm {verb} succeeded for release {FLUX_NAMESPACE}/{name[3:]}.v1 with chart {name}@{chart_version}"


def scenario_timeline(scenario: Scenario, *, seed: str = "") -> list[tuple[float, str, Action]]:
    """The scenario as a sorted list of ``(scenario_time, description, action)``."""
    rng = random.Random(seed)
    steps: list[tuple[float, str, Action]] = []

    def at(t: float, what: str, action: Action) -> None:
        steps.append((t, what, action))

    for start, duration in scenario.flaps:
        at(start, "api-server unreachable", lambda c: c.set_unreachable(True))
        at(start + duration, "api-server back", lambda c: c.set_unreachable(False))
    if scenario.rotate_token_at is not None:
        at(scenario.rotate_token_at, "token rotated", lambda c: c.rotate_token())

    if not scenario.reconcile:
        steps.sort(key=lambda s: s[0])
        return steps

    t0 = scenario.appear_at
    comps = list(scenario.components)
    names = {c: f"bp-{c}" for c in comps}
    deps = {c: tuple(d for d in scenario.depends_on.get(c, ()) if d in names) for c in comps}

    def create(c: str) -> Action:
        def act(cl: SimCluster) -> None:
            cl.apply(helmrelease(names[c], depends_on=[names[d] for d in deps[c]]))
        return act

    def cond(c: str, status: str, reason: str, message: str) -> Action:
        return lambda cl: cl.set_condition(names[c], status, reason, message)

    for extra in scenario.extra_releases:
        def create_extra(cl: SimCluster, extra: str = extra) -> None:
            cl.apply(set_ready(helmrelease(extra), "True", "InstallSucceeded", _ready_message("xx-" + extra, "6.7.1")))
        at(t0, f"create {extra}", create_extra)

    done: dict[str, float] = {}
    blocked: set[str] = set()
    order = _topo_order(comps, deps)
    for c in order:
        at(t0, f"create bp-{c}", create(c))
        # while waiting, the message names the first dependency that is not ready yet
        waiting = sorted(deps[c], key=lambda d: (d not in blocked, done.get(d, float("inf"))))
        if waiting:
            at(t0 + 0.2, f"{c} waits for {waiting[0]}", cond(c, "False", "DependencyNotReady",
                                                              f"dependency '{FLUX_NAMESPACE}/bp-{waiting[0]}' is not ready"))
        if any(d in blocked for d in deps[c]):
            blocked.add(c)  # a dependency never becomes ready: stays pending
            continue
        for i, d in enumerate(waiting[:-1]):
            nxt = waiting[i + 1]
            at(done[d] + 0.1, f"{c} waits for {nxt}", cond(c, "False", "DependencyNotReady",
                                                          f"dependency '{FLUX_NAMESPACE}/bp-{nxt}' is not ready"))
        start = max((done[d] for d in deps[c]), default=t0) + scenario.pickup
        duration = scenario.durations.get(c, 5.0) * (1 + rng.uniform(-scenario.jitter, scenario.jitter))
        at(start, f"{c} installing", cond(c, "Unknown", "Progressing", "Running 'install' action with timeout of 5m0s"))
        end = start + duration
        done[c] = end
        version = "1.0.0"
        if c in (scenario.fail, scenario.recover):
            at(end, f"{c} failed", cond(c, "False", "InstallFailed",
                                       f"Helm install failed for release {FLUX_NAMESPACE}/{c} with chart bp-{c}@{version}: "
                                       "context deadline exceeded"))
            blocked.add(c)
        else:
            at(end, f"{c} installed", cond(c, "True", "InstallSucceeded", _ready_message(names[c], version)))

    if scenario.recover in names:
        c = scenario.recover
        last = max(done.values(), default=t0)
        retry = last + scenario.recover_after
        at(retry, f"{c} retrying", cond(c, "Unknown", "Progressing", "Running 'upgrade' action with timeout of 5m0s"))
        at(retry + scenario.durations.get(c, 5.0) / 2, f"{c} recovered",
           cond(c, "True", "UpgradeSucceeded", _ready_message(names[c], "1.0.0", "upgrade")))
        # dependants of the recovered component follow
        extra_done = {c: retry + scenario.durations.get(c, 5.0) / 2}
        for d in order:
            if d != c and d in blocked and all((x in done and x not in blocked) or x in extra_done for x in deps[d]):
                s = max(extra_done.get(x, done.get(x, t0)) for x in deps[d]) + scenario.pickup
                e = s + scenario.durations.get(d, 5.0)
                at(s, f"{d} installing", cond(d, "Unknown", "Progressing", "Running 'install' action with timeout of 5m0s"))
                at(e, f"{d} installed", cond(d, "True", "InstallSucceeded", _ready_message(names[d], "1.0.0")))
                extra_done[d] = e
    steps.sort(key=lambda s: s[0])
    return steps


def _topo_order(comps: list[str], deps: Mapping[str, tuple[str, ...]]) -> list[str]:
    out: list[str] = []
    seen: set[str] = set()

    def visit(c: str, stack: tuple[str, ...] = ()) -> None:
        if c in seen:
            return
        if c in stack:
            raise ValueError(f"dependency cycle: {' -> '.join(stack + (c,))}")
        for d in deps.get(c, ()):
            visit(d, stack + (c,))
        seen.add(c)
        out.append(c)

    for c in comps:
        visit(c)
    return out


def scenario_length(scenario: Scenario) -> float:
    """Scenario seconds until the last step."""
    timeline = scenario_timeline(scenario)
    return timeline[-1][0] if timeline else 0.0


# --- the server --------------------------------------------------------------------------------------

class KubeSimulator:
    """The API server for many simulated clusters (use ``async with`` inside a running loop)."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, speed: float = 1.0,
                 bookmark_interval: float = 5.0, history_limit: int = 1000, shutdown_timeout: float = 0.25) -> None:
        if host not in ("127.0.0.1", "::1", "localhost"):
            raise ValueError("the simulator listens on loopback only")
        self.host = host
        self.port = port
        self.speed = speed
        self.bookmark_interval = bookmark_interval
        self.history_limit = history_limit
        self.shutdown_timeout = shutdown_timeout
        self.clusters: dict[str, SimCluster] = {}
        self._all_conns: set[_WatchConn] = set()
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # --- lifecycle -----------------------------------------------------------------------
    async def start(self) -> "KubeSimulator":
        self._loop = asyncio.get_running_loop()
        app = web.Application()
        base = "/clusters/{cid}"
        app.router.add_get(base + "/apis/{group}/{version}/namespaces/{ns}/{plural}", self._handle)
        app.router.add_get(base + "/apis/{group}/{version}/{plural}", self._handle)
        app.router.add_get(base + "/version", self._version)
        self._runner = web.AppRunner(app, shutdown_timeout=self.shutdown_timeout, access_log=None, handle_signals=False)
        await self._runner.setup()
        await self._listen()
        return self

    async def _listen(self) -> None:
        assert self._runner is not None
        self._site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await self._site.start()
        if self.port == 0:
            self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        for cluster in self.clusters.values():
            if cluster.scenario_task is not None and not cluster.scenario_task.done():
                cluster.scenario_task.cancel()
        tasks = [c.scenario_task for c in self.clusters.values() if c.scenario_task is not None]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self._close_all_watches()
        await asyncio.sleep(0)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
            self._site = None

    def _close_all_watches(self) -> None:
        for conn in list(self._all_conns):
            conn.queue.put_nowait(("shutdown", None))

    async def restart(self, down_for: float) -> None:
        """Stop listening for ``down_for`` seconds (clients get connection refused), then come back
        on the same port. Open watches are aborted."""
        assert self._site is not None
        for conn in list(self._all_conns):
            conn.queue.put_nowait(("drop", None))
        await self._site.stop()
        self._site = None
        await asyncio.sleep(down_for)
        await self._listen()

    async def __aenter__(self) -> "KubeSimulator":
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # --- clusters --------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def server_url(self, cluster_id: str) -> str:
        return f"{self.base_url}/clusters/{cluster_id}"

    def add_cluster(self, cluster_id: str | None = None, *, token: str | None = None) -> SimCluster:
        cid = cluster_id or secrets.token_hex(8)
        if cid in self.clusters:
            raise ValueError(f"cluster {cid} exists")
        if not cid or "/" in cid:
            raise ValueError(f"invalid cluster id {cid!r}")
        cluster = SimCluster(cid, token or secrets.token_hex(32), history_limit=self.history_limit,
                             bookmark_interval=self.bookmark_interval)
        self.clusters[cid] = cluster
        return cluster

    def cluster(self, cluster_id: str) -> SimCluster:
        return self.clusters[cluster_id]

    def write_kubeconfig(self, cluster_id: str, path: str | os.PathLike[str], *, token: str | None = None,
                         server: str | None = None, context: str | None = None) -> Path:
        """Write a kubeconfig for the cluster (mode 0600, atomically), as catalyst-api stores them."""
        cluster = self.clusters[cluster_id]
        return write_kubeconfig(path, server=server or self.server_url(cluster_id),
                                token=token if token is not None else cluster.token,
                                name=cluster_id, context=context)

    def play(self, cluster_id: str, scenario: Scenario | str = "install", *, speed: float | None = None) -> asyncio.Task[None]:
        """Start the scenario on the cluster (a task in the simulator's loop)."""
        cluster = self.clusters[cluster_id]
        if isinstance(scenario, str):
            scenario = SCENARIOS[scenario]
        if cluster.scenario_task is not None and not cluster.scenario_task.done():
            cluster.scenario_task.cancel()
        cluster.scenario_done.clear()
        cluster.scenario_task = asyncio.get_running_loop().create_task(
            self._run_scenario(cluster, scenario, speed or self.speed), name=f"sim-scenario-{cluster_id}")
        return cluster.scenario_task

    async def _run_scenario(self, cluster: SimCluster, scenario: Scenario, speed: float) -> None:
        loop = asyncio.get_running_loop()
        timeline = scenario_timeline(scenario, seed=cluster.id)
        # flap windows are in scenario seconds too: they run through the same timeline
        t0 = loop.time()
        try:
            for t, _what, action in timeline:
                delay = t0 + t / speed - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                action(cluster)
        finally:
            cluster.scenario_done.set()

    # --- HTTP ------------------------------------------------------------------------------
    async def _version(self, request: web.Request) -> web.StreamResponse:
        cluster = self.clusters.get(request.match_info["cid"])
        if cluster is None:
            return status_response(404, "NotFound", "the server could not find the requested resource")
        denied = self._gate(request, cluster)
        if denied is not None:
            return denied
        return web.json_response({"major": "1", "minor": "31", "gitVersion": "v1.31.4+k3s1", "platform": "linux/amd64"})

    def _gate(self, request: web.Request, cluster: SimCluster) -> web.StreamResponse | None:
        if cluster.unreachable:
            cluster.stats.refused += 1
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=503)
        if request.headers.get("Authorization", "") != f"Bearer {cluster.token}":
            cluster.stats.unauthorized += 1
            return status_response(401, "Unauthorized", "Unauthorized")
        if cluster.forbidden:
            return status_response(
                403, "Forbidden",
                f'{HELMRELEASE_PLURAL}.{HELMRELEASE_GROUP} is forbidden: User "system:serviceaccount:catalyst:catalyst-api" '
                f'cannot list resource "{HELMRELEASE_PLURAL}" in API group "{HELMRELEASE_GROUP}" in the namespace "{FLUX_NAMESPACE}"',
                {"group": HELMRELEASE_GROUP, "kind": HELMRELEASE_PLURAL})
        return None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        cluster = self.clusters.get(request.match_info["cid"])
        if cluster is None:
            return status_response(404, "NotFound", "the server could not find the requested resource")
        denied = self._gate(request, cluster)
        if denied is not None:
            return denied
        m = request.match_info
        if (m["group"], m["version"], m["plural"]) != (HELMRELEASE_GROUP, HELMRELEASE_VERSION, HELMRELEASE_PLURAL) \
                or not cluster.crd_installed:
            return status_response(404, "NotFound", "the server could not find the requested resource")
        q = request.query
        try:
            is_watch = parse_go_bool(q.get("watch", "false"))
            bookmarks = parse_go_bool(q.get("allowWatchBookmarks", "false"))
            timeout = float(q["timeoutSeconds"]) if "timeoutSeconds" in q else None
            if timeout is not None and timeout < 0:
                raise ValueError("timeoutSeconds must be >= 0")
        except ValueError as exc:
            return status_response(400, "BadRequest", str(exc))
        namespace = m.get("ns")
        if not is_watch:
            cluster.stats.list_requests += 1
            fault = cluster._take(cluster._list_faults)
            if fault is not None:
                return self._fault_response(fault)
            return web.Response(text=json.dumps(cluster._list_body(namespace), separators=(",", ":")),
                                content_type="application/json")
        return await self._watch(request, cluster, namespace, q.get("resourceVersion", ""), bookmarks, timeout)

    @staticmethod
    def _fault_response(fault: tuple[str, int, str]) -> web.StreamResponse:
        kind, status, body = fault
        if kind == "status":
            return status_response(status, "InternalError", body)
        return web.Response(status=status, text=body, content_type="text/plain")

    async def _watch(self, request: web.Request, cluster: SimCluster, namespace: str | None, rv_param: str,
                     bookmarks: bool, timeout: float | None) -> web.StreamResponse:
        stats = cluster.stats
        stats.watch_requests += 1
        stats.watch_resource_versions.append(rv_param)
        stats.last_watch_bookmarks = bookmarks
        stats.last_watch_timeout = timeout
        fault = cluster._take(cluster._watch_faults)
        if fault is not None and fault[0] != "410":
            return self._fault_response(fault)
        expired: str | None = None
        initial: list[bytes] = []
        if fault is not None:
            expired = f"too old resource version: {rv_param or 0} ({cluster.resource_version})"
        elif rv_param in ("", "0"):
            initial = [_line("ADDED", obj) for (ns, _), obj in sorted(cluster.objects.items())
                       if namespace is None or ns == namespace]
        else:
            try:
                start = int(rv_param)
            except ValueError:
                return status_response(400, "BadRequest", f"invalid resource version: {rv_param!r}")
            if start < cluster.compacted_rv:
                expired = f"too old resource version: {start} ({cluster.resource_version})"
            else:
                initial = [line for rv, line in cluster.history if rv > start]
        # Register before the first await so no publication falls between replay and live.
        conn = _WatchConn(cluster.id)
        if expired is None:
            cluster.watches.add(conn)
        self._all_conns.add(conn)
        resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        resp.enable_chunked_encoding()
        try:
            await resp.prepare(request)
            if expired is not None:
                await resp.write(_line("ERROR", status_body(410, "Expired", expired)))
                await resp.write_eof()
                return resp
            for line in initial:
                if namespace is not None and not self._in_namespace(line, namespace):
                    continue
                await resp.write(line)
            return await self._stream(request, resp, cluster, conn, namespace, bookmarks, timeout)
        except ConnectionError:
            return resp
        finally:
            cluster.watches.discard(conn)
            self._all_conns.discard(conn)

    @staticmethod
    def _in_namespace(line: bytes, namespace: str) -> bool:
        return f'"namespace":"{namespace}"'.encode() in line

    async def _stream(self, request: web.Request, resp: web.StreamResponse, cluster: SimCluster, conn: _WatchConn,
                      namespace: str | None, bookmarks: bool, timeout: float | None) -> web.StreamResponse:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout if timeout else None
        while True:
            wait: float | None = None
            if deadline is not None and not conn.stalled:
                wait = max(0.0, deadline - loop.time())
            if bookmarks and not conn.stalled:
                wait = cluster.bookmark_interval if wait is None else min(wait, cluster.bookmark_interval)
            if conn.stalled:
                wait = 0.5  # only to notice that the client gave up on the half-open stream
            try:
                if wait is None:
                    kind, payload = await conn.queue.get()
                else:
                    async with asyncio.timeout(wait):
                        kind, payload = await conn.queue.get()
            except TimeoutError:
                if conn.stalled:
                    if request.transport is None or request.transport.is_closing():
                        return resp  # the client's read timeout closed it: end the handler
                    continue
                if not conn.queue.empty():
                    # An event was queued in the same loop turn as the deadline: send it first. A
                    # bookmark carries the cluster's current resourceVersion, so bookmarking now
                    # would tell the client it has an event it never received.
                    continue
                if deadline is not None and loop.time() >= deadline:
                    if bookmarks:
                        await resp.write(cluster._bookmark())
                    break
                await resp.write(cluster._bookmark())
                continue
            if kind == "shutdown":
                if conn.stalled and request.transport is not None:
                    request.transport.abort()
                    return resp
                break
            if conn.stalled:
                continue  # half-open: nothing reaches the client any more
            if kind == "line":
                if namespace is None or self._in_namespace(payload, namespace):
                    await resp.write(payload)
            elif kind == "raw":
                await resp.write(payload)
            elif kind == "close":
                break
            elif kind == "expire":
                await resp.write(_line("ERROR", status_body(
                    410, "Expired", f"too old resource version: {cluster.compacted_rv} ({cluster.resource_version})")))
                break
            elif kind == "drop":
                if request.transport is not None:
                    request.transport.abort()
                return resp
            elif kind == "stall":
                conn.stalled = True
                cluster.watches.discard(conn)
        await resp.write_eof()
        return resp


# --- kubeconfig files ---------------------------------------------------------------------------------

def kubeconfig_dict(*, server: str, token: str, name: str, context: str | None = None, namespace: str = FLUX_NAMESPACE) -> dict[str, Any]:
    user = f"{name}-admin"
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": {"server": server}}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": user, "namespace": namespace}}],
        "current-context": context or name,
    }


def write_private_file(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` at ``path`` with mode 0600 via temp file + fsync + rename (as catalyst-api does)."""
    return write_file_atomic(path, text, mode=0o600)


def write_kubeconfig(path: str | os.PathLike[str], *, server: str, token: str, name: str, context: str | None = None) -> Path:
    text = yaml.safe_dump(kubeconfig_dict(server=server, token=token, name=name, context=context), sort_keys=False)
    return write_private_file(path, text)


# --- fleets ----------------------------------------------------------------------------------------------

def add_fleet(sim: KubeSimulator, ids: Iterable[str], kubeconfigs_dir: str | os.PathLike[str],
              scenarios: Mapping[str, Scenario | str] | Callable[[str], Scenario | str] | None = None,
              *, play: bool = True, speed: float | None = None) -> dict[str, Path]:
    """Add one cluster per id, write ``<kubeconfigs_dir>/<id>.yaml`` (0600) and start its scenario.

    Must run in the simulator's loop. Returns id -> kubeconfig path."""
    out: dict[str, Path] = {}
    for cid in ids:
        sim.add_cluster(cid)
        out[cid] = sim.write_kubeconfig(cid, Path(kubeconfigs_dir) / f"{cid}.yaml")
        if play:
            if scenarios is None:
                sc: Scenario | str = "install"
            elif callable(scenarios):
                sc = scenarios(cid)
            else:
                sc = scenarios.get(cid, "install")
            sim.play(cid, sc, speed=speed)
    return out


# --- the simulator in a background thread ---------------------------------------------------------------

class ThreadedSimulator:
    """:class:`KubeSimulator` running in a daemon thread with its own event loop.

    For code that owns its loop (Textual's ``snap_compare`` runs the app in a new loop; the demo)::

        with ThreadedSimulator(speed=20) as ts:
            ts.call(ts.sim.add_cluster, "abc")
            ts.call(ts.sim.play, "abc", "install")
            ...

    ``call(fn, *args)`` runs ``fn`` in the simulator's loop (awaiting it if it returns an
    awaitable) and returns its result.
    """

    def __init__(self, **kwargs: Any) -> None:
        self._kwargs = kwargs
        self.sim: KubeSimulator | None = None  # type: ignore[assignment]
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self, timeout: float = 10.0) -> "ThreadedSimulator":
        self._thread = threading.Thread(target=self._main, name="kube-simulator", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("kube simulator did not start")
        if self._error is not None:
            raise RuntimeError(f"kube simulator did not start: {self._error}")
        return self

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            self.sim = KubeSimulator(**self._kwargs)
            loop.run_until_complete(self.sim.start())
        except BaseException as exc:  # reported to start()
            self._error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def call(self, fn: Callable[..., T | Awaitable[T]], *args: Any, timeout: float = 30.0, **kwargs: Any) -> T:
        assert self._loop is not None, "not started"

        async def run() -> T:
            out = fn(*args, **kwargs)
            if asyncio.iscoroutine(out) or isinstance(out, asyncio.Future):
                return await out  # type: ignore[no-any-return]
            return out  # type: ignore[return-value]

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout)

    def cluster(self, cluster_id: str) -> SimCluster:
        assert self.sim is not None
        return self.sim.cluster(cluster_id)

    @property
    def base_url(self) -> str:
        assert self.sim is not None
        return self.sim.base_url

    def stop(self, timeout: float = 10.0) -> None:
        if self._loop is None or self.sim is None or self._thread is None:
            return
        if self._loop.is_running():
            try:
                self.call(self.sim.stop, timeout=timeout)
            finally:
                self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)
        self._thread = None

    def __enter__(self) -> "ThreadedSimulator":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
