"""``catalyst-tui demo``: a simulated fleet in a fresh SQLite store, then the dashboard on it.

Everything lives in one directory of its own (a temporary one unless ``--dir`` names another):
the SQLite store, the kubeconfigs the simulator writes, the handover key. Nothing outside it is
touched, and quitting stops the simulator and every watcher.

The fleet has a Sovereign in every status, chosen so the restart rules and the watchers all have
something to do: Phase-0 in-flight records that the rules fail, ``phase1-watching`` records that
resume and install live over about a minute (one whose component fails, one that fails and
recovers in the late-poll window, one whose API server flaps, one whose Flux never reconciles),
a stale ``phase1-watching`` without a kubeconfig, a ``ready`` one with a fired handover, an
``adopted`` one, and the rarer statuses.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from .domain.record import GO_ZERO_TIME, Record, format_event_time, format_time
from .domain.statuses import BOOTSTRAP_KIT


def demo_id(name: str) -> str:
    """A stable 16-hex id per demo Sovereign (catalyst-api ids are 8 random bytes, hex)."""
    return hashlib.sha256(name.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class DemoSovereign:
    record: dict[str, Any]
    #: Simulator scenario for a live cluster, or None when no cluster/kubeconfig exists.
    scenario: str | None = None


def _request(org: str, sub: str, region: str) -> dict[str, Any]:
    slug = org.split()[0].lower()
    return {
        "orgName": org,
        "orgEmail": f"ops@{slug}.example",
        "sovereignFQDN": f"{sub}.omani.works",
        "sovereignDomainMode": "pool",
        "sovereignPoolDomain": "omani.works",
        "sovereignSubdomain": sub,
        "hetznerToken": "<redacted>",
        "hetznerProjectID": str(2451190 + len(org)),
        "region": region,
        "controlPlaneSize": "cx32",
        "workerSize": "cx32",
        "workerCount": 2,
        "regions": [{"provider": "hetzner", "cloudRegion": region, "controlPlaneSize": "cx32", "workerSize": "cx32", "workerCount": 2}],
        "dynadotKey": "<redacted>",
        "dynadotSecret": "<redacted>",
    }


def _result(sub: str, kubeconfig: str = "", **extra: Any) -> dict[str, Any]:
    fqdn = f"{sub}.omani.works"
    out: dict[str, Any] = {
        "sovereignFQDN": fqdn,
        "controlPlaneIP": "203.0.113.10",
        "loadBalancerIP": "203.0.113.20",
        "consoleURL": f"https://console.{fqdn}",
        "gitopsRepoURL": f"https://gitea.{fqdn}",
    }
    if kubeconfig:
        out["kubeconfigPath"] = kubeconfig
    out.update(extra)
    return out


def _phase0_events(start: datetime, upto: str) -> list[dict[str, Any]]:
    steps = [
        ("tofu-init", "Initialising OpenTofu working directory"),
        ("tofu-plan", "Planning Hetzner resources (network, firewall, server, LB, DNS)"),
        ("tofu-apply", "Applying — this provisions real Hetzner resources, please wait"),
        ("tofu", "hcloud_server.cp[0]: Creation complete after 30s"),
        ("flux-bootstrap", "Cloud-init has bootstrapped Flux + Crossplane in the new cluster"),
    ]
    out = []
    for i, (phase, msg) in enumerate(steps):
        out.append({"time": format_event_time(start + timedelta(seconds=5 + 40 * i)), "phase": phase, "level": "info", "message": msg})
        if phase == upto:
            break
    return out


def demo_fleet(now: datetime, kubeconfigs_dir: Path) -> list[DemoSovereign]:
    """The demo's Sovereigns, as catalyst-api would have left them on its volume."""

    def base(name: str, org: str, sub: str, region: str, status: str, minutes_ago: float) -> dict[str, Any]:
        rid = demo_id(name)
        start = now - timedelta(minutes=minutes_ago)
        return {
            "id": rid,
            "status": status,
            "request": _request(org, sub, region),
            "startedAt": format_time(start),
            "finishedAt": GO_ZERO_TIME,
            "events": None,
            "pdmReservationToken": "rsv_" + rid[:10],
            "pdmPoolDomain": "omani.works",
            "pdmSubdomain": sub,
            "kubeconfigBearerHash": hashlib.sha256(rid.encode()).hexdigest(),
        }

    fleet: list[DemoSovereign] = []

    def watching(name: str, org: str, sub: str, region: str, scenario: str, minutes_ago: float) -> None:
        r = base(name, org, sub, region, "phase1-watching", minutes_ago)
        r["result"] = _result(sub, str(kubeconfigs_dir / f"{r['id']}.yaml"), phase1Substate="watcher-watching")
        r["events"] = _phase0_events(now - timedelta(minutes=minutes_ago), "flux-bootstrap")
        fleet.append(DemoSovereign(r, scenario))

    watching("acme", "Acme Telecom", "acme", "fsn1", "install", 9)
    watching("bluewave", "Bluewave Bank", "bluewave", "nbg1", "fail", 11)
    watching("cedar", "Cedar Health", "cedar", "hel1", "late-recovery", 8)
    watching("nimbus", "Nimbus Cloud", "nimbus", "fsn1", "flapping", 7)
    watching("quartz", "Quartz Mining", "quartz", "ash", "never-reconciles", 14)

    # phase1-watching, but its kubeconfig never made it to the volume: stale, nothing will move it.
    r = base("dune", "Dune Logistics", "dune", "ash", "phase1-watching", 95)
    r["result"] = _result("dune", str(kubeconfigs_dir / f"{r['id']}-lost.yaml"))
    r["events"] = _phase0_events(now - timedelta(minutes=95), "flux-bootstrap")
    fleet.append(DemoSovereign(r))

    # ready, handover fired.
    r = base("evergreen", "Evergreen Energy", "evergreen", "nbg1", "ready", 240)
    fired = now - timedelta(minutes=200)
    states = {c: "installed" for c in BOOTSTRAP_KIT}
    r["result"] = _result("evergreen", str(kubeconfigs_dir / f"{r['id']}.yaml"), componentStates=states,
                          phase1FinishedAt=format_time(fired), phase1Outcome="ready", handoverFiredAt=format_time(fired),
                          handoverURL="https://console.evergreen.omani.works/auth/handover?token=eyJhbGciOiJSUzI1NiJ9.demo.sig")
    r["finishedAt"] = format_time(fired)
    r["ownerEmail"] = "ops@evergreen.example"
    r["events"] = _phase0_events(now - timedelta(minutes=240), "flux-bootstrap") + [
        {"time": format_event_time(fired), "phase": "component", "level": "info", "message": "Helm install succeeded",
         "component": c, "state": "installed"} for c in BOOTSTRAP_KIT
    ] + [{"time": format_event_time(fired), "phase": "handover-ready", "level": "info",
          "message": '{"expiresAt":"' + format_event_time(fired + timedelta(minutes=5)) + '","handoverURL":"https://console.evergreen.omani.works/auth/handover?token=eyJhbGciOiJSUzI1NiJ9.demo.sig"}'}]
    fleet.append(DemoSovereign(r))

    # adopted: the slim record FinaliseHandover leaves.
    rid = demo_id("fjord")
    adopted_at = format_time(now - timedelta(days=2))
    fleet.append(DemoSovereign({
        "id": rid, "status": "adopted",
        "request": {"orgName": "Fjord Media", "orgEmail": "ops@fjord.example", "sovereignFQDN": "fjord.omani.works"},
        "startedAt": format_time(now - timedelta(days=2, hours=1)), "finishedAt": adopted_at, "events": None,
        "adoptedAt": adopted_at,
    }))

    # Phase-0 in flight when catalyst-api restarted: the rules fail these (orphaned cloud resources).
    for name, org, sub, region, status, upto in (
        ("granite", "Granite Insurance", "granite", "fsn1", "pending", None),
        ("juniper", "Juniper Government", "juniper", "hel1", "provisioning", "tofu-init"),
        ("harbor", "Harbor Ports", "harbor", "nbg1", "tofu-applying", "tofu"),
        ("iris", "Iris Retail", "iris", "fsn1", "flux-bootstrapping", "flux-bootstrap"),
    ):
        r = base(name, org, sub, region, status, 6)
        if upto:
            r["events"] = _phase0_events(now - timedelta(minutes=6), upto)
        fleet.append(DemoSovereign(r))

    # failed earlier in Phase 1 (a component failed), kept as it is.
    r = base("kestrel", "Kestrel Air", "kestrel", "hel1", "failed", 180)
    done = now - timedelta(minutes=150)
    states = {c: "installed" for c in BOOTSTRAP_KIT}
    states["openbao"] = "failed"
    states["keycloak"] = states["gitea"] = states["catalyst-platform"] = "pending"
    r["result"] = _result("kestrel", "", componentStates=states, phase1FinishedAt=format_time(done), phase1Outcome="failed")
    r["error"] = "Phase 1 finished with 1 failed component(s); see ComponentStates for the per-component breakdown"
    r["finishedAt"] = format_time(done)
    r["events"] = [{"time": format_event_time(done), "phase": "component", "level": "error",
                    "message": "Helm install failed for release flux-system/openbao with chart bp-openbao@1.0.0: context deadline exceeded",
                    "component": "openbao", "state": "failed"}]
    fleet.append(DemoSovereign(r))

    # the rarer statuses of later builds.
    r = base("lumen", "Lumen Labs", "lumen", "fsn1", "partial-failure", 300)
    r["error"] = "region hel1: tofu apply: hcloud_server.cp[0]: server type cx32 unavailable in hel1"
    r["finishedAt"] = format_time(now - timedelta(minutes=280))
    fleet.append(DemoSovereign(r))
    r = base("maple", "Maple Schools", "maple", "nbg1", "wiping", 20)
    fleet.append(DemoSovereign(r))
    return fleet


