"""Run every benchmark and write bench/results/latest.json.

``.venv/bin/python bench/run.py [--quick] [--only startup|listing|watching] [--out PATH]``

``--quick``: fewer repetitions (2 instead of 9 for start-up and 5 for listing, 1 instead of 3 for
live watching) and no 50k-record start-up; the same targets and baselines.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import listing, startup, watching  # noqa: E402
from bench.common import RESULTS, log, machine  # noqa: E402

NAMES = ("startup", "listing", "watching")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer repetitions, no 50k start-up")
    p.add_argument("--only", action="append", choices=NAMES, help="run only this part (repeatable)")
    p.add_argument("--out", default=None, help="results file (default bench/results/latest.json; '-' for none)")
    args = p.parse_args(argv)
    only = args.only or list(NAMES)
    t0 = time.monotonic()
    result: dict = {"machine": machine(), "quick": args.quick, "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "targets": {}}
    if "startup" in only:
        result["targets"].update(startup.measure(2 if args.quick else 9, quick=args.quick))
    if "listing" in only:
        result["targets"].update(listing.measure(2 if args.quick else 5))
    if "watching" in only:
        result["targets"].update(watching.measure(1 if args.quick else 3))
    result["elapsed_s"] = round(time.monotonic() - t0, 1)
    out = None if args.out == "-" else (Path(args.out) if args.out else RESULTS / "latest.json")
    if args.only and out is not None and out.exists():
        # a partial run updates its targets in the existing results, keeping the others
        previous = json.loads(out.read_text())
        for name in previous.get("targets", {}):
            result["targets"].setdefault(name, previous["targets"][name])
        result["partial_runs"] = previous.get("partial_runs", []) + [{"only": only, "started": result["started"],
                                                                       "machine": result["machine"]}]
    result["summary"] = {name: {"ratio": t.get("ratio", t.get("exponent")), "pass": t.get("pass")}
                         for name, t in result["targets"].items()}
    text = json.dumps(result, indent=2)
    print(text)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")
        log(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
