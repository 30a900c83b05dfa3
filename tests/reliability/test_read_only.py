"""Read-only mode, command-line part (issue 6, item 8), on both backends.

The commands come from the argparse parser itself, so a command added later cannot be
forgotten: every sub-command must be classified, either by the parser (a ``mutating`` default
set on the sub-parser, when cli/main.py provides one) or by the table below; an unclassified
command fails this test.

With ``--read-only``:

* every mutating command (and every variant that writes: ``--reissue``, ``--expect``, ids...) is
  refused with exit 5 and one line on stderr saying so, before anything is created: no
  handover key, no export destination, no store file;
* ``watch`` runs observe-only (the supervisor's read-only mode: nothing written, the restart
  rules reported, not applied) and ``rehydrate --dry-run`` reports without writing;
* reading commands work;
* and after all of them the store, the import source and the scratch directory are
  byte-for-byte unchanged.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from catalyst_tui.cli.main import build_parser

from .support import BACKENDS, first_unsafe, make_record, seed, snapshot, store_path, store_url

READY = "0e0e000000000001"
TOFU = "0e0e000000000002"  # Phase-0 in flight: the restart rules would rewrite it to failed
NEW = "0e0e000000000003"   # only in the import source

#: Fallback classification while cli/main.py marks no command as mutating (see docs/TEAM.md).
MUTATING = {"patch-status", "rehydrate", "handover", "import", "export"}
OBSERVE = {"watch"}  # runs in read-only mode, writing nothing
READING = {"list", "show", "events", "audit"}
NOT_HEADLESS = {"demo"}  # opens the dashboard (the UI suite covers its read-only mode)


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("the parser has no sub-commands")


def classify() -> dict[str, str]:
    subs = subcommands()
    marked = {name: p._defaults["mutating"] for name, p in subs.items() if "mutating" in p._defaults}
    out = {}
    for name in subs:
        if name in NOT_HEADLESS:
            kind = "skip"
        elif marked:
            assert name in marked or name in NOT_HEADLESS, f"{name}: no 'mutating' default on its sub-parser"
            kind = "mutating" if marked.get(name) else ("observe" if name in OBSERVE else "reading")
        elif name in MUTATING:
            kind = "mutating"
        elif name in OBSERVE:
            kind = "observe"
        elif name in READING:
            kind = "reading"
        else:
            raise AssertionError(f"new sub-command {name!r}: classify it in tests/reliability/test_read_only.py")
        out[name] = kind
    return out


def argv_variants(name: str, tmp: Path) -> list[list[str]]:
    src = f"catalyst-dir://{tmp / 'source'}"
    return {
        "list": [["list"], ["list", "--json"], ["list", "--attention"]],
        "show": [["show", READY], ["show", READY, "--json"]],
        "events": [["events", READY], ["events", READY, "--json"]],
        "audit": [["audit"], ["audit", READY, "--json"]],
        "rehydrate": [["rehydrate"], ["rehydrate", "--json"]],
        "patch-status": [["patch-status", READY, "--to", "failed", "--reason", "ro", "--expect", "ready"],
                         ["patch-status", READY, "--to", "ready", "--reason", "ro"]],
        "handover": [["handover", READY], ["handover", READY, "--reissue", "--reason", "ro"]],
        "import": [["import", src], ["import", src, "--reason", "ro"]],
        "export": [["export", f"catalyst-dir://{tmp / 'scratch' / 'exported'}"],
                   ["export", f"sqlite://{tmp / 'scratch' / 'exported.db'}", READY]],
        "watch": [["watch"]],
    }.get(name, [[name]])


def test_every_subcommand_is_classified() -> None:
    kinds = classify()
    assert {n for n, k in kinds.items() if k == "mutating"} >= MUTATING


@pytest.mark.parametrize("backend", BACKENDS)
def test_read_only_refuses_every_mutation_and_changes_nothing(cli, tmp_path: Path, kdir: Path, backend: str) -> None:
    url = store_url(tmp_path, backend)
    seed(url, [make_record(READY, "ready"), make_record(TOFU, "tofu-applying")])
    seed(f"catalyst-dir://{tmp_path / 'source'}", [make_record(NEW, "ready"), make_record(READY, "ready", ownerEmail="source@acme.example")])
    (tmp_path / "scratch").mkdir()
    key = tmp_path / "scratch" / "handover.pem"
    watched = [store_path(url) if backend == "dir" else store_path(url), tmp_path / "source", tmp_path / "scratch"]
    before = [snapshot(p) for p in watched]

    ran = set()
    for name, kind in classify().items():
        if kind == "skip":
            continue
        for args in argv_variants(name, tmp_path):
            r = cli(url, "--read-only", "--handover-key", str(key), "--operator", "ro-tester", *args)
            ran.add(name)
            if kind == "mutating":
                assert r.code == 5, (args, r.code, r.err)
                assert r.out == "", (args, r.out)
                assert r.err.count("\n") == 1 and "read-only" in r.err, (args, r.err)
            else:
                assert r.code == 0, (args, r.code, r.err)
            assert first_unsafe(r.err.replace("\n", " ")) is None
            assert [snapshot(p) for p in watched] == before, f"{args} changed something on disk"
    assert ran >= MUTATING | READING | OBSERVE

    # The read-only variants that do run: they report what a write would do, and write nothing.
    r = cli(url, "--read-only", "rehydrate", "--dry-run")
    assert r.code == 0 and TOFU in r.out and "would write" in r.out
    r = cli(url, "--read-only", "watch")
    assert r.code == 0 and "read-only" in r.out
    assert [snapshot(p) for p in watched] == before
    assert not key.exists()

    # Control: without --read-only the very same command lines succeed and do write, so the
    # refusals above were refusals, not usage errors in disguise.
    for name, kind in classify().items():
        if kind != "mutating":
            continue
        for args in argv_variants(name, tmp_path):
            r = cli(url, "--handover-key", str(key), "--operator", "rw-tester", *args)
            assert r.code == 0, (args, r.code, r.err)
    after = [snapshot(p) for p in watched]
    assert after[0] != before[0] and after[2] != before[2] and key.exists()
