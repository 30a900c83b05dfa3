"""Kubeconfig loading: one fresh Configuration per file, one-line errors without secrets, and the
watcher shows a broken kubeconfig as a visible state (never a crash)."""

from __future__ import annotations

import base64
import socket
from pathlib import Path

import pytest
import yaml

from catalyst_tui.kube.kubeconfig import KubeconfigError, load_configuration
from catalyst_tui.kube.simulator import KubeSimulator, helmrelease, kubeconfig_dict, write_kubeconfig
from catalyst_tui.kube.state import WatchPhase

from .conftest import Recorder, Running, make_watcher, wait_for

TOKEN = "s3cr3t-token-" + "a" * 40
CERT = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n").decode()


def write(path: Path, data: object | str) -> Path:
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return path


def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def exec_config(command: str, args: list[str] | None = None, env: list[dict] | None = None) -> dict:
    d = kubeconfig_dict(server="https://127.0.0.1:6443", token="unused", name="x")
    d["clusters"][0]["cluster"]["certificate-authority-data"] = CERT
    user: dict = {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": command}}
    if args:
        user["exec"]["args"] = args
    if env:
        user["exec"]["env"] = env
    d["users"][0]["user"] = user
    return d


def assert_clean(message: str) -> None:
    assert "\n" not in message
    assert TOKEN not in message and CERT not in message and "BEGIN CERTIFICATE" not in message
    assert len(message) <= 240


async def test_loads_into_a_fresh_configuration(tmp_path: Path) -> None:
    path = write_kubeconfig(tmp_path / "a.yaml", server="http://127.0.0.1:1/clusters/a", token=TOKEN, name="a")
    before = path.read_bytes()
    cfg = await load_configuration(str(path))
    assert cfg.host == "http://127.0.0.1:1/clusters/a"
    assert cfg.api_key["BearerToken"] == f"Bearer {TOKEN}"
    from kubernetes_asyncio import client

    assert client.Configuration.get_default_copy().host != cfg.host  # the global default is untouched
    assert path.read_bytes() == before  # persist_config=False
    other = await load_configuration(str(write_kubeconfig(tmp_path / "b.yaml", server="http://127.0.0.1:2/clusters/b",
                                                          token="t2", name="b")))
    assert other is not cfg and cfg.api_key["BearerToken"] == f"Bearer {TOKEN}"


@pytest.mark.parametrize("case,content,kind,needle", [
    ("not-yaml", "apiVersion: v1\nclusters: [\n  - {name: a\ntoken: " + TOKEN + "\n", "not-yaml", "not YAML"),
    ("not-mapping", "just a string\n", "invalid", "expected a YAML mapping"),
    ("no-contexts", {"apiVersion": "v1", "clusters": [{"name": "a", "cluster": {"server": "http://x"}}]}, "invalid", "no contexts"),
    ("missing-context", {**kubeconfig_dict(server="http://127.0.0.1:1", token=TOKEN, name="a"), "current-context": "nope"},
     "missing-context", "context 'nope' not found"),
    ("context-names-missing-cluster", {**kubeconfig_dict(server="http://127.0.0.1:1", token=TOKEN, name="a"),
                                       "clusters": [{"name": "other", "cluster": {"server": "http://x",
                                                                                   "certificate-authority-data": CERT}}]},
     "invalid", "cluster 'a' (of context 'a') not found"),
    ("cluster-without-server", {**kubeconfig_dict(server="http://127.0.0.1:1", token=TOKEN, name="a"),
                                "clusters": [{"name": "a", "cluster": {}}]}, "invalid", "the cluster has no server URL"),
    ("binary", b"\xff\xfe\x00garbage".decode("latin-1"), "not-yaml", ""),
])
async def test_bad_kubeconfig_errors(tmp_path: Path, case: str, content: object, kind: str, needle: str) -> None:
    path = write(tmp_path / f"{case}.yaml", content)
    if case == "binary":
        path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(KubeconfigError) as err:
        await load_configuration(str(path))
    msg = str(err.value)
    assert err.value.kind == kind, msg
    assert needle in msg and str(path) in msg
    assert_clean(msg)


async def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(KubeconfigError) as err:
        await load_configuration(str(tmp_path / "gone.yaml"))
    assert err.value.kind == "missing" and "no such file" in str(err.value)
    with pytest.raises(KubeconfigError) as err:
        await load_configuration(str(tmp_path))
    assert err.value.kind == "unreadable"


async def test_exec_plugin_not_installed(tmp_path: Path) -> None:
    path = write(tmp_path / "exec.yaml", exec_config("kubectl-no-such-plugin-xyz"))
    with pytest.raises(KubeconfigError) as err:
        await load_configuration(str(path))
    msg = str(err.value)
    assert err.value.kind == "exec-plugin"
    assert "'kubectl-no-such-plugin-xyz' is not installed" in msg
    assert_clean(msg)


async def test_exec_plugin_failure_never_echoes_secrets(tmp_path: Path) -> None:
    # the plugin prints the secret from its env on stderr and fails: the message must not carry it
    cfg = exec_config("sh", ["-c", 'echo "login failed for $SECRET_ENV" >&2; exit 3'],
                      env=[{"name": "SECRET_ENV", "value": TOKEN}])
    path = write(tmp_path / "exec.yaml", cfg)
    with pytest.raises(KubeconfigError) as err:
        await load_configuration(str(path))
    msg = str(err.value)
    assert err.value.kind == "exec-plugin" and "process returned 3" in msg and "<redacted>" in msg
    assert_clean(msg)


# --- the watcher turns each of them into a visible state -------------------------------------------

@pytest.mark.parametrize("case", ["not-yaml", "missing-context", "closed-port", "wrong-token", "exec-plugin", "missing-file"])
async def test_watcher_shows_bad_kubeconfig(sim: KubeSimulator, tmp_path: Path, case: str) -> None:
    good = sim.add_cluster("good")
    good.apply(helmrelease("bp-cilium"))
    gw, grec = make_watcher(sim.write_kubeconfig("good", tmp_path / "good.yaml"), record_id="good")
    sim.add_cluster("bad")
    path = tmp_path / "bad.yaml"
    if case == "not-yaml":
        write(path, "clusters: [\n")
    elif case == "missing-context":
        write(path, {**kubeconfig_dict(server=sim.server_url("bad"), token=TOKEN, name="bad"), "current-context": "gone"})
    elif case == "closed-port":
        write_kubeconfig(path, server=f"http://127.0.0.1:{closed_port()}/clusters/bad", token=TOKEN, name="bad")
    elif case == "wrong-token":
        write_kubeconfig(path, server=sim.server_url("bad"), token=TOKEN, name="bad")
    elif case == "exec-plugin":
        d = kubeconfig_dict(server=sim.server_url("bad"), token="x", name="bad")
        d["users"][0]["user"] = {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": "kubectl-nope-plugin"}}
        write(path, d)
    watcher, rec = make_watcher(path, record_id="bad")
    expected = WatchPhase.RECONNECTING if case == "closed-port" else WatchPhase.ERROR
    async with Running(gw), Running(watcher):
        await wait_for(lambda: watcher.status.phase == expected and rec.events, 5, f"{expected} for {case}")
        good.set_condition("bp-cilium", "True", "InstallSucceeded", "ok")
        await wait_for(lambda: grec.states().get("cilium") == "installed", 5, "the good cluster goes on")
    reason = watcher.status.reason
    assert reason and "\n" not in reason and TOKEN not in reason
    level, message = rec.events[0]
    assert level == ("warn" if case == "closed-port" else "error")
    assert rec.transitions == []
    if case == "closed-port":
        assert "cannot connect to 127.0.0.1" in reason
    elif case == "wrong-token":
        assert reason.startswith("401 Unauthorized")
    else:
        assert str(path) in reason