def seed_records(now: datetime, kubeconfigs_dir: Path) -> tuple[list[Record], dict[str, str]]:
    """Records to put in the store and the scenario per live cluster id."""
    fleet = demo_fleet(now, kubeconfigs_dir)
    records = [Record.model_validate(s.record) for s in fleet]
    scenarios = {s.record["id"]: s.scenario for s in fleet if s.scenario}
    return records, scenarios


def make_demo_dir(explicit: str | None = None) -> Path:
    if explicit:
        path = Path(explicit)
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        return path
    return Path(tempfile.mkdtemp(prefix="catalyst-tui-demo-"))


@dataclass
class DemoEnvironment:
    root: Path
    store_url: str
    kubeconfigs_dir: Path
    handover_key: Path
    scenarios: dict[str, str]


async def prepare_demo(root: Path, sim: Any, *, now: datetime | None = None, speed: float = 1.0) -> DemoEnvironment:
    """Create the store and kubeconfigs in ``root`` and start the scenarios on ``sim``
    (a :class:`~catalyst_tui.kube.simulator.ThreadedSimulator`)."""
    from .kube.simulator import add_fleet
    from .store.urls import open_store

    now = now or datetime.now(timezone.utc)
    kubeconfigs = root / "kubeconfigs"
    kubeconfigs.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(kubeconfigs, 0o700)
    records, scenarios = seed_records(now, kubeconfigs)
    store_url = f"sqlite:///{root / 'catalyst.db'}"
    async with open_store(store_url) as store:
        for rec in records:
            await store.create(rec)
    # Evergreen (ready) keeps a kubeconfig on the volume, as catalyst-api leaves it until adoption.
    sim.call(lambda: add_fleet(sim.sim, list(scenarios), kubeconfigs, scenarios, play=True, speed=speed))
    sim.call(lambda: (sim.sim.add_cluster(demo_id("evergreen")),
                      sim.sim.write_kubeconfig(demo_id("evergreen"), kubeconfigs / f"{demo_id('evergreen')}.yaml")))
    return DemoEnvironment(root=root, store_url=store_url, kubeconfigs_dir=kubeconfigs,
                           handover_key=root / "handover" / "handover-key.pem", scenarios=scenarios)


