"""store.dir_prefetch: the dashboard's first screenful of a catalyst-api directory, computed by a
forked child while the parent imports Textual (issue 5, start-up).

A fork copies only the calling thread, so every scenario runs in a fresh interpreter (the test
process has threads of its own): the script forks the real child, opens the real store on a
randomized directory and asks for the head; the test compares the answer with the head and the
listing it computes itself, and checks that the child was reaped in every case."""

from __future__ import annotations

import json
import os
import pickle
import pty
import random
import select
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from catalyst_tui.service.fleet import HEAD_OTHER_RANK, HEAD_RANKS
from catalyst_tui.store.catalyst_dir import CatalystDirStore

from .test_dir_head import seed_random_dir

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the prefetch forks on Linux only")

REPO = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent('''
    import asyncio, json, os, pickle, sys, threading, time
    from catalyst_tui.service.fleet import HEAD_OTHER_RANK, HEAD_RANKS
    from catalyst_tui.store import dir_prefetch
    from catalyst_tui.store.catalyst_dir import CatalystDirStore

    args = json.loads(sys.argv[1])
    d, scenario = args["dir"], args["scenario"]
    if args.get("settled"):  # every file counts as settled: the head's whole reads are cached
        from catalyst_tui.store import catalyst_dir
        catalyst_dir.CACHE_SETTLE_NS = -10**12
    answer = {
        "garbage": lambda w: os.write(w, b"garbage"),
        "wrong types": lambda w: os.write(w, dir_prefetch._HEADER + pickle.dumps((1, ["not a summary"], []))),
        "crash": lambda w: None,
        "stuck": lambda w: time.sleep(60),
    }
    class Evil:
        def __reduce__(self):
            return (os.mkdir, (args["marker"],))
    answer["evil pickle"] = lambda w: os.write(w, dir_prefetch._HEADER + pickle.dumps(Evil()))
    if scenario in answer:
        def child(store, w, *rest):
            try:
                answer[scenario](w)
            finally:
                os._exit(0)
        dir_prefetch._child = child
    if scenario == "stuck":
        dir_prefetch.CLAIM_TIMEOUT = 0.5
    if scenario == "slow":  # answers after 1.5 s: past CLAIM_TIMEOUT, within the per-entry budget
        dir_prefetch.CLAIM_TIMEOUT = 0.5
        dir_prefetch.PER_FILE_BUDGET = 0.05
        real_child = dir_prefetch._child
        def child(*a):
            time.sleep(1.5)
            real_child(*a)
        dir_prefetch._child = child
    if scenario == "threads":
        stop = threading.Event()
        threading.Thread(target=stop.wait, daemon=True).start()
    started = dir_prefetch.start(d, args["limit"], HEAD_RANKS, HEAD_OTHER_RANK, need_two_cpus=False)
    pid = dir_prefetch._pending.pid if started else None
    if scenario == "threads":
        stop.set()
    if scenario == "changed":  # the child has answered; then every record file is rewritten
        import select
        select.select([dir_prefetch._pending.fd], [], [], 10)
        time.sleep(0.2)
        for name in sorted(os.listdir(d)):
            p = os.path.join(d, name)
            if name.endswith(".json") and not name.startswith(".") and os.path.isfile(p) and not os.path.islink(p):
                data = open(p, "rb").read().replace(b"Acme", b"Ecma")
                open(p + ".new", "wb").write(data)
                os.rename(p + ".new", p)
    if scenario == "unclaimed":
        dir_prefetch.cancel()

    async def main():
        async with CatalystDirStore(d, read_only=True) as s:
            head = await s.head_summaries(args["ask"], HEAD_RANKS, other_rank=HEAD_OTHER_RANK)
            cached = dict(s._listing.entries)
            full = await s.list_summaries()
        return head, cached, full

    head, cached, full = asyncio.run(main())
    reaped = True
    if pid is not None:
        try:
            os.waitpid(pid, os.WNOHANG)
            reaped = False
        except ChildProcessError:
            pass
    out = {"started": started, "outcome": dir_prefetch.last_outcome, "head": head, "full": full,
           "cached": {name: outcome for name, (key, outcome) in cached.items()}, "reaped": reaped}
    sys.stdout.buffer.write(pickle.dumps(out))
''')


