"""Bad record files (issue 6, item 5; issue 2 "Bad input"): one clear line each, nothing changed.

Every file of ``data/records/`` (and a few made at run time: 50 MB, 100,000 levels of nesting, a
symlink out of the directory, a FIFO, a directory named ``*.json``) is put into a catalyst-api
directory next to one good record, and the real command line runs over it:

* ``list`` / ``list --json`` show the good record and report the bad file once, as one line
  ``catalyst-tui: skipped <path>: <reason>`` (catalyst-api's ``LoadAll`` rule: report, skip, go
  on), the reason containing what ``data/records.json`` says;
* ``show`` of the bad record fails (exit 1) with one line naming the file and the same reason;
* ``patch-status`` on it fails the same way and never overwrites the file;
* ``rehydrate``, ``export`` and ``import`` report it and carry on with the good record;
* the directory is byte-for-byte unchanged afterwards (file digests and modes).

Every message is inert on a terminal. A hypothesis property runs arbitrary bytes through the
directory store's list and get: nothing but a LoadError / StoreError ever comes out.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from catalyst_tui.store.base import StoreError
from catalyst_tui.store.catalyst_dir import CatalystDirStore

from ..reliability.support import base_record, first_unsafe, snapshot, write_catalyst_file

DATA = Path(__file__).parent / "data"
MANIFEST = json.loads((DATA / "records.json").read_text())["expect"]
GOOD = "600d600d600d600d"

#: Bugs reported under docs/TEAM.md "Requests" (see there); strict xfail until fixed.
KNOWN: dict[str, str] = {}


def _params(names):
    return [pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=KNOWN[n])) if n in KNOWN else n for n in names]


def good_record() -> dict:
    return base_record(
        GOOD, "ready", finishedAt="2026-05-04T09:31:12Z",
        result={"sovereignFQDN": "good.omani.works", "componentStates": {"cilium": "installed"},
                "phase1FinishedAt": "2026-05-04T09:31:12Z", "phase1Outcome": "ready"},
    )


def _one_line(text: str) -> str:
    assert text.count("\n") == 1 and text.endswith("\n"), f"not one line: {text!r}"
    assert first_unsafe(text[:-1]) is None, first_unsafe(text[:-1])
    assert "Traceback" not in text
    return text[:-1]


def _check_store(cli, tmp_path: Path, d: Path, name: str, reason: str, *, listed: bool = True) -> None:
    """The whole command-line round over a directory holding GOOD and the bad entry ``name``."""
    url = f"catalyst-dir://{d}"
    stem = name[: -len(".json")]
    path = d / name
    before = snapshot(d)

    r = cli(url, "list")
    assert r.code == 0 and GOOD in r.out
    if listed:
        line = _one_line(r.err)
        assert line.startswith(f"catalyst-tui: skipped {path}: ") and reason in line, line
    else:
        assert r.err == ""

    r = cli(url, "list", "--json")
    assert r.code == 0 and [row["id"] for row in json.loads(r.out)] == [GOOD]

    r = cli(url, "show", stem)
    assert r.code == 1 and r.out == ""
    line = _one_line(r.err)
    assert str(path) in line and reason in line, line

    r = cli(url, "patch-status", stem, "--to", "failed", "--reason", "bad-input corpus")
    assert r.code == 1 and r.out == ""
    line = _one_line(r.err)
    assert str(path) in line and reason in line, line

    r = cli(url, "rehydrate")
    assert r.code == 0 and GOOD in r.out
    if listed:
        assert reason in _one_line(r.err)
    else:
        assert r.err == ""

    exp = d.parent / "exported"
    r = cli(url, "export", f"catalyst-dir://{exp}")
    assert r.code == (1 if listed else 0), r.err
    assert sorted(os.listdir(exp)) == sorted([f"{GOOD}.json", ".catalyst-tui-audit.jsonl", ".catalyst-tui.lock"])
    shutil.rmtree(exp)

    imported = f"sqlite://{d.parent / 'imported.db'}"
    r = cli(imported, "import", url)
    assert r.code == (1 if listed else 0), r.err
    assert r.out == f"{GOOD}: created\n"
    os.unlink(d.parent / "imported.db")

    assert snapshot(d) == before, "the store directory changed"


def _setup(tmp_path: Path) -> Path:
    d = tmp_path / "deployments"
    write_catalyst_file(d, good_record())
    return d


@pytest.mark.parametrize("name", _params(sorted(MANIFEST)))
def test_bad_record_file(cli, tmp_path: Path, name: str) -> None:
    d = _setup(tmp_path)
    shutil.copyfile(DATA / "records" / name, d / name)
    os.chmod(d / name, 0o600)
    _check_store(cli, tmp_path, d, name, MANIFEST[name])


def test_50_mb_file_is_refused_before_it_is_read(cli, tmp_path: Path) -> None:
    d = _setup(tmp_path)
    big = d / "big.json"
    with open(big, "wb") as fh:
        fh.write(b'{"id": "big", "status": "ready", "error": "')
        fh.truncate(50 * 1024 * 1024)  # sparse: 50 MB on paper, nothing to write
    _check_store(cli, tmp_path, d, "big.json", "over the 32.0 MiB record size limit")


def test_deeply_nested_json(cli, tmp_path: Path) -> None:
    d = _setup(tmp_path)
    (d / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    _check_store(cli, tmp_path, d, "deep.json", "nested too deeply")


def test_symlink_out_of_the_directory(cli, tmp_path: Path) -> None:
    d = _setup(tmp_path)
    outside = tmp_path / "elsewhere"
    target = write_catalyst_file(outside, base_record("escape", "ready"))
    os.symlink(target, d / "escape.json")
    _check_store(cli, tmp_path, d, "escape.json", "symlink points outside the store directory")


def test_fifo_named_like_a_record_never_blocks(cli, tmp_path: Path) -> None:
    d = _setup(tmp_path)
    os.mkfifo(d / "fifo.json", 0o600)
    _check_store(cli, tmp_path, d, "fifo.json", "not a regular file")


def test_directory_and_ignored_names_are_skipped_silently(cli, tmp_path: Path) -> None:
    """catalyst-api skips directories, dot-files and names not ending in .json without a word."""
    d = _setup(tmp_path)
    (d / "sub.json").mkdir()
    (d / ".hidden.json").write_text("{garbage")
    (d / "notes.txt").write_text("{garbage")
    (d / f".{GOOD}.123.json.tmp").write_text('{"id": "')
    _check_store(cli, tmp_path, d, "sub.json", "is a directory", listed=False)


def test_one_bad_file_among_many_never_aborts_the_load(cli, tmp_path: Path) -> None:
    """The whole corpus at once: each bad file reported once, the good record listed."""
    d = _setup(tmp_path)
    for name in MANIFEST:
        if name in KNOWN:
            continue
        shutil.copyfile(DATA / "records" / name, d / name)
    before = snapshot(d)
    r = cli(f"catalyst-dir://{d}", "list", "--json")
    assert r.code == 0 and [row["id"] for row in json.loads(r.out)] == [GOOD]
    lines = r.err.splitlines()
    assert len(lines) == len(MANIFEST) - len(KNOWN)
    for line in lines:
        assert first_unsafe(line) is None
    for name, reason in MANIFEST.items():
        if name not in KNOWN:
            assert sum(1 for ln in lines if f"skipped {d / name}: " in ln and reason in ln) == 1, name
    assert snapshot(d) == before


# --- property: nothing but LoadError / StoreError out of the directory loader ---------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=8), kids, max_size=3),
    max_leaves=12,
)
record_like = st.fixed_dictionaries(
    {"id": st.just("fuzz"), "status": st.text(max_size=8)},
    optional={k: json_values for k in ("request", "result", "events", "startedAt", "finishedAt", "error", "adoptedAt")},
)
file_bytes = (
    st.binary(max_size=300)
    | json_values.map(lambda v: json.dumps(v).encode())
    | record_like.map(lambda v: json.dumps(v).encode())
)
#: JSON that Python's bytes decoder would accept but Go's json.Unmarshal (and our UTF-8 decode) refuse.
other_encodings = st.one_of(
    record_like.map(lambda v: json.dumps(v).encode("utf-16")),
    record_like.map(lambda v: json.dumps(v).encode("utf-32")),
    record_like.map(lambda v: b"\xef\xbb\xbf" + json.dumps(v).encode()),
)


def _list_and_get_agree(d: Path, data: bytes) -> None:
    (d / "fuzz.json").write_bytes(data)

    async def go() -> None:
        async with CatalystDirStore(d, read_only=True) as store:
            summaries, errors = await store.list_summaries()
            assert len(summaries) + len(errors) == 1
            for e in errors:
                assert "\n" not in e.reason
            try:
                await store.get("fuzz")
            except StoreError as exc:
                assert "\n" not in str(exc)
                got = False
            else:
                got = True
            # list and get agree on whether the file is a record (what list shows, show opens)
            assert got == bool(summaries), (got, summaries, errors)

    asyncio.run(go())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=file_bytes)
def test_loader_only_ever_reports(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    _list_and_get_agree(tmp_path_factory.mktemp("fuzz"), data)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=other_encodings)
def test_list_and_get_agree_on_bom_and_utf16_32(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    _list_and_get_agree(tmp_path_factory.mktemp("enc"), data)
