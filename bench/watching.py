"""Targets 3-5: live watching throughput, key latency while it runs, and memory.

``python -m bench.watching [--quick] [--repeats N]``

One simulator process (``bench.simserver``) hosts every cluster. Each repetition runs, in fresh
processes and against fresh clusters with the same plan (200 Sovereigns x 11 HelmReleases,
20,000 status transitions):

* the baseline: ``bench.bare_watch`` (a bare kubernetes_asyncio watch per cluster);
* the whole path: ``bench.watch_app`` (the real dashboard + supervisor + SQLite store with
  10,000 records, 200 of them being watched).

Rates are transitions per second from the moment the simulator publishes the stream. The target
rate is the whole path's time to the last persisted Phase-1 outcome (every transition derived and
written; the app running and updating rows throughout); the time until the last row shows
``ready`` is reported too (it adds the dashboard's 1 s store-poll interval).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench.common import PYTHON, ROOT, clean_env, emit, log, percentile, summarize

SOVEREIGNS = 200
TRANSITIONS = 20_000
TOTAL_RECORDS = 10_000
KEY_TARGET_S = 0.100
RATE_TARGET = 0.5
RSS_TARGET_MB = 300.0


def _post(url: str, body: dict[str, Any], timeout: float = 300) -> dict[str, Any]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())


class SimProcess:
    def __init__(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen([PYTHON, "-m", "bench.simserver"], cwd=ROOT, env=env, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        line = self.proc.stdout.readline() if self.proc.stdout else b""
        if not line:
            err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
            raise RuntimeError(f"simulator did not start: {err[-800:]}")
        info = json.loads(line)
        self.base_url = info["base_url"]
        self.control = info["control_url"]

    def setup(self, run: str, clusters: list[tuple[str, str]], transitions: int) -> dict[str, Any]:
        return _post(f"{self.control}/setup", {"run": run, "clusters": clusters, "transitions": transitions})

    def teardown(self, run: str) -> None:
        _post(f"{self.control}/teardown", {"run": run})

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _child(module: str, plan: dict[str, Any], work: Path, env: dict[str, str], *extra: str, timeout: float = 600) -> dict[str, Any]:
    plan_path = work / f"{plan['run']}-plan.json"
    out_path = work / f"{plan['run']}-out.json"
    plan_path.write_text(json.dumps(plan))
    proc = subprocess.run([PYTHON, "-m", module, str(plan_path), str(out_path), *extra], cwd=ROOT, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    if proc.returncode != 0 or not out_path.exists():
        raise RuntimeError(f"{module} failed (exit {proc.returncode}): {proc.stderr.decode(errors='replace')[-2000:]}")
    return json.loads(out_path.read_text())


def run_baseline(sim: SimProcess, run: str, work: Path, env: dict[str, str], mode: str = "watch",
                 sovereigns: int = SOVEREIGNS, transitions: int = TRANSITIONS) -> dict[str, Any]:
    kdir = work / f"{run}-kubeconfigs"
    kdir.mkdir()
    clusters = [(f"{run}-c{i:04d}", str(kdir / f"c{i:04d}.yaml")) for i in range(sovereigns)]
    setup = sim.setup(run, clusters, transitions)
    plan = {
        "run": run, "control_url": sim.control,
        "clusters": [[cid, kp, sum(len(s) for s in setup["plan"][cid].values())] for cid, kp in clusters],
    }
    try:
        out = _child("bench.bare_watch", plan, work, env, "--mode", mode)
    finally:
        sim.teardown(run)
    out["seconds"] = out["t_done"] - out["t_go"]
    out["rate"] = setup["events"] / out["seconds"]
    out["transitions"] = setup["events"]
    return out


def run_app(sim: SimProcess, run: str, work: Path, env: dict[str, str], template: Path, kdir: Path,
            sovereigns: int = SOVEREIGNS, transitions: int = TRANSITIONS, module: str = "bench.watch_app") -> dict[str, Any]:
    """One whole-path run; ``module`` may name a wrapper of bench.watch_app (to measure a proposed fix)."""
    from bench.data import record_id

    store = work / f"{run}.db"
    shutil.copyfile(template, store)
    rids = [record_id(i, "w") for i in range(sovereigns)]
    clusters = [(f"{run}-{rid}", str(kdir / f"{rid}.yaml")) for rid in rids]
    setup = sim.setup(run, clusters, transitions)
    plan = {
        "run": run, "control_url": sim.control, "store": str(store), "kubeconfigs_dir": str(kdir),
        "rows": TOTAL_RECORDS,
        "records": [[rid, cid] for rid, (cid, _) in zip(rids, clusters)],
        "expect": {rid: setup["plan"][cid] for rid, (cid, _) in zip(rids, clusters)},
    }
    try:
        out = _child(module, plan, work, env)
    finally:
        sim.teardown(run)
        for p in work.glob(f"{run}.db*"):
            p.unlink()
    n = setup["events"]
    out["transitions"] = n
    out["seconds_persisted"] = out["t_persisted"] - out["t_go"] if out.get("t_persisted") else None
    out["seconds_screen"] = out["t_screen"] - out["t_go"] if out.get("t_screen") else None
    out["rate"] = n / out["seconds_persisted"] if out["seconds_persisted"] else 0.0
    out["rate_to_screen"] = n / out["seconds_screen"] if out["seconds_screen"] else 0.0
    return out


def measure(repeats: int = 3, *, raw: bool = True, log_fn=log) -> dict[str, Any]:
    from bench.data import watching_dataset

    template, kdir = watching_dataset(TOTAL_RECORDS, SOVEREIGNS, log=log_fn)
    work = Path(tempfile.mkdtemp(prefix="catalyst-bench-watch-"))
    env = clean_env(work)
    sim = SimProcess(env)
    base_runs: list[dict[str, Any]] = []
    app_runs: list[dict[str, Any]] = []
    raw_runs: list[dict[str, Any]] = []
    try:
        for rep in range(repeats):
            b = run_baseline(sim, f"base{rep}", work, env)
            log_fn(f"watching: bare watch {b['seconds']:.2f}s ({b['rate']:.0f}/s), peak RSS {b['peak_rss_mb']:.0f} MB")
            base_runs.append(b)
            a = run_app(sim, f"app{rep}", work, env, template, kdir)
            log_fn(f"watching: whole path {a['seconds_persisted'] or float('nan'):.2f}s to persisted "
                   f"({a['rate']:.0f}/s), {a['seconds_screen'] or float('nan'):.2f}s to screen; "
                   f"key p95 {percentile(a['key_latencies_s'], 95) * 1000:.0f} ms over {len(a['key_latencies_s'])}; "
                   f"peak RSS {a['peak_rss_mb']:.0f} MB; verify problems {len(a['verify_problems'])}")
            app_runs.append(a)
            if raw and rep == 0:
                r = run_baseline(sim, f"raw{rep}", work, env, mode="raw")
                log_fn(f"watching: raw aiohttp readline ceiling {r['seconds']:.2f}s ({r['rate']:.0f}/s)")
                raw_runs.append(r)
    finally:
        sim.close()
        shutil.rmtree(work, ignore_errors=True)

    base_rate = summarize([r["rate"] for r in base_runs])
    app_rate = summarize([r["rate"] for r in app_runs])
    ratio = app_rate["median"] / base_rate["median"]
    keys = [lat for r in app_runs for lat in r["key_latencies_s"]]
    idle = [lat for r in app_runs for lat in r["idle_key_latencies_s"]]
    peak = max(r["peak_rss_mb"] for r in app_runs)
    appended = sum(r["appended_events"] for r in app_runs)
    appends = sum(r["writes"].get("append_events", 0) for r in app_runs)
    commits = sum(r["commits"] for r in app_runs)
    transitions = sum(r["transitions"] for r in app_runs)
    problems = [p for r in app_runs for p in r["verify_problems"]]
    verified = all(r["verified_records"] == SOVEREIGNS and r["outcomes"] == SOVEREIGNS for r in app_runs)
    batched = appends > 0 and appended / appends >= 5 and commits * 5 <= transitions
    per_run = [{
        "seconds_to_persisted": r["seconds_persisted"], "seconds_to_screen": r["seconds_screen"],
        "rate": r["rate"], "rate_to_screen": r["rate_to_screen"], "publish_s": r["publish_s"],
        "append_events_calls": r["writes"].get("append_events", 0), "events_appended": r["appended_events"],
        "sqlite_commits": r["commits"], "writes": r["writes"], "frames": r["frames"],
        "key_presses": len(r["key_latencies_s"]), "key_timeouts": r["key_timeouts"],
        "peak_rss_mb": r["peak_rss_mb"], "rss_loaded_mb": r["rss_loaded_mb"], "ready_after_s": r["ready_after_s"],
    } for r in app_runs]
    return {
        "live_watching": {
            "target": f"whole-path rate >= {RATE_TARGET:.0%} of a bare kubernetes_asyncio watch",
            "workload": f"{SOVEREIGNS} Sovereigns x 11 HelmReleases, {TRANSITIONS} transitions, simulator in a separate process, store {TOTAL_RECORDS} records",
            "ratio": ratio,
            "pass": ratio >= RATE_TARGET and verified and batched,
            "whole_path_rate_per_s": app_rate,
            "baseline_rate_per_s": base_rate,
            "baseline_seconds": summarize([r["seconds"] for r in base_runs]),
            "whole_path_seconds_to_persisted": summarize([r["seconds_persisted"] for r in app_runs if r["seconds_persisted"]]),
            "whole_path_seconds_to_screen": summarize([r["seconds_screen"] for r in app_runs if r["seconds_screen"]]),
            "ratio_to_screen": summarize([r["rate_to_screen"] for r in app_runs])["median"] / base_rate["median"],
            "raw_readline_ceiling_rate_per_s": summarize([r["rate"] for r in raw_runs]) if raw_runs else None,
            "final_states_verified": verified,
            "verify_problems": problems[:10],
            "persistence": {
                "batched": batched,
                "transitions": transitions,
                "append_events_calls": appends,
                "events_appended": appended,
                "events_per_append": appended / appends if appends else None,
                "sqlite_commits": commits,
            },
            "runs": per_run,
        },
        "responsiveness": {
            "target": f"p95 key press -> screen <= {KEY_TARGET_S * 1000:.0f} ms while live watching runs",
            "p95_ms": percentile(keys, 95) * 1000 if keys else None,
            "p50_ms": percentile(keys, 50) * 1000 if keys else None,
            "max_ms": max(keys) * 1000 if keys else None,
            "samples": len(keys),
            "presses_not_shown_within_5s": sum(r["key_timeouts"] for r in app_runs),
            "ratio": (percentile(keys, 95) / KEY_TARGET_S) if keys else None,
            "baseline_idle_p95_ms": percentile(idle, 95) * 1000 if idle else None,
            "pass": bool(keys) and percentile(keys, 95) <= KEY_TARGET_S and sum(r["key_timeouts"] for r in app_runs) == 0,
        },
        "memory": {
            "target": f"peak RSS <= {RSS_TARGET_MB:.0f} MB with {TOTAL_RECORDS} records and {SOVEREIGNS} active watchers",
            "peak_rss_mb": peak,
            "ratio": peak / RSS_TARGET_MB,
            "rss_fleet_loaded_watchers_running_mb": max(r["rss_loaded_mb"] for r in app_runs),
            "pass": peak <= RSS_TARGET_MB,
        },
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="targets 3-5: live watching, responsiveness, memory")
    p.add_argument("--quick", action="store_true", help="one repetition")
    p.add_argument("--repeats", type=int, default=None)
    args = p.parse_args(argv)
    repeats = args.repeats or (1 if args.quick else 3)
    t0 = time.monotonic()
    res = measure(repeats)
    res["elapsed_s"] = time.monotonic() - t0
    emit(res)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