def run_script(d: Path, scenario: str, limit: int, ask: int | None = None, **extra: Any) -> dict[str, Any]:
    args = {"dir": str(d), "scenario": scenario, "limit": limit, "ask": limit if ask is None else ask, **extra}
    proc = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(args)], cwd=REPO, capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-2000:]
    return pickle.loads(proc.stdout)


async def own_head(d: Path, limit: int) -> Any:
    async with CatalystDirStore(d, read_only=True) as store:
        return await store.head_summaries(limit, HEAD_RANKS, other_rank=HEAD_OTHER_RANK), await store.list_summaries()


def seeded(tmp_path: Path, seed: int, n: int = 80) -> Path:
    d = tmp_path / "records"
    seed_random_dir(d, seed, n)
    return d


@pytest.mark.parametrize("settled", [False, True], ids=["fresh", "settled"])
@pytest.mark.parametrize("seed", range(3))
async def test_the_childs_head_is_the_head_the_store_computes(tmp_path: Path, seed: int, settled: bool) -> None:
    d = seeded(tmp_path, seed)
    limit = random.Random(seed).choice([1, 5, 24, 40, 200])
    got = run_script(d, "plain", limit, settled=settled)
    assert got["started"] and got["outcome"] == "used" and got["reaped"]
    head, full = await own_head(d, limit)
    assert got["head"] == head  # total and every summary, in the same order
    assert got["full"] == full
    # The files the child read whole are in the listing cache with what the listing says of them.
    by_id = {s.id: s for s in full[0]}
    assert bool(got["cached"]) == settled  # (files changed within CACHE_SETTLE_NS are not cached)
    for name, outcome in got["cached"].items():
        if type(outcome).__name__ == "Summary":
            assert outcome == by_id[outcome.id], name


@pytest.mark.parametrize("scenario", ["garbage", "wrong types", "crash", "evil pickle", "stuck"])
async def test_a_child_that_does_not_answer_well_is_ignored_and_reaped(tmp_path: Path, scenario: str) -> None:
    d = seeded(tmp_path, 7)
    marker = tmp_path / "pwned"
    got = run_script(d, scenario, 24, marker=str(marker))
    assert got["started"] and got["reaped"]
    assert got["outcome"] == ("timed out" if scenario == "stuck" else "no answer")
    assert not marker.exists()  # the answer's pickle loads Summary and LoadError only
    head, full = await own_head(d, 24)
    assert got["head"] == head and got["full"] == full  # computed by the store itself


async def test_a_slow_child_gets_time_by_the_size_of_the_directory(tmp_path: Path) -> None:
    d = seeded(tmp_path, 13)  # 80 records + a few other entries: 0.5 s, then 80 x 50 ms
    got = run_script(d, "slow", 24)
    assert got["started"] and got["outcome"] == "used" and got["reaped"]
    head, full = await own_head(d, 24)
    assert got["head"] == head and got["full"] == full


async def test_another_question_is_computed_here_and_the_child_reaped(tmp_path: Path) -> None:
    d = seeded(tmp_path, 8)
    got = run_script(d, "plain", 24, ask=40)
    assert got["started"] and got["outcome"] == "other question" and got["reaped"]
    head, full = await own_head(d, 40)
    assert got["head"] == head and got["full"] == full


