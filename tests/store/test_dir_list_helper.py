"""Large directory listings are shared with a helper process (the machine's other CPU): the
listing is exactly the one this process makes alone, whatever the files, and a helper that fails,
hangs or answers nonsense only costs time."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

import pytest

from catalyst_tui.domain.record import to_catalyst_json
from catalyst_tui.store import catalyst_dir
from catalyst_tui.store.catalyst_dir import CatalystDirStore

from .conftest import ev, make_record


def fill(d: Path) -> None:
    """Good records of several sizes and shapes, and one of each kind of bad entry."""
    d.mkdir()
    for i in range(40):
        rec = make_record(f"r{i:03d}")
        rec.request.orgName = f"Org {i} — \u2028 \U0001F600"
        if i % 3 == 0:
            rec.append_events([ev(k, phase="component" if k % 7 == 0 else "tofu", component="cilium", state="installed")
                               for k in range(200)])
        if i % 5 == 0:
            rec.events = None
        text = to_catalyst_json(rec)
        if i == 4:
            text = text.replace("Org 4", "Org \\ud800 4")  # a lone surrogate, escaped (json.loads keeps it)
        (d / f"{rec.id}.json").write_text(text, encoding="utf-8")
    (d / "bad-json.json").write_text('{"id": "bad-json", "status": ')
    (d / "bad-type.json").write_text('{"id": "bad-type", "status": 7}')
    (d / "mismatch.json").write_text(to_catalyst_json(make_record("other")))
    (d / "big.json").write_bytes(b" " * 2048)
    (d / "bad id\\.json").write_text("{}")
    (d / "dir.json").mkdir()
    (d / ".hidden.json").write_text("{")
    os.mkfifo(d / "fifo.json")
    outside = d.parent / "outside.json"
    outside.write_text(to_catalyst_json(make_record("escape")))
    os.symlink(outside, d / "escape.json")
    os.symlink(d / "r001.json", d / "alias.json")


async def listing(d: Path, **kw):  # noqa: ANN003
    async with CatalystDirStore(d, read_only=True, **kw) as s:
        first = await s.list_summaries()
        cache = dict(s._listing.entries)
    return first, cache


@pytest.fixture
def always_helper(monkeypatch):
    monkeypatch.setattr(catalyst_dir, "PARALLEL_MIN_FILES", 1)
    monkeypatch.setattr(catalyst_dir, "PARALLEL_MIN_SECONDS", 0.0)
    monkeypatch.setattr(catalyst_dir, "_HELPER_START_SECONDS", 0.0)
    monkeypatch.setattr(catalyst_dir, "CACHE_SETTLE_NS", 0)
    monkeypatch.setattr(catalyst_dir, "_parallel_ok", lambda: True)
    answered: list[int] = []
    real = catalyst_dir._ListHelper.results

    def results(self):  # type: ignore[no-untyped-def]
        out = real(self)
        answered.append(-1 if out is None else len(out))
        return out

    monkeypatch.setattr(catalyst_dir._ListHelper, "results", results)
    # Deterministic: this process waits for the helper's answer before reading any of its files
    # (the real one goes on with them meanwhile; see the two tests about that).
    monkeypatch.setattr(catalyst_dir._ListHelper, "running", _answered_after(0))
    return answered


def _answered_after(files: int):  # noqa: ANN202
    """A _ListHelper.running that says "still running" ``files`` times, then waits for the answer."""
    asked = [0]

    def running(self) -> bool:  # type: ignore[no-untyped-def]
        asked[0] += 1
        if asked[0] <= files:
            return True
        self.thread.join(60)
        return self.thread.is_alive()

    return running


def alone(d: Path, monkeypatch, **kw):  # noqa: ANN001, ANN003
    with monkeypatch.context() as m:
        m.setattr(catalyst_dir, "_parallel_ok", lambda: False)
        m.setattr(catalyst_dir, "CACHE_SETTLE_NS", 0)
        return asyncio.run(listing(d, **kw))


@pytest.mark.parametrize("skim", [0, 8192])
def test_a_shared_listing_is_the_listing(tmp_path, monkeypatch, always_helper, skim):
    monkeypatch.setattr(catalyst_dir, "SKIM_MIN_BYTES", skim)
    d = tmp_path / "d"
    fill(d)
    expected = alone(d, monkeypatch, max_record_bytes=1024 * 1024)
    (summaries, errors), cache = asyncio.run(listing(d, max_record_bytes=1024 * 1024))
    assert always_helper and always_helper[0] > 10  # the helper did read its part
    assert (summaries, errors) == expected[0] and cache == expected[1]
    assert len(summaries) == 40 and len(errors) == 8  # (alias.json: r001 through a symlink, a mismatch)


def test_size_limit_and_spelling_are_the_parents(tmp_path, monkeypatch, always_helper):
    d = tmp_path / "d"
    fill(d)
    os.chdir(tmp_path)
    expected = alone(Path("d"), monkeypatch, max_record_bytes=3000)
    got = asyncio.run(listing(Path("d"), max_record_bytes=3000))
    assert always_helper[0] > 0 and got == expected
    assert any("size limit" in e.reason and e.path.startswith("d/") for e in got[0][1])


_ANSWER = (
    "import json, pickle, sys; r = json.loads(sys.stdin.readline()); out = sys.stdout.buffer;"
    " out.write(b'catalyst-tui list helper 2\\n');"
)


@pytest.mark.parametrize("code", [
    "import sys; sys.exit(3)",
    "print('catalyst-tui list helper 2')",
    "import sys; sys.stdin.read(); print('nonsense')",
    # well-formed pickles with the wrong content
    _ANSWER + "out.write(pickle.dumps([(n, {'id': 'x'}, None) for n, _ in r['files']]))",
    _ANSWER + "out.write(pickle.dumps([(r['files'][0][0], None, None) for _ in r['files']]))",
    _ANSWER + "out.write(pickle.dumps([(n, None, (1, 2, 3)) for n, _ in r['files']]))",
    _ANSWER + "out.write(pickle.dumps([(n, None, None) for n, _ in r['files']][1:]))",
])
def test_a_failing_helper_costs_only_time(tmp_path, monkeypatch, always_helper, code):
    d = tmp_path / "d"
    fill(d)
    expected = alone(d, monkeypatch)
    monkeypatch.setattr(catalyst_dir, "_HELPER_CODE", code)
    assert asyncio.run(listing(d)) == expected
    assert always_helper == [-1]


def test_a_helper_answer_loads_nothing_but_listing_results(tmp_path, monkeypatch, always_helper):
    """Even a subverted helper cannot make this process run anything through pickle."""
    d = tmp_path / "d"
    fill(d)
    expected = alone(d, monkeypatch)
    marker = tmp_path / "ran"
    monkeypatch.setattr(catalyst_dir, "_HELPER_CODE", _ANSWER + (
        "import os\n"
        "class Evil:\n"
        f"    def __reduce__(self): return (os.system, ('touch {marker}',))\n"
        "out.write(pickle.dumps([(n, Evil(), None) for n, _ in r['files']]))"
    ))
    assert asyncio.run(listing(d)) == expected
    assert always_helper == [-1] and not marker.exists()


def test_a_hanging_helper_costs_nothing(tmp_path, monkeypatch, always_helper):
    """Its part is read here while it does not answer; then it is killed."""
    d = tmp_path / "d"
    fill(d)
    expected = alone(d, monkeypatch)
    monkeypatch.setattr(catalyst_dir, "_HELPER_CODE", "import time; time.sleep(60)")
    monkeypatch.setattr(catalyst_dir._ListHelper, "running", lambda self: self.thread.is_alive())  # the real one
    started = time.monotonic()
    assert asyncio.run(listing(d)) == expected
    assert time.monotonic() - started < 30
    assert always_helper == []  # never answered: never asked for its results


def test_a_late_answer_is_used_for_what_is_left(tmp_path, monkeypatch, always_helper):
    """A helper answering while this process already reads its part: each file read once here,
    the rest taken from the answer."""
    d = tmp_path / "d"
    fill(d)
    expected = alone(d, monkeypatch)
    monkeypatch.setattr(catalyst_dir._ListHelper, "running", _answered_after(5))
    reads: list[str] = []
    real_read_one = CatalystDirStore._read_one

    def counting(self, prefix, name, link):  # type: ignore[no-untyped-def]
        reads.append(name)
        return real_read_one(self, prefix, name, link)

    monkeypatch.setattr(CatalystDirStore, "_read_one", counting)
    assert asyncio.run(listing(d)) == expected
    theirs = always_helper[0]
    assert theirs > 5 and len(reads) == len(set(reads)) == 48 - theirs + 5  # (48 entries to read)


def test_a_helper_that_cannot_start(tmp_path, monkeypatch, always_helper):
    d = tmp_path / "d"
    fill(d)
    expected = alone(d, monkeypatch)
    monkeypatch.setattr(catalyst_dir.sys, "executable", str(tmp_path / "no-such-python"))
    assert asyncio.run(listing(d)) == expected
    assert always_helper == []


def test_small_listings_and_subclasses_use_no_helper(tmp_path, monkeypatch):
    d = tmp_path / "d"
    fill(d)
    started: list[object] = []
    monkeypatch.setattr(catalyst_dir._ListHelper, "start", classmethod(lambda cls, *a: started.append(a)))
    asyncio.run(listing(d))  # 52 files: far below PARALLEL_MIN_SECONDS
    monkeypatch.setattr(catalyst_dir, "PARALLEL_MIN_SECONDS", 0.0)
    monkeypatch.setattr(catalyst_dir, "PARALLEL_MIN_FILES", 1)

    class Sub(CatalystDirStore):
        pass

    async def sub() -> None:
        async with Sub(d, read_only=True) as s:
            await s.list_summaries()

    asyncio.run(sub())
    assert started == []


def test_the_split_balances_the_estimated_work():
    class E:
        def __init__(self, size: int) -> None:
            self.size = size

        def stat(self, follow_symlinks: bool = True):  # noqa: ANN201
            return os.stat_result((0, 0, 0, 0, 0, 0, self.size, 0, 0, 0))

    todo = [(f"f{i}.json", False, E(100_000)) for i in range(4000)]
    theirs = CatalystDirStore._split_for_helper(todo)  # type: ignore[arg-type]
    per = catalyst_dir._COST_PER_FILE + catalyst_dir._COST_PER_BYTE * 100_000
    n = len(theirs)
    helper = catalyst_dir._HELPER_START_SECONDS + n * per
    ours = (4000 - n) * per + n * catalyst_dir._COST_TO_TAKE_IN
    assert 1000 < n < 2000 and abs(helper - ours) <= 2 * per
    assert [name for name, _ in theirs] == [f"f{i}.json" for i in range(3999, 3999 - n, -1)]
    assert CatalystDirStore._split_for_helper(todo[:100]) == []  # 0.05 s of work: not worth a process


@pytest.mark.parametrize(("cpus", "load", "ok"), [(1, 0.0, False), (1.5, 0.0, False), (2, 0.0, True), (2, 1.4, True),
                                                  (2, 1.5, False), (4, 3.4, True), (4, 3.5, False)])
def test_a_helper_only_when_a_cpu_looks_free(monkeypatch, cpus, load, ok):
    monkeypatch.setattr(catalyst_dir, "_cpus_available", lambda: cpus)
    monkeypatch.setattr(catalyst_dir.os, "getloadavg", lambda: (load, 0.0, 0.0))
    assert catalyst_dir._parallel_ok() is ok


def test_cpus_available_is_a_positive_number():
    assert catalyst_dir._cpus_available() > 0


def test_the_helper_protocol(tmp_path):
    """End to end with the real interpreter: a JSON request line in, a header and a pickle out."""
    import pickle
    import subprocess
    import sys

    d = tmp_path / "d"
    fill(d)
    request = {"path": sys.path, "dir": str(d), "real": os.path.realpath(d), "max_record_bytes": 1 << 20,
               "skim_min_bytes": 0, "files": [["r000.json", False], ["gone.json", False], ["bad-type.json", False]]}
    out = subprocess.run([sys.executable, "-c", catalyst_dir._HELPER_CODE], input=json.dumps(request).encode() + b"\n",
                         capture_output=True, check=True).stdout
    header, _, body = out.partition(b"\n")
    assert header == b"catalyst-tui list helper 2"
    items = pickle.loads(body)
    assert [(name, type(outcome).__name__) for name, outcome, _ in items] == [
        ("r000.json", "Summary"), ("gone.json", "NoneType"), ("bad-type.json", "LoadError")]
    assert items[0][1].id == "r000" and len(items[0][2]) == 4 and "status" in items[2][1].reason
