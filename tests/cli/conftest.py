"""Fixtures for the CLI suite: real SQLite files and real record directories on tmp_path."""

from __future__ import annotations

import hashlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from catalyst_tui.cli.main import main
from catalyst_tui.domain.record import Record, record_to_dict, to_catalyst_json
from catalyst_tui.store.urls import open_store

from tests.storedump import dump_store, get_record, run  # noqa: F401  (shared helpers)

REPO = Path(__file__).resolve().parents[2]

ENV_VARS = (
    "CATALYST_TUI_STORE",
    "CATALYST_OPERATOR",
    "SSH_CONNECTION",
    "CATALYST_KUBECONFIGS_DIR",
    "CATALYST_HANDOVER_KEY_PATH",
    "CATALYST_TUI_DEBUG",
)

FAILED = "a000000000000001"
STALE = "b000000000000002"
TOFU = "c000000000000003"
READY = "d000000000000004"
RESUMABLE = "e000000000000005"
HOSTILE = "f000000000000006"

BASE_REQUEST = {
    "orgName": "Acme Telecom",
    "orgEmail": "ops@acme.example",
    "sovereignFQDN": "acme.omani.works",
    "region": "fsn1",
    "hetznerToken": "<redacted>",
    "dynadotKey": "<redacted>",
}


def record(rid: str, status: str, *, result: dict | None = None, events: list | None = None, **top: Any) -> Record:
    data: dict[str, Any] = {
        "id": rid,
        "status": status,
        "request": {**BASE_REQUEST, "sovereignFQDN": f"{rid[:4]}.omani.works", **top.pop("request", {})},
        "startedAt": top.pop("startedAt", "2026-05-04T09:00:01.482913377Z"),
        "finishedAt": top.pop("finishedAt", "0001-01-01T00:00:00Z"),
        "events": events,
    }
    if result is not None:
        data["result"] = result
    data.update(top)
    return Record.model_validate(data)


def comp_event(t: str, comp: str, state: str, msg: str = "Helm install succeeded") -> dict:
    return {"time": t, "phase": "component", "level": "info", "message": msg, "component": comp, "state": state}


def fleet_records(kdir: Path) -> list[Record]:
    (kdir / f"{RESUMABLE}.yaml").write_text("apiVersion: v1\nkind: Config\n")
    kit = ["cilium", "cert-manager", "flux"]
    return [
        record(FAILED, "failed", error="Phase 1 finished with 1 failed component(s); see ComponentStates\nsecond line",
               finishedAt="2026-05-04T09:40:00Z",
               result={"sovereignFQDN": "a000.omani.works", "componentStates": {"cilium": "installed", "flux": "failed"},
                       "phase1FinishedAt": "2026-05-04T09:40:00Z", "phase1Outcome": "failed"}),
        record(STALE, "phase1-watching", startedAt="2026-05-05T09:00:00Z",
               result={"sovereignFQDN": "b000.omani.works", "kubeconfigPath": str(kdir / "gone.yaml")},
               events=[comp_event("2026-05-05T09:08:02Z", "cilium", "installed")]),
        record(TOFU, "tofu-applying", events=[{"time": "2026-05-04T09:00:02Z", "phase": "tofu-init", "level": "info",
                                                "message": "Initialising OpenTofu working directory"}]),
        record(READY, "ready", finishedAt="2026-05-04T09:31:12Z",
               result={"sovereignFQDN": "d000.omani.works", "componentStates": {c: "installed" for c in kit},
                       "phase1FinishedAt": "2026-05-04T09:31:12Z", "phase1Outcome": "ready"},
               events=[comp_event("2026-05-04T09:08:02Z", c, "installed") for c in kit]),
        record(RESUMABLE, "ready", result={"sovereignFQDN": "e000.omani.works"}),
        record(HOSTILE, "failed", request={"orgName": "Evil\x1b[31mCorp\x9b2J", "hetznerToken": "plaintext-oops-secret"},
               error="bad \x1b]52;c;cHduZWQ=\x07 news\u202eevil",
               events=[{"time": "2026-05-04T09:00:02Z", "phase": "tofu", "level": "warn",
                        "message": "\x1b]0;title\x07hello\x1b[2J"}]),
    ]


async def _seed(url: str, records: list[Record]) -> None:
    async with open_store(url) as store:
        for rec in records:
            await store.create(rec)


def audit_entries(url: str) -> list[dict]:
    return dump_store(url)["audit"]


def tree_bytes(root: Path) -> dict[str, tuple[bytes, int]]:
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            p = Path(dirpath) / name
            out[str(p.relative_to(root))] = (hashlib.sha256(p.read_bytes()).digest(), p.stat().st_mode)
    return out


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    # Never touch the real user data directory (default store, default handover key).
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LOGNAME", "tester")
    monkeypatch.setenv("USER", "tester")


@pytest.fixture
def kdir(tmp_path: Path) -> Path:
    d = tmp_path / "kubeconfigs"
    d.mkdir()
    return d


@pytest.fixture
def db(tmp_path: Path, kdir: Path) -> str:
    """A real SQLite store holding the sample fleet; returns its URL."""
    url = f"sqlite://{tmp_path / 'fleet.db'}"
    run(_seed(url, fleet_records(kdir)))
    return url


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], kdir: Path):
    """Run ``catalyst-tui`` in-process: ``cli(store_url, *args)``; kubeconfigs dir preset."""

    def invoke(store: str | None, *args: str, kubeconfigs: bool = True) -> Result:
        capsys.readouterr()
        argv: list[str] = []
        if store is not None:
            argv += ["--store", store]
        if kubeconfigs:
            argv += ["--kubeconfigs-dir", str(kdir)]
        code = main(argv + list(args))
        captured = capsys.readouterr()
        assert "Traceback" not in captured.err
        return Result(code, captured.out, captured.err)

    return invoke


def subprocess_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ENV_VARS}
    env.update(extra)
    return env


PYTHON = sys.executable


def record_dict(rec: Record) -> dict:
    return record_to_dict(rec)
