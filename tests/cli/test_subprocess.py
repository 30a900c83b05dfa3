"""A representative few through real processes: ``python -m catalyst_tui`` and the console script."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from catalyst_tui.domain.record import Event
from catalyst_tui.store.urls import open_store

from .conftest import FAILED, HOSTILE, READY, STALE, audit_entries, dump_store, run, subprocess_env


def cli_proc(*args: str, env: dict[str, str] | None = None, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "catalyst_tui", *args],
        capture_output=True, text=True, timeout=timeout, env=env or subprocess_env(), stdin=subprocess.DEVNULL,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def test_list_json_and_inert_table(db, kdir):
    p = cli_proc("--store", db, "--kubeconfigs-dir", str(kdir), "list", "--json")
    assert p.returncode == 0, p.stderr
    rows = json.loads(p.stdout)
    assert [r["id"] for r in rows][:3] == [FAILED, HOSTILE, STALE]
    p = cli_proc("--store", db, "list")
    assert p.returncode == 0 and "\x1b" not in p.stdout and "\\x1b[31m" in p.stdout


def test_exit_codes_and_one_line_errors(db):
    before = dump_store(db)
    cases = [
        (["patch-status", READY, "--to", "failed", "--reason", "x", "--expect", "adopted"], 4),
        (["--read-only", "patch-status", READY, "--to", "failed", "--reason", "x"], 5),
        (["patch-status", READY, "--to", "exploded", "--reason", "x"], 2),
        (["patch-status", "../etc", "--to", "failed", "--reason", "x"], 2),
        (["show", "0000000000000000"], 3),
        (["handover", FAILED], 5),
        (["patch-status", READY], 2),
    ]
    for args, code in cases:
        p = cli_proc("--store", db, *args)
        assert p.returncode == code, (args, p.stderr)
        assert p.stdout == ""
        if code != 2 or "--to" in args:
            assert p.stderr.count("\n") == 1 and p.stderr.startswith("catalyst-tui: "), p.stderr
    assert dump_store(db) == before


def test_operator_from_ssh_connection_and_env(db):
    env = subprocess_env(SSH_CONNECTION="203.0.113.7 40000 10.0.0.2 22", LOGNAME="opsuser", USER="opsuser")
    p = cli_proc("--store", db, "patch-status", FAILED, "--to", "failed", "--reason", "via ssh", env=env)
    assert p.returncode == 0, p.stderr
    assert audit_entries(db)[-1]["operator"] == "opsuser@203.0.113.7"
    env = subprocess_env(CATALYST_OPERATOR="bob", CATALYST_TUI_STORE=db)
    p = cli_proc("patch-status", FAILED, "--to", "failed", "--reason", "via env", env=env)
    assert p.returncode == 0, p.stderr
    assert audit_entries(db)[-1]["operator"] == "bob"


def test_console_script_help():
    script = Path(sys.executable).with_name("catalyst-tui")
    if not script.exists():
        pytest.skip("console script not installed in this environment")
    p = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=20, env=subprocess_env())
    assert p.returncode == 0 and "patch-status" in p.stdout


class LineReader:
    """Reads a pipe on a thread so a test can wait for a line with a deadline (select() on a
    buffered text stream misses lines already in the buffer)."""

    def __init__(self, stream) -> None:  # type: ignore[no-untyped-def]
        self.lines: queue.Queue[str] = queue.Queue()
        self.thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self.thread.start()

    def _pump(self, stream) -> None:  # type: ignore[no-untyped-def]
        for line in iter(stream.readline, ""):
            self.lines.put(line)

    def next(self, timeout: float = 10) -> str:
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("no output line in time") from None


def test_events_follow_prints_new_events_and_stops_on_signal(db):
    proc = subprocess.Popen(
        [sys.executable, "-m", "catalyst_tui", "--store", db, "events", READY, "--follow", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=subprocess_env(), bufsize=1,
    )
    try:
        reader = LineReader(proc.stdout)
        first = [json.loads(reader.next()) for _ in range(3)]
        assert [e["component"] for e in first] == ["cilium", "cert-manager", "flux"]

        async def append() -> None:
            async with open_store(db) as store:
                await store.append_events(READY, [Event.model_validate(
                    {"time": "2026-05-04T10:00:00Z", "phase": "component-log", "level": "info",
                     "message": "followed \x1b[2J", "component": "flux"})])

        run(append())
        line = reader.next()
        assert json.loads(line)["message"] == "followed \x1b[2J"
        assert "\x1b" not in line  # NDJSON escapes it
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        reader.thread.join(timeout=5)
        assert "Traceback" not in (proc.stderr.read() if proc.stderr else "")
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()


def test_show_json_on_a_terminal_is_inert_and_piped_is_exact(db):
    import pty

    from .conftest import get_record
    from catalyst_tui.domain.record import to_catalyst_json

    exact = to_catalyst_json(get_record(db, HOSTILE))
    assert "\x9b" in exact  # catalyst-api's bytes keep the C1 control raw
    piped = cli_proc("--store", db, "show", HOSTILE, "--json")
    assert piped.stdout == exact
    master, slave = pty.openpty()
    try:
        proc = subprocess.run([sys.executable, "-m", "catalyst_tui", "--store", db, "show", HOSTILE, "--json"],
                              stdout=slave, stderr=subprocess.PIPE, env=subprocess_env(), timeout=20)
        os.close(slave)
        slave = -1
        chunks = []
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
    finally:
        if slave >= 0:
            os.close(slave)
        os.close(master)
    assert proc.returncode == 0
    shown = b"".join(chunks).decode("utf-8").replace("\r\n", "\n")
    assert "\x9b" not in shown and "\\u009b" in shown
    assert json.loads(shown) == json.loads(exact)
