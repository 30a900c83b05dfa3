"""End to end: the real ``catalyst-tui demo`` in a detached tmux session (private socket, 120x40),
driven with send-keys and read with capture-pane, the way an operator's terminal sees it.

It runs with ``TERM`` unset and ``NO_COLOR`` set (both happen under ``kubectl exec``).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import pytest

pytestmark = [
    pytest.mark.tmux,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (apt-get install -y tmux)"),
]


class Tmux:
    def __init__(self, socket: str) -> None:
        self.socket = socket

    def run(self, *args: str, check: bool = True) -> str:
        out = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=10)
        if check and out.returncode != 0:
            raise AssertionError(f"tmux {' '.join(args)}: {out.stderr.strip()}")
        return out.stdout

    def screen(self) -> str:
        return self.run("capture-pane", "-t", "dash", "-p")

    def keys(self, *keys: str) -> None:
        """Keys one by one (for ESC, which a terminal merges with a letter right behind it)."""
        for key in keys:
            # One key per call, with a pause: ESC followed too quickly by a letter reads as alt+letter.
            self.run("send-keys", "-t", "dash", key)
            time.sleep(0.25)

    def wait(self, predicate: Callable[[str], bool], what: str, timeout: float = 30.0) -> str:
        end = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < end:
            screen = self.screen()
            if predicate(screen):
                return screen
            time.sleep(0.25)
        raise AssertionError(f"timed out waiting for {what}; the screen was:\n{screen}")


def test_demo_in_tmux(tmp_path: Path) -> None:
    demo_dir = tmp_path / "demo"
    tmux = Tmux(f"catalyst-ui-e2e-{os.getpid()}")
    exe = Path(sys.executable).with_name("catalyst-tui")
    command = (
        f"env -u TERM NO_COLOR=1 CATALYST_OPERATOR=e2e {shlex.quote(str(exe))} demo --dir {shlex.quote(str(demo_dir))} --speed 15;"
        " echo EXIT=$?; sleep 30"
    )
    tmux.run("new-session", "-d", "-s", "dash", "-x", "120", "-y", "40", command)
    try:
        # (one predicate: a capture can catch a frame half drawn, so everything is waited for)
        tmux.wait(lambda s: "operator e2e" in s and "Sovereigns" in s and " watching " in s
                  and "✘ failed" in s and "⚠ phase1-watching" in s and "★ adopted" in s, "the fleet with live watchers")
        # Live: a watched Sovereign installs and turns ready (its row changes in place).
        tmux.wait(lambda s: "acme.omani.works" in s and "11/11" in s.split("acme.omani.works", 1)[1].split("\n", 1)[0],
                  "acme to install", timeout=30)
        # `/` filters, typed the way operators type in k9s: "/acme" and enter in ONE send-keys
        # (one terminal read). Before the fix "a" opened the audit log and "c"/"m"/"e" were lost.
        tmux.run("send-keys", "-t", "dash", "/acme", "Enter")
        screen = tmux.wait(lambda s: "filter: acme" in s and "acme.omani.works" in s and "juniper.omani.works" not in s,
                           "the filter")
        assert "Audit log" not in screen
        # Enter opens the detail (the filtered list has acme only).
        tmux.keys("Enter")
        tmux.wait(lambda s: "Sovereign acme.omani.works" in s and "Restart" in s and "Components" in s and "Events" in s,
                  "acme's detail")
        tmux.keys("Escape")
        tmux.wait(lambda s: "filter: acme" in s and "Status" in s, "back on the fleet")
        tmux.keys("Escape")
        tmux.wait(lambda s: "juniper.omani.works" in s, "the whole fleet again")
        tmux.keys("?")
        tmux.wait(lambda s: "Everywhere" in s and "patch-status" in s, "the help screen")
        tmux.keys("Escape")
        tmux.wait(lambda s: "Sovereigns" in s, "the fleet")
        # Resize to 80x24: still usable.
        tmux.run("resize-window", "-t", "dash", "-x", "80", "-y", "24")
        tmux.wait(lambda s: "Sovereigns" in s and "Status" in s, "the fleet at 80x24")
        tmux.keys("q")
        screen = tmux.wait(lambda s: "EXIT=" in s, "the dashboard to exit", timeout=20)
        assert "EXIT=0" in screen
    finally:
        tmux.run("kill-server", check=False)
    assert (demo_dir / "catalyst.db").exists()  # --dir keeps the demo's own directory, and only that
