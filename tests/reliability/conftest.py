"""Fixtures for the reliability suite (issue 6).

``--soak`` (registered by tests/conftest.py) or ``CATALYST_TUI_SOAK=1`` turns on the long
variants: more kill rounds and writes, ten times the concurrent operations, twenty times the
patches alongside catalyst-api.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from catalyst_tui.cli.main import main

from .support import TOOL_ENV, Proc


def soak_enabled(config: pytest.Config) -> bool:
    flag = bool(config.getoption("--soak", default=False))
    return flag or os.environ.get("CATALYST_TUI_SOAK", "") not in ("", "0")


@pytest.fixture
def soak(request: pytest.FixtureRequest) -> bool:
    return soak_enabled(request.config)


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in TOOL_ENV:
        monkeypatch.delenv(var, raising=False)
    # Never touch the real user data directory (default store, default handover key).
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LOGNAME", "tester")
    monkeypatch.setenv("USER", "tester")


@pytest.fixture
def kdir(tmp_path: Path) -> Path:
    d = tmp_path / "kubeconfigs"
    d.mkdir(exist_ok=True)
    return d


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], kdir: Path):
    """``cli(store_url, *args)``: the real command line, in-process, kubeconfigs dir preset."""

    def invoke(store: str | None, *args: str) -> Proc:
        capsys.readouterr()
        argv: list[str] = []
        if store is not None:
            argv += ["--store", store]
        argv += ["--kubeconfigs-dir", str(kdir)]
        code = main(argv + list(args))
        captured = capsys.readouterr()
        assert "Traceback" not in captured.err, captured.err
        return Proc(code, captured.out, captured.err)

    return invoke
