"""Shared helpers: subprocess timing on a real pseudo-terminal, statistics, JSON results."""

from __future__ import annotations

import fcntl
import json
import os
import platform
import pty
import select
import signal
import statistics
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path
from typing import Any, Callable, Sequence

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
RESULTS = ROOT / "bench" / "results"


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


_precompiled = False


def precompile() -> None:
    """Byte-compile the package (and the bench) once, as ``pip install`` does for a wheel. The
    children run with PYTHONDONTWRITEBYTECODE (a measurement writes nothing), so after a source
    change every child would otherwise compile the changed modules again (~30 ms of start-up
    measured on the dashboard, none on the minimal app, whose Textual is installed compiled)."""
    global _precompiled
    if _precompiled:
        return
    import compileall

    for pkg in ("catalyst_tui", "bench"):
        compileall.compile_dir(str(ROOT / pkg), quiet=1)
    _precompiled = True


def clean_env(tmp: Path | None = None, **extra: str) -> dict[str, str]:
    """The environment for a child: no user config, no proxies, a fixed terminal (the package is
    byte-compiled first: :func:`precompile`)."""
    precompile()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CATALYST_", "TEXTUAL_")) or k.startswith("CATALYST_BENCH")}
    env.update({"TERM": "xterm-256color", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"})
    env.pop("COLORTERM", None)
    env.pop("NO_COLOR", None)
    if tmp is not None:
        env["CATALYST_TUI_CONFIG"] = str(tmp / "no-config.toml")
        env["CATALYST_KUBECONFIGS_DIR"] = str(tmp / "kubeconfigs")
        env["CATALYST_HANDOVER_KEY_PATH"] = str(tmp / "handover-key.pem")
        env["XDG_DATA_HOME"] = str(tmp / "data")
        env["XDG_CONFIG_HOME"] = str(tmp / "config")
    env.update(extra)
    return env


def _vm_hwm_kb(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def time_to_marker_on_pty(cmd: Sequence[str], marker: bytes, *, env: dict[str, str], cwd: Path = ROOT,
                          size: tuple[int, int] = (120, 40), timeout: float = 60.0) -> dict[str, Any]:
    """Start ``cmd`` on a fresh pseudo-terminal of ``size`` (columns, rows) and return how long it
    took from just before the spawn until ``marker`` appeared in what it wrote to the terminal
    (i.e. until that text was painted), plus its peak RSS at that moment. The child is killed then.

    The marker is searched with the terminal escape sequences still in the stream, so it must be a
    run of characters Textual writes in one segment (one cell's text in one style)."""
    master, slave = pty.openpty()
    cols, rows = size
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    t0 = time.monotonic()
    proc = subprocess.Popen(list(cmd), stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd,
                            close_fds=True, start_new_session=True)
    os.close(slave)
    buf = bytearray()
    found: float | None = None
    rss_kb: int | None = None
    try:
        deadline = t0 + timeout
        while found is None:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            r, _, _ = select.select([master], [], [], min(left, 0.5))
            if not r:
                if proc.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(master, 1 << 16)
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
            # only the tail can contain a new match
            if marker in buf[-(len(chunk) + len(marker)):]:
                found = time.monotonic()
                rss_kb = _vm_hwm_kb(proc.pid)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
        os.close(master)
    if found is None:
        tail = bytes(buf[-600:]).decode("utf-8", "replace")
        raise RuntimeError(f"{' '.join(cmd)}: marker {marker!r} not painted within {timeout}s; exit {proc.returncode}; tail: {tail!r}")
    return {"seconds": found - t0, "rss_mb": (rss_kb or 0) / 1024, "bytes_written": len(buf)}


def timed_run(cmd: Sequence[str], *, env: dict[str, str], cwd: Path = ROOT, check: Callable[[bytes], None] | None = None,
              timeout: float = 300.0) -> dict[str, Any]:
    """Wall time of a subprocess whose stdout is read through a pipe (as ``| jq`` would)."""
    t0 = time.monotonic()
    proc = subprocess.run(list(cmd), env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    elapsed = time.monotonic() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: exit {proc.returncode}: {proc.stderr.decode(errors='replace')[-500:]}")
    if check is not None:
        check(proc.stdout)
    return {"seconds": elapsed, "stdout_bytes": len(proc.stdout)}


def summarize(values: Sequence[float]) -> dict[str, float]:
    vals = sorted(values)
    return {
        "best": vals[0],
        "median": statistics.median(vals),
        "worst": vals[-1],
        "n": len(vals),
    }


def percentile(values: Sequence[float], p: float) -> float:
    vals = sorted(values)
    if not vals:
        return float("nan")
    k = (len(vals) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(vals) - 1)
    return vals[lo] + (vals[hi] - vals[lo]) * (k - lo)


def interleaved(repeats: int, runs: dict[str, Callable[[], dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """Run each measurement ``repeats`` times, alternating between them, so that a burst of load
    from someone else on the machine hits the target and its baseline alike."""
    out: dict[str, list[dict[str, Any]]] = {k: [] for k in runs}
    for _ in range(repeats):
        for name, fn in runs.items():
            out[name].append(fn())
    return out


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
    }
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as fh:
            info["mem_gb"] = round(int(fh.readline().split()[1]) / 1024 / 1024, 1)
        info["loadavg_at_start"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        pass
    try:
        import textual

        info["textual"] = textual.__version__
    except Exception:  # noqa: BLE001
        pass
    return info


def emit(result: dict[str, Any]) -> None:
    print(json.dumps(result, indent=2))
