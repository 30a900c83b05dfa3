"""Crash consistency (issue 6, item 1): a writer process killed with SIGKILL at random points.

A real writer process (:mod:`tests.reliability.crash_writer`) writes through the real store,
SQLite and the catalyst-api directory, and is killed with SIGKILL at random points (right after
start, between writes, in the middle of a write) until 200 writes have been attempted. After
every kill:

* every record parses and equals, byte for byte as catalyst-api JSON, either its old or its new
  version (each write's event carries its sequence number, so the versions are distinguishable
  and the expected record can be rebuilt exactly);
* the store lists exactly the seeded records, with no load error; in the directory, leftover
  ``.<id>.*.json.tmp`` files may exist (a kill between temp write and rename) but are never
  taken for records;
* SQLite passes ``PRAGMA integrity_check``, its summary columns agree with the full records, and
  its audit trail holds exactly one entry per committed write (same transaction);
* the directory's audit dot-file holds one entry per committed write except, at most, the write
  that was in flight at a kill (it is appended after the rename: a kill between the two loses
  that audit line, never a record change). Anything else is a failure.

``--soak`` (or ``CATALYST_TUI_SOAK=1``) runs 2,000 writes per backend. ``CATALYST_TUI_CRASH_SEED``
replays a run (the seed is in every failure message).
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from catalyst_tui.domain.record import Record, to_catalyst_json
from catalyst_tui.store.urls import open_store

from .crash_writer import PHASE, expected_record, seqs_in
from .support import (
    BACKENDS,
    PYTHON,
    REPO,
    clean_env,
    make_record,
    parse_file,
    run,
    seed,
    sqlite_integrity,
    store_path,
    store_url,
)

IDS = ["c0a1000000000001", "c0a1000000000002", "c0a1000000000003", "c0a1000000000004"]
PAD = 600  # bytes of padding per event: writes span several SQLite pages / file blocks
TEMP_NAME = re.compile(r"^\.(?P<id>[0-9a-f]{16})\..+\.json\.tmp$")
DIR_DOTFILES = {".catalyst-tui.lock", ".catalyst-tui-audit.jsonl"}


def _seed_for_test() -> int:
    env = os.environ.get("CATALYST_TUI_CRASH_SEED")
    return int(env) if env else time.time_ns() % 1_000_000_007


def _seeds() -> dict[str, Record]:
    return {rid: make_record(rid, status="phase1-watching") for rid in IDS}


class Round:
    """One writer process: started, read until the kill point, killed, its output parsed."""

    def __init__(self, url: str, start: int, stop: int) -> None:
        self.proc = subprocess.Popen(
            [PYTHON, "-m", "tests.reliability.crash_writer", url, ",".join(IDS), str(start), str(stop), str(PAD)],
            cwd=REPO, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        # A hung writer must fail the test, not hang it.
        self._watchdog = threading.Timer(60, self.proc.kill)
        self._watchdog.start()
        self.lines: list[str] = []
        self.killed = False

    def run_until(self, rng: random.Random) -> None:
        mode = rng.random()
        if mode < 0.08:
            # Kill while the process starts or opens the store.
            time.sleep(rng.uniform(0.0, 0.35))
            self._kill()
            return
        target = rng.randint(3, 40)
        begun = 0
        assert self.proc.stdout is not None
        while True:
            raw = self.proc.stdout.readline()
            if not raw:
                return  # finished (or died on its own: checked in finish())
            line = raw.decode().strip()
            self.lines.append(line)
            if line.startswith("B "):
                begun += 1
                if begun >= target:
                    # Somewhere inside this write: before the read, during the write, after it.
                    delay = rng.choice([0.0, rng.uniform(0.0, 0.002), rng.uniform(0.0, 0.008)])
                    if delay:
                        time.sleep(delay)
                    self._kill()
                    return

    def _kill(self) -> None:
        try:
            self.proc.send_signal(signal.SIGKILL)
        except ProcessLookupError:  # pragma: no cover - already gone
            pass
        self.killed = True

    def finish(self) -> tuple[list[int], list[int], str]:
        # Not communicate(): it reads the pipe's fd directly and would lose what readline()
        # already pulled into the file object's buffer.
        assert self.proc.stdout is not None and self.proc.stderr is not None
        out = self.proc.stdout.read()
        err = self.proc.stderr.read()
        self.proc.stdout.close()
        self.proc.stderr.close()
        self.proc.wait(60)
        self._watchdog.cancel()
        self.lines += [ln.strip() for ln in out.decode().splitlines()]
        stderr = err.decode(errors="replace")
        if not self.killed or self.proc.returncode != -signal.SIGKILL:
            # It ran to the end (the kill may have come after the last line): it must be clean.
            assert self.proc.returncode in (0, -signal.SIGKILL), stderr
            if self.proc.returncode == 0:
                assert self.lines and self.lines[-1] == "END", self.lines[-3:]
                assert stderr == "", stderr
        begun = [int(ln[2:]) for ln in self.lines if ln.startswith("B ")]
        done = [int(ln[2:]) for ln in self.lines if ln.startswith("D ")]
        return begun, done, stderr


async def _read_state(url: str) -> tuple[dict[str, Record], list, list, list]:
    async with open_store(url, read_only=True) as store:
        summaries, errors = await store.list_summaries()
        records = {}
        for s in summaries:
            records[s.id] = (await store.get(s.id)).record
        audit = await store.audit_list()
    return records, summaries, errors, audit


def _check_directory_files(directory: Path, records: dict[str, Record], ctx: str) -> int:
    """Every visible file is a seeded record that parses; dot-files are ours or temp files."""
    temps = 0
    for name in sorted(os.listdir(directory)):
        path = directory / name
        if name.startswith("."):
            m = TEMP_NAME.match(name)
            assert name in DIR_DOTFILES or (m and m.group("id") in IDS), f"{ctx}: unexpected dot-file {name}"
            temps += bool(m)
            continue
        assert name.endswith(".json") and name[:-5] in IDS, f"{ctx}: unexpected file {name}"
        rec = parse_file(path)  # the raw bytes, as catalyst-api would read them at its next start
        assert to_catalyst_json(rec) == to_catalyst_json(records[rec.id]), f"{ctx}: {name} differs from get()"
        assert path.read_text(encoding="utf-8") == to_catalyst_json(rec), f"{ctx}: {name} is not catalyst-api JSON"
        assert (path.stat().st_mode & 0o777) == 0o600, f"{ctx}: {name} mode {path.stat().st_mode:o}"
    return temps


def crash_rounds(tmp_path: Path, backend: str, total: int, rng_seed: int) -> dict[str, int]:
    rng = random.Random(rng_seed)
    url = store_url(tmp_path, backend)
    seeds = _seeds()
    seed(url, seeds.values())
    committed: dict[str, list[int]] = {rid: [] for rid in IDS}
    inflight_committed: set[int] = set()
    stats = {"rounds": 0, "kills_mid_write": 0, "inflight_committed": 0, "temp_files": 0}
    next_seq = 0
    while next_seq < total:
        stats["rounds"] += 1
        ctx = f"{backend} seed={rng_seed} round={stats['rounds']} from write {next_seq}"
        rnd = Round(url, next_seq, total)
        rnd.run_until(rng)
        begun, done, _ = rnd.finish()
        assert done == begun[: len(done)] and len(begun) - len(done) in (0, 1), f"{ctx}: {rnd.lines[-4:]}"
        inflight = begun[-1] if len(begun) > len(done) else None

        records, summaries, errors, audit = run(_read_state(url))
        assert errors == [], f"{ctx}: load errors after the kill: {errors}"
        assert sorted(records) == IDS, f"{ctx}: listed {sorted(records)}"
        for rid in IDS:
            rec = records[rid]
            base = committed[rid] + [s for s in done if IDS[s % len(IDS)] == rid]
            options = [base]
            if inflight is not None and IDS[inflight % len(IDS)] == rid:
                options.append(base + [inflight])
            got = seqs_in(rec)
            assert got in options, f"{ctx}: {rid} holds writes {got[-5:]}, expected one of {[o[-5:] for o in options]}"
            want = expected_record(seeds[rid], got, PAD)
            assert to_catalyst_json(rec) == to_catalyst_json(want), f"{ctx}: {rid} is neither its old nor new version"
            if inflight is not None and got and got[-1] == inflight:
                inflight_committed.add(inflight)
                stats["inflight_committed"] += 1
            committed[rid] = got
        stats["kills_mid_write"] += inflight is not None

        all_committed = sorted(s for seqs in committed.values() for s in seqs)
        audited = [int(e.reason.split()[1]) for e in audit if e.action == PHASE]
        assert len(audited) == len(set(audited)), f"{ctx}: duplicate audit entries"
        if backend == "sqlite":
            assert sorted(audited) == all_committed, f"{ctx}: audit and records disagree"
            assert sqlite_integrity(store_path(url)) == "ok", ctx
            by_id = {s.id: s for s in summaries}
            for rid, rec in records.items():
                s = by_id[rid]
                events = rec.event_list()
                assert (s.events_count, s.last_event_time, s.error, s.status) == (
                    len(events), events[-1].time if events else None, rec.error, rec.status
                ), f"{ctx}: summary columns of {rid} disagree with the record"
        else:
            assert set(audited) <= set(all_committed), f"{ctx}: audit entry for a write that did not happen"
            missing = set(all_committed) - set(audited)
            assert missing <= inflight_committed, f"{ctx}: audit lost writes {sorted(missing - inflight_committed)}"
            stats["temp_files"] = _check_directory_files(store_path(url), records, ctx)
        next_seq = (begun[-1] + 1) if begun else next_seq
    return stats


@pytest.mark.parametrize("backend", BACKENDS)
def test_sigkill_during_200_writes_leaves_old_or_new_version(tmp_path: Path, backend: str, soak: bool) -> None:
    rng_seed = _seed_for_test()
    total = 2000 if soak else 200
    stats = crash_rounds(tmp_path, backend, total, rng_seed)
    assert stats["rounds"] >= 2, stats  # it really was killed along the way
    print(f"crash {backend} seed={rng_seed}: {stats}")


@pytest.mark.parametrize("backend", BACKENDS)
def test_sigkill_while_a_new_store_is_created(tmp_path: Path, backend: str, soak: bool) -> None:
    """A kill while the store is being created (SQLite schema, first directory files) leaves a
    store that opens, passes its checks and holds every record whose create returned."""
    rng_seed = _seed_for_test()
    rng = random.Random(rng_seed)
    script = (
        "import asyncio, sys\n"
        "from catalyst_tui.store.urls import open_store\n"
        "from tests.reliability.support import make_record\n"
        "async def main():\n"
        "    async with open_store(sys.argv[1]) as s:\n"
        "        for i in range(40):\n"
        "            await s.create(make_record(f'c0a2{i:012d}'))\n"
        "            print('C', i, flush=True)\n"
        "asyncio.run(main())\n"
    )
    for attempt in range(16 if soak else 5):
        ctx = f"{backend} seed={rng_seed} attempt={attempt}"
        url = store_url(tmp_path, backend, name=f"fresh{attempt}")
        proc = subprocess.Popen([PYTHON, "-c", script, url], cwd=REPO, env=clean_env(),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(rng.uniform(0.05, 0.5))
        proc.kill()
        out, _err = proc.communicate(timeout=60)
        created = [int(ln.split()[1]) for ln in out.decode().splitlines() if ln.startswith("C ")]
        path = store_path(url)
        if backend == "sqlite" and path.exists():
            assert sqlite_integrity(path) == "ok", ctx

        async def reopen() -> list[str]:
            async with open_store(url) as store:  # read-write: must not refuse a half-created store
                summaries, errors = await store.list_summaries()
                assert errors == [], f"{ctx}: {errors}"
                for s in summaries:
                    await store.get(s.id)
                return sorted(s.id for s in summaries)

        ids = run(reopen())
        want = [f"c0a2{i:012d}" for i in created]
        assert set(want) <= set(ids), f"{ctx}: lost records whose create returned: {set(want) - set(ids)}"
        assert len(ids) - len(want) in (0, 1), f"{ctx}: {ids} vs {want}"
