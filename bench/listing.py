"""Target 2 (listing) and the listing half of target 6 (growth).

``python -m bench.listing [--quick] [--repeats N]``

``catalyst-tui list --json --store DIR`` over catalyst-api record files (each run a fresh process,
stdout read through a pipe as ``| jq`` would, and checked to be a JSON array of every record)
against ``python -m bench.jsonload DIR`` (a plain ``json.load`` of the same files), interleaved.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import PYTHON, clean_env, emit, interleaved, log, summarize, timed_run
from bench.data import dataset
from bench.startup import growth_exponent

TARGET = 2.0


def _check(n: int):  # noqa: ANN202
    def check(stdout: bytes) -> None:
        rows = json.loads(stdout)
        assert isinstance(rows, list) and len(rows) == n, f"list --json gave {len(rows)} rows, expected {n}"
    return check


def _list(store: Path, n: int, env: dict[str, str]) -> dict[str, Any]:
    return timed_run([PYTHON, "-m", "catalyst_tui", "list", "--json", "--store", f"catalyst-dir://{store}"], env=env, check=_check(n))


def _jsonload(store: Path, n: int, env: dict[str, str]) -> dict[str, Any]:
    def check(stdout: bytes) -> None:
        assert int(stdout) == n

    return timed_run([PYTHON, "-m", "bench.jsonload", str(store)], env=env, check=check)


def compare(n: int, repeats: int, env: dict[str, str], log_fn=log) -> dict[str, Any]:
    store = dataset("dir", n, log=log_fn)
    runs = interleaved(repeats, {"list": lambda: _list(store, n, env), "baseline": lambda: _jsonload(store, n, env)})
    app = summarize([r["seconds"] for r in runs["list"]])
    base = summarize([r["seconds"] for r in runs["baseline"]])
    ratio = app["median"] / base["median"]
    log_fn(f"listing {n}: list --json median {app['median']:.2f}s, json.load {base['median']:.2f}s -> {ratio:.2f}x")
    return {
        "target": f"<= {TARGET}x a plain json.load of the same files",
        "records": n,
        "ratio": ratio,
        "ratio_best_of": app["best"] / base["best"],
        "pass": ratio <= TARGET,
        "list_json_seconds": app,
        "baseline_seconds": base,
        "output_bytes": runs["list"][0]["stdout_bytes"],
    }


def measure(repeats: int = 5, *, growth: bool = True, log_fn=log) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="catalyst-bench-list-"))
    try:
        return _measure(work, repeats, growth=growth, log_fn=log_fn)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _measure(work: Path, repeats: int, *, growth: bool, log_fn) -> dict[str, Any]:  # noqa: ANN001
    env = clean_env(work)
    out: dict[str, Any] = {"listing_dir_10k": compare(10_000, repeats, env, log_fn)}
    if growth:
        sizes = [1_000, 10_000, 50_000]
        results = {10_000: out["listing_dir_10k"]}
        for n in sizes:
            if n not in results:
                results[n] = compare(n, max(1, repeats if n <= 10_000 else min(repeats, 3)), env, log_fn)
        med = [results[n]["list_json_seconds"]["median"] for n in sizes]
        g = growth_exponent(sizes, med, _interpreter_floor(env))
        g["target"] = "close to linear or better (exponent <= 1.15, or flat)"
        g["ratio_vs_json_load"] = {str(n): results[n]["ratio"] for n in sizes}
        g["baseline_seconds"] = [results[n]["baseline_seconds"]["median"] for n in sizes]
        out["growth_listing"] = g
    return out


def _interpreter_floor(env: dict[str, str]) -> float:
    """The part of ``list --json`` that does not depend on the records: the command on an empty
    directory (interpreter start and imports)."""
    empty = Path(tempfile.mkdtemp(prefix="catalyst-bench-empty-"))
    try:
        vals = [_list(empty, 0, env)["seconds"] for _ in range(3)]
    finally:
        shutil.rmtree(empty, ignore_errors=True)
    return summarize(vals)["median"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="target 2: list --json vs json.load")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--repeats", type=int, default=None)
    p.add_argument("--no-growth", action="store_true")
    args = p.parse_args(argv)
    t0 = time.monotonic()
    res = measure(args.repeats or (2 if args.quick else 5), growth=not args.no_growth)
    res["elapsed_s"] = time.monotonic() - t0
    emit(res)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
