"""A realistic fleet for the dashboard tests: every status, written into a real SQLite store.

Paths in the records are the production ones (``/var/lib/catalyst/kubeconfigs/<id>.yaml``) so the
snapshots never show a temporary directory; :func:`volume_stat` maps ``/var/lib/catalyst`` onto a
real directory under ``tmp_path`` where the kubeconfigs that exist are real files.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from catalyst_tui.domain.record import Record
from catalyst_tui.domain.statuses import BOOTSTRAP_KIT
from catalyst_tui.store.sqlite import SQLiteStore

NOW = datetime(2026, 5, 4, 10, 0, 0, tzinfo=timezone.utc)
VOLUME = "/var/lib/catalyst"
KUBECONFIGS = f"{VOLUME}/kubeconfigs"
STORE_LABEL = "sqlite:///srv/catalyst/fleet.db"

ABANDONED = "1a0c5e7f2b9d4e01"   # failed: Phase 0 abandoned by a restart
PLATFORM_FAILED = "2b1d6f803cae5f12"  # failed: a component failed in Phase 1
STALE = "3c2e70914dbf6023"       # phase1-watching without a kubeconfig
WATCHING = "4d3f81a25ec07134"    # phase1-watching, kubeconfig present (resumable), 7/11
TOFU = "5e4092b36fd18245"        # tofu-applying (Phase 0 in flight)
READY_FIRED = "6f51a3c470e29356"  # ready, handover fired
READY_NOT_FIRED = "7062b4d581f3a467"  # ready, no handover yet
ADOPTED = "8173c5e69204b578"     # adopted
HOSTILE = "9284d6f7a315c689"     # pending, with markup and control characters in its text

HOSTILE_ORG = "[bold red]x[/]"
HOSTILE_FQDN = "[@click=app.quit]evil.example"

ORPHAN = (
    "catalyst-api restarted during provisioning — this deployment was abandoned mid-apply. Hetzner "
    "resources tagged with `catalyst-deployment-id={id}` are orphans and must be purged manually "
    "(hcloud server, lb, network, firewall, ssh-key) before retrying. The wizard cannot resume — start a new deployment."
)

DEPENDS = {
    "cilium": [],
    "cert-manager": ["cilium"],
    "flux": ["cilium"],
    "crossplane": ["flux"],
    "sealed-secrets": ["flux"],
    "spire": ["cert-manager"],
    "nats-jetstream": ["spire"],
    "openbao": ["cert-manager", "spire"],
    "keycloak": ["openbao", "cert-manager"],
    "gitea": ["keycloak"],
    "catalyst-platform": ["keycloak", "gitea", "nats-jetstream"],
}


def _req(org: str, sub: str, email: str = "", region: str = "fsn1") -> dict[str, Any]:
    req = {
        "orgName": org,
        "sovereignFQDN": f"{sub}.omani.works" if "." not in sub else sub,
        "sovereignDomainMode": "pool",
        "sovereignPoolDomain": "omani.works",
        "sovereignSubdomain": sub,
        "hetznerToken": "<redacted>",
        "hetznerProjectID": "2451190",
        "region": region,
        "dynadotKey": "<redacted>",
        "dynadotSecret": "<redacted>",
    }
    if email:
        req["orgEmail"] = email
    return req


def _result(sub: str, rid: str, **extra: Any) -> dict[str, Any]:
    fqdn = f"{sub}.omani.works"
    return {
        "sovereignFQDN": fqdn,
        "controlPlaneIP": "203.0.113.10",
        "loadBalancerIP": "203.0.113.20",
        "consoleURL": f"https://console.{fqdn}",
        "gitopsRepoURL": f"https://gitea.{fqdn}",
        **extra,
    }


def ev(time: str, phase: str, message: str, level: str = "info", **extra: Any) -> dict[str, Any]:
    out = {"time": f"2026-05-04T{time}Z", "phase": phase, "level": level, "message": message}
    out.update({k: v for k, v in extra.items() if v})
    return out


def comp(time: str, cid: str, state: str, message: str, level: str = "info") -> dict[str, Any]:
    return ev(time, "component", message, level, component=cid, state=state, dependsOn=DEPENDS.get(cid))


def helm_log(time: str, cid: str, msg: str, level: str = "info") -> dict[str, Any]:
    line = json.dumps({"level": level, "HelmRelease": {"name": f"bp-{cid}", "namespace": "flux-system"}, "msg": msg})
    return ev(time, "component-log", line, level, component=cid)


def phase0_events(until: str = "tofu-apply", hour: str = "09", minute: int = 0) -> list[dict[str, Any]]:
    def at(m: int, sec: str) -> str:
        return f"{hour}:{minute + m:02d}:{sec}"

    out = [
        ev(at(0, "02"), "tofu-init", "Initialising OpenTofu working directory"),
        ev(at(0, "09"), "tofu-plan", "Planning Hetzner resources (network, firewall, server, LB, DNS)"),
        ev(at(0, "15"), "tofu-apply", "Applying — this provisions real Hetzner resources, please wait"),
        ev(at(1, "47"), "tofu", "hcloud_server.cp[0]: Creation complete after 30s"),
    ]
    if until == "flux-bootstrap":
        out += [
            ev(at(5, "12"), "tofu-output", "control_plane_ip = 203.0.113.10"),
            ev(at(7, "40"), "flux-bootstrap", "Cloud-init has bootstrapped Flux + Crossplane in the new cluster"),
        ]
    return out


def watching_events() -> list[dict[str, Any]]:
    out = phase0_events("flux-bootstrap")
    out += [
        comp("09:08:02", "cilium", "installed", "Helm install succeeded"),
        comp("09:08:05", "cert-manager", "pending", "dependency 'flux-system/bp-cilium' is not ready"),
        helm_log("09:08:06", "cert-manager", "reconciling"),
        helm_log("09:08:07", "cert-manager", "running install"),
        comp("09:09:30", "cert-manager", "installed", "Helm install succeeded"),
        comp("09:09:31", "flux", "installed", "Helm install succeeded"),
        comp("09:10:02", "crossplane", "installed", "Helm install succeeded"),
        comp("09:10:40", "sealed-secrets", "installed", "Helm install succeeded"),
        comp("09:11:10", "spire", "installed", "Helm install succeeded"),
        comp("09:12:00", "nats-jetstream", "installed", "Helm install succeeded"),
        comp("09:12:30", "openbao", "installing", "Helm install in progress"),
        helm_log("09:12:31", "openbao", "running install"),
        helm_log("09:12:44", "openbao", "waiting for StatefulSet openbao to be ready"),
        helm_log("09:13:02", "openbao", "waiting for StatefulSet openbao to be ready"),
        comp("09:13:20", "keycloak", "pending", "dependency 'flux-system/bp-openbao' is not ready"),
        comp("09:13:21", "gitea", "pending", "dependency 'flux-system/bp-keycloak' is not ready"),
        comp("09:13:22", "catalyst-platform", "pending", "dependency 'flux-system/bp-keycloak' is not ready"),
        ev("09:40:00", "component", "watcher-reconnecting: Sovereign API unreachable (dial tcp 203.0.113.10:6443: i/o timeout)", "warn"),
    ]
    return out


def failed_events() -> list[dict[str, Any]]:
    out = phase0_events("flux-bootstrap")
    for i, cid in enumerate(BOOTSTRAP_KIT[:-1]):
        out.append(comp(f"09:{10 + i:02d}:00", cid, "installed", "Helm install succeeded"))
    out += [
        helm_log("09:21:00", "catalyst-platform", "install retries exhausted", "error"),
        comp("09:21:05", "catalyst-platform", "failed",
             "Helm install failed for release catalyst-system/catalyst-platform with chart bp-catalyst-platform@1.4.2: "
             "context deadline exceeded", "error"),
    ]
    return out


def all_installed(last: str = "09:31:12") -> list[dict[str, Any]]:
    out = phase0_events("flux-bootstrap")
    for i, cid in enumerate(BOOTSTRAP_KIT):
        out.append(comp(f"09:{10 + i:02d}:00" if cid != "catalyst-platform" else last, cid, "installed", "Helm install succeeded"))
    return out


def fleet_records() -> list[Record]:
    recs: list[dict[str, Any]] = [
        {
            "id": ABANDONED, "status": "failed", "request": _req("Globex Corporation", "globex", "it@globex.example", "nbg1"),
            "error": ORPHAN.format(id=ABANDONED),
            "startedAt": "2026-05-04T08:10:00.118734120Z", "finishedAt": "2026-05-04T08:13:55.118734120Z",
            "events": phase0_events("tofu-apply", "08", 10),
        },
        {
            "id": PLATFORM_FAILED, "status": "failed", "request": _req("Initech", "initech", "ops@initech.example"),
            "result": _result("initech", PLATFORM_FAILED, kubeconfigPath=f"{KUBECONFIGS}/{PLATFORM_FAILED}.yaml",
                              componentStates={c: ("failed" if c == "catalyst-platform" else "installed") for c in BOOTSTRAP_KIT},
                              phase1FinishedAt="2026-05-04T09:21:05.004118Z", phase1Outcome="failed"),
            "error": "Phase 1 finished with 1 failed component(s); see ComponentStates for the per-component breakdown",
            "startedAt": "2026-05-04T08:58:00Z", "finishedAt": "2026-05-04T09:21:05.004201733Z",
            "events": failed_events(),
        },
        {
            "id": STALE, "status": "phase1-watching", "request": _req("Umbrella Health", "umbrella", "sre@umbrella.example", "hel1"),
            "result": _result("umbrella", STALE, phase1Substate="watcher-watching"),
            "startedAt": "2026-05-04T07:30:00Z",
            "events": phase0_events("flux-bootstrap", "07", 30) + [
                comp("07:52:00", "cilium", "installed", "Helm install succeeded"),
                comp("07:52:30", "cert-manager", "installing", "Helm install in progress"),
                ev("07:53:10", "component", "Phase-1 watch terminated by context: context canceled — see ComponentStates for current outcome", "warn"),
            ],
        },
        {
            "id": WATCHING, "status": "phase1-watching", "request": _req("Acme Telecom", "acme", "ops@acme.example"),
            "result": _result("acme", WATCHING, kubeconfigPath=f"{KUBECONFIGS}/{WATCHING}.yaml", phase1Substate="watcher-reconnecting"),
            "startedAt": "2026-05-04T09:00:01.482913377Z",
            "events": watching_events(),
        },
        {
            "id": TOFU, "status": "tofu-applying", "request": _req("Hooli", "hooli", "noc@hooli.example", "ash"),
            "startedAt": "2026-05-04T09:55:00Z",
            "events": phase0_events("tofu-apply", "09", 55),
        },
        {
            "id": READY_FIRED, "status": "ready", "request": _req("Stark Industries", "stark", "tony@stark.example"),
            "result": _result("stark", READY_FIRED, kubeconfigPath=f"{KUBECONFIGS}/{READY_FIRED}.yaml",
                              componentStates={c: "installed" for c in BOOTSTRAP_KIT},
                              phase1FinishedAt="2026-05-04T09:31:12.004118Z", phase1Outcome="ready",
                              handoverFiredAt="2026-05-04T09:31:12.2209Z",
                              handoverURL="https://console.stark.omani.works/auth/handover?token=eyJhbGciOiJSUzI1NiJ9.SECRET.SIG"),
            "startedAt": "2026-05-04T08:59:00Z", "finishedAt": "2026-05-04T09:31:12.004201733Z",
            "ownerEmail": "tony@stark.example",
            "events": all_installed() + [ev("09:31:12", "handover-ready", json.dumps(
                {"expiresAt": "2026-05-04T09:36:12Z", "handoverURL": "https://console.stark.omani.works/auth/handover?token=eyJ.SECRET.SIG"}))],
        },
        {
            "id": READY_NOT_FIRED, "status": "ready", "request": _req("Wayne Enterprises", "wayne", "bruce@wayne.example"),
            "result": _result("wayne", READY_NOT_FIRED, kubeconfigPath=f"{KUBECONFIGS}/{READY_NOT_FIRED}.yaml",
                              componentStates={c: "installed" for c in BOOTSTRAP_KIT},
                              phase1FinishedAt="2026-05-04T09:45:00Z", phase1Outcome="ready"),
            "startedAt": "2026-05-04T08:59:30Z", "finishedAt": "2026-05-04T09:45:00Z",
            "events": all_installed("09:45:00"),
        },
        {
            "id": ADOPTED, "status": "adopted", "request": {"orgName": "Wonka Confections", "orgEmail": "willy@wonka.example",
                                                           "sovereignFQDN": "wonka.omani.works"},
            "startedAt": "2026-05-03T14:00:00Z", "finishedAt": "2026-05-03T16:00:00Z", "adoptedAt": "2026-05-03T16:00:00Z",
            "events": None,
        },
        {
            "id": HOSTILE, "status": "pending", "request": {"orgName": HOSTILE_ORG, "sovereignFQDN": HOSTILE_FQDN, "region": "fsn1"},
            "error": "\x1b[31mred\x1b[0m [link=https://evil.example]click[/link]",
            "startedAt": "2026-05-04T09:58:00Z",
            "events": None,
        },
    ]
    return [Record.model_validate(r) for r in recs]


def write_kubeconfigs(root: Path) -> None:
    """Real kubeconfig files for the records whose watch can resume."""
    kdir = root / "kubeconfigs"
    kdir.mkdir(parents=True, exist_ok=True)
    for rid in (WATCHING, PLATFORM_FAILED, READY_FIRED, READY_NOT_FIRED):
        p = kdir / f"{rid}.yaml"
        p.write_text("apiVersion: v1\nkind: Config\n")
        p.chmod(0o600)


def volume_stat(root: Path) -> Callable[[str], object]:
    """``os.stat`` with ``/var/lib/catalyst`` mapped to ``root`` (a real directory)."""

    def stat(path: str) -> object:
        if path == VOLUME or path.startswith(VOLUME + "/"):
            path = str(root) + path[len(VOLUME):]
        return os.stat(path)

    return stat


async def seed(db: Path, records: list[Record] | None = None) -> None:
    store = SQLiteStore(db)
    await store.open()
    try:
        for rec in records if records is not None else fleet_records():
            await store.create(rec)
    finally:
        await store.close()