def run_demo(opts: Any = None, *, root: str | None = None, speed: float | None = None) -> int:
    """Create the demo directory and fleet, open the dashboard, clean up on quit.

    ``opts`` is the CLI's RunOptions (operator, read-only…); the store, kubeconfigs dir and
    handover key are the demo's own. A temporary directory is removed on quit; ``--dir`` keeps it.
    """
    import asyncio
    import dataclasses
    import shutil

    from .kube.simulator import ThreadedSimulator
    from .ui.app import run_dashboard_async

    root = root or getattr(opts, "demo_dir", None) or os.environ.get("CATALYST_TUI_DEMO_DIR")
    speed = speed or float(getattr(opts, "demo_speed", None) or os.environ.get("CATALYST_TUI_DEMO_SPEED") or 1.0)
    created = root is None
    path = make_demo_dir(root)
    try:
        with ThreadedSimulator(speed=speed) as sim:
            async def main() -> int:
                env = await prepare_demo(path, sim, speed=speed)
                demo_opts = opts
                if opts is not None and dataclasses.is_dataclass(opts):
                    demo_opts = dataclasses.replace(opts, store_url=env.store_url, kubeconfigs_dir=str(env.kubeconfigs_dir),
                                                    handover_key=str(env.handover_key))
                return await run_dashboard_async(
                    env.store_url, demo_opts, kubeconfigs_dir=str(env.kubeconfigs_dir),
                    store_label=f"demo · {env.store_url}",
                )

            return asyncio.run(main())
    finally:
        if created:
            shutil.rmtree(path, ignore_errors=True)
