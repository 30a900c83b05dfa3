"""deploy/: the sidecar patch renders onto catalyst-api's Deployment and has what
`kubectl exec -it deploy/catalyst-api -c catalyst-tui -- catalyst-tui` needs."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def sidecar(deployment: dict) -> dict:
    containers = {c["name"]: c for c in deployment["spec"]["template"]["spec"]["containers"]}
    assert set(containers) == {"catalyst-api", "catalyst-tui"}
    return containers["catalyst-tui"]


def check(deployment: dict) -> None:
    c = sidecar(deployment)
    assert c["stdin"] is True and c["tty"] is True
    assert c["securityContext"]["runAsUser"] == 65534
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["CATALYST_TUI_STORE"] == "catalyst-dir:///var/lib/catalyst/deployments"
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    assert mounts["catalyst"] == "/var/lib/catalyst"
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert volumes["catalyst"]["persistentVolumeClaim"]["claimName"] == "catalyst-api-deployments"
    assert set(mounts) <= set(volumes)


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed (kubectl kustomize renders the patch)")
def test_kustomize_renders_the_sidecar() -> None:
    out = subprocess.run(["kubectl", "kustomize", str(DEPLOY)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    docs = [d for d in yaml.safe_load_all(out.stdout) if d]
    (deployment,) = [d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "catalyst-api"]
    check(deployment)


def test_containerfile_runs_as_65534_and_idles() -> None:
    text = (DEPLOY / "Containerfile").read_text()
    assert "USER 65534:65534" in text
    assert "CATALYST_TUI_STORE=catalyst-dir:///var/lib/catalyst/deployments" in text
    assert "signal.pause()" in text