async def test_files_changed_after_the_child_read_them_are_listed_as_they_are_now(tmp_path: Path) -> None:
    d = seeded(tmp_path, 9)
    before, _ = await own_head(d, 24)
    got = run_script(d, "changed", 24, settled=True)
    assert got["outcome"] == "used" and got["reaped"]
    assert got["head"] == before  # the snapshot the child took
    _, now = await own_head(d, 24)
    assert any("Ecma" in (s.orgName or "") for s in now[0])  # (the rewrite changed something shown)
    assert got["full"] == now  # the cached entries were not reused for the rewritten files


async def test_no_fork_beside_other_threads_and_nothing_left_when_unclaimed(tmp_path: Path) -> None:
    d = seeded(tmp_path, 10)
    got = run_script(d, "threads", 24)
    assert not got["started"] and got["outcome"] is None
    head, full = await own_head(d, 24)
    assert got["head"] == head and got["full"] == full
    got = run_script(d, "unclaimed", 24)
    assert got["started"] and got["reaped"] and got["outcome"] is None
    assert got["head"] == head


def test_the_dashboard_prefetches_only_a_directory_on_a_terminal(tmp_path: Path) -> None:
    d = seeded(tmp_path, 11, 10)
    code = textwrap.dedent('''
        import json, sys
        import catalyst_tui.cli.main as m
        from catalyst_tui.store import dir_prefetch
        got = []
        for url in json.loads(sys.argv[1]):
            got.append(m._prefetch_head(url))
            dir_prefetch.cancel()
        print(json.dumps(got), file=sys.stderr)
    ''')
    urls = [f"catalyst-dir://{d}", str(d), f"sqlite://{tmp_path / 'x.db'}", f"catalyst-dir://{tmp_path / 'missing'}",
            "nonsense://x"]

    def run(on_a_terminal: bool) -> list[bool]:
        master, slave = pty.openpty()
        try:
            proc = subprocess.run([sys.executable, "-c", code, json.dumps(urls)], cwd=REPO, timeout=60,
                                  stdout=slave if on_a_terminal else subprocess.DEVNULL, stderr=subprocess.PIPE)
        finally:
            os.close(slave)
            os.close(master)
        assert proc.returncode == 0, proc.stderr.decode(errors="replace")
        return json.loads(proc.stderr.decode().strip().splitlines()[-1])

    on_terminal = run(True)
    # need_two_cpus: a one-CPU machine refuses the fork for the directory too, never the others.
    assert on_terminal[2:] == [False, False, False]
    assert on_terminal[0] == on_terminal[1]
    assert run(False) == [False] * len(urls)


def test_the_dashboard_on_a_directory_paints_and_quits(tmp_path: Path) -> None:
    """The real entry point on a terminal, with the prefetch on the way (when it may use two CPUs)."""
    d = seeded(tmp_path, 12, 40)
    _, (full, _) = __import__("asyncio").run(own_head(d, 24))
    names = [s.orgName for s in full if s.orgName]
    assert names
    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CATALYST_")}
    env.update(CATALYST_KUBECONFIGS_DIR=str(tmp_path / "kc"), CATALYST_HANDOVER_KEY_PATH=str(tmp_path / "key.pem"),
               TERM="xterm-256color")
    proc = subprocess.Popen([sys.executable, "-m", "catalyst_tui", "--store", f"catalyst-dir://{d}", "--read-only"],
                            cwd=REPO, env=env, stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
    os.close(slave)
    buf = b""
    try:
        deadline = time.monotonic() + 30
        while b"Sovereigns" not in buf and time.monotonic() < deadline:
            if select.select([master], [], [], 0.2)[0]:
                try:
                    buf += os.read(master, 65536)
                except OSError:  # EIO: it closed the terminal (exited)
                    break
        assert b"Sovereigns" in buf, buf[-500:]
        os.write(master, b"q")
        deadline = time.monotonic() + 20
        while proc.poll() is None and time.monotonic() < deadline:  # drained: a full terminal blocks it
            if select.select([master], [], [], 0.2)[0]:
                try:
                    os.read(master, 65536)
                except OSError:
                    break
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
