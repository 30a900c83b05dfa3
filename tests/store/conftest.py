"""Fixtures for the store suite: real SQLite files and real record directories on tmp_path."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from catalyst_tui.domain.record import Event, Record, loads_record, to_catalyst_json

SAMPLE = """{
  "id": "3f9c2a7e1b8d4c60",
  "status": "phase1-watching",
  "request": {
    "orgName": "Acme Telecom",
    "orgEmail": "ops@acme.example",
    "sovereignFQDN": "acme.omani.works",
    "region": "fsn1",
    "hetznerToken": "<redacted>",
    "futureRequestKey": {"nested": [1, {"deep": true}]}
  },
  "result": {
    "sovereignFQDN": "acme.omani.works",
    "controlPlaneIP": "203.0.113.10",
    "loadBalancerIP": "203.0.113.20",
    "consoleURL": "https://console.acme.omani.works",
    "gitopsRepoURL": "https://gitea.acme.omani.works",
    "kubeconfigPath": "/var/lib/catalyst/kubeconfigs/3f9c2a7e1b8d4c60.yaml",
    "phase1Substate": "watcher-watching"
  },
  "startedAt": "2026-05-04T09:00:01.482913377Z",
  "finishedAt": "0001-01-01T00:00:00Z",
  "events": [
    {"time": "2026-05-04T09:07:40Z", "phase": "flux-bootstrap", "level": "info", "message": "Cloud-init has bootstrapped Flux"},
    {"time": "2026-05-04T09:08:02Z", "phase": "component", "level": "info", "message": "Helm install succeeded", "component": "cilium", "state": "installed"},
    {"time": "2026-05-04T09:08:05Z", "phase": "component", "level": "info", "message": "dependency 'flux-system/bp-cilium' is not ready", "component": "cert-manager", "state": "pending", "futureEventKey": 1}
  ],
  "pdmReservationToken": "rsv_7c1d0e9a44",
  "futureTopKey": ["x", {"y": null}]
}
"""


def make_record(record_id: str = "3f9c2a7e1b8d4c60", **changes) -> Record:
    rec = loads_record(SAMPLE)
    rec.id = record_id
    for k, v in changes.items():
        setattr(rec, k, v)
    return rec


def ev(i: int, *, phase: str = "component-log", component: str = "", state: str = "") -> Event:
    extra = {}
    if component:
        extra["component"] = component
    if state:
        extra["state"] = state
    data = {"time": f"2026-05-04T10:{(i // 60) % 60:02d}:{i % 60:02d}Z", "phase": phase, "level": "info", "message": f"line {i}"}
    data.update(extra)
    return Event.model_validate(data)


def snapshot_tree(root: Path) -> dict[str, tuple[bytes | str, int]]:
    """Every entry under root: file bytes' digest (or symlink target) and mode."""
    out: dict[str, tuple[bytes | str, int]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            p = Path(dirpath) / name
            rel = str(p.relative_to(root))
            st = os.lstat(p)
            if p.is_symlink():
                out[rel] = ("->" + os.readlink(p), st.st_mode)
            elif p.is_file():
                out[rel] = (hashlib.sha256(p.read_bytes()).digest(), st.st_mode)
            else:
                out[rel] = ("dir", st.st_mode)
    return out


@pytest.fixture
def sample_record() -> Record:
    return make_record()


#: SAMPLE as catalyst-api would have written it (2-space indent, struct key order).
SAMPLE_CANONICAL = to_catalyst_json(loads_record(SAMPLE))
