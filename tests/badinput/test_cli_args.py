"""Bad command lines (issue 6, item 5): every case of ``data/cli_args.json`` on both store
backends gives its exit code, one clear line on stderr (argparse's own errors: its usage line,
then one error line), nothing on stdout, nothing inert-breaking, and leaves everything on disk
byte-for-byte as it was (the store, the scratch directory, a bad handover key file).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ..reliability.support import BACKENDS, first_unsafe, make_record, seed, snapshot, store_url

DATA = Path(__file__).parent / "data"
CASES = json.loads((DATA / "cli_args.json").read_text())["cases"]
GOOD = "600d600d600d600d"

#: (case name, backend) -> reason: bugs reported under docs/TEAM.md "Requests"; strict xfail.
KNOWN: dict[tuple[str, str], str] = {}


def _fill(arg: str, subs: dict[str, str]) -> str:
    for key, value in subs.items():
        arg = arg.replace("{" + key + "}", value)
    return arg


def _params():
    out = []
    for case in CASES:
        for backend in BACKENDS:
            reason = KNOWN.get((case["name"], backend))
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            out.append(pytest.param(case, backend, marks=marks, id=f"{case['name']}-{backend}"))
    return out


@pytest.mark.parametrize("case,backend", _params())
def test_bad_command_line(cli, tmp_path: Path, backend: str, case: dict) -> None:
    url = store_url(tmp_path, backend)
    seed(url, [make_record(GOOD, "ready")])
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    (tmp_path / "not-a-db.db").write_text("hello\n")
    (tmp_path / "bad-key.pem").write_text("-----BEGIN NOTHING-----\n")
    subs = {"GOOD": GOOD, "TMP": str(scratch), "NOT_DB": str(tmp_path / "not-a-db.db"),
            "BAD_KEY": str(tmp_path / "bad-key.pem")}
    args = [_fill(a, subs) for a in case["args"]]
    before = snapshot(tmp_path)

    r = cli(url, *args)

    assert r.code == case["exit"], (r.code, r.err)
    assert r.out == ""
    assert first_unsafe(r.err.replace("\n", " ")) is None, first_unsafe(r.err)
    lines = r.err.splitlines()
    if case["usage"]:
        assert lines[0].startswith("usage: catalyst-tui"), r.err
        assert lines[-1].startswith("catalyst-tui") and ": error: " in lines[-1], r.err
    else:
        assert len(lines) == 1 and r.err.endswith("\n"), r.err
        assert lines[0].startswith("catalyst-tui: ") and len(lines[0]) < 800, r.err
    assert case["stderr"] in r.err, r.err
    assert snapshot(tmp_path) == before, "something on disk changed"
