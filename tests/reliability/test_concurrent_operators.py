"""Concurrent operators (issue 6, item 2): 4 processes patch and annotate the same records 500
times; no update is lost and every loser of a race gets a conflict. Both backends.

Two phases, 500 operations in total, 4 operator processes (op0..op3) on 2 records:

Each operator process (:func:`workers.operator_worker`) runs both phases, one after the other:

* **races** (60 rounds, :func:`workers.race_worker`, ``service.actions.patch_status`` with the
  version and status the operator read, as the dashboard's confirm dialog does): in every round
  all four read the same version, then all four patch. Exactly one wins; the three others get
  ``Conflict``. Then one of them annotates the record (an unguarded append). 240 patches and 60
  annotations.
* **free-running command line** (:func:`workers.cli_worker`, ``catalyst-tui show --json`` then
  ``patch-status --expect <status read>`` through ``main(argv)``; exit codes as a script sees
  them): 152 patches and 48 annotations, no synchronisation at all.

``--soak`` (or ``CATALYST_TUI_SOAK=1``) runs ten times as many of both.

Then the audit trail, the record's operator events and the per-worker outcomes must agree: every
patch that reported success (exit 0) is in the audit trail once and in the record's events once,
in the same order; every one that reported a conflict (exit 4, one line on stderr) is in
neither; every annotation is in both; the ``before → after`` of successive patches chain up to
the record's final status (a silently overwritten update would break the chain).
"""

from __future__ import annotations

import multiprocessing
import queue as queue_mod
import re
import time
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from .support import BACKENDS, audit_list, get_record, make_record, seed, sqlite_integrity, store_path, store_url
from .workers import note_message, operator_worker

IDS = ["0c0c000000000001", "0c0c000000000002"]
WORKERS = 4
RACE_ROUNDS = 60  # 4 x 60 patches + 60 annotations = 300
CLI_STEPS = 50    # 4 x 50 = 200 (152 patches, 48 annotations)
PATCH_EVENT = re.compile(r"^status patched by operator (?P<op>\S+): (?P<before>\S+) → (?P<after>\S+); reason: (?P<token>\S+)$")
NOTE_EVENT = re.compile(r"^note by (?P<op>\S+): (?P<token>\S+)$")


def _run(ctx, target, arg_sets, timeout: float = 180) -> list[tuple]:
    q = ctx.Queue()
    procs = [ctx.Process(target=target, args=(*args, q)) for args in arg_sets]
    for p in procs:
        p.start()
    results: list[tuple] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            results.append(q.get(timeout=0.2))
            continue
        except queue_mod.Empty:
            pass
        if not any(p.is_alive() for p in procs):
            break
    while True:  # whatever arrived after the last liveness check
        try:
            results.append(q.get(timeout=0.5))
        except queue_mod.Empty:
            break
    for p in procs:
        p.join(10)
        if p.is_alive():  # pragma: no cover - a hung worker fails the test
            p.kill()
            p.join()
    q.close()
    q.join_thread()
    assert all(p.exitcode == 0 for p in procs), [p.exitcode for p in procs]
    return results


@pytest.mark.parametrize("backend", BACKENDS)
def test_four_operators_500_patches_and_annotations_lose_nothing(tmp_path: Path, kdir: Path, backend: str, soak: bool) -> None:
    rounds, steps = (RACE_ROUNDS * 10, CLI_STEPS * 10) if soak else (RACE_ROUNDS, CLI_STEPS)
    url = store_url(tmp_path, backend)
    seed(url, [make_record(rid, status="failed") for rid in IDS])
    ctx = multiprocessing.get_context("spawn")

    barrier = ctx.Barrier(WORKERS)
    results = _run(ctx, operator_worker, [(n, url, IDS, rounds, steps, str(kdir), barrier) for n in range(WORKERS)],
                   timeout=1800 if soak else 180)
    race = [r for r in results if r[1] == "race"]
    free = [r for r in results if r[1] == "cli"]

    errors = [r for r in results if r[6] not in ("won", "conflict", "ok")]
    assert errors == [], errors[:5]
    assert len(results) == WORKERS * (rounds * 1.25 + steps)  # 500 operations reported (5,000 with --soak)

    # Races: exactly one winner per round, every other racer got Conflict.
    by_round: dict[int, Counter] = defaultdict(Counter)
    for kind, phase, _n, step, _rid, _token, outcome, _detail in race:
        if kind == "patch":
            by_round[step][outcome] += 1
    assert len(by_round) == rounds
    bad_rounds = {r: dict(c) for r, c in by_round.items() if c != Counter(won=1, conflict=WORKERS - 1)}
    assert bad_rounds == {}, bad_rounds

    # The command line: exit 0 or exit 4 with one line on stderr, nothing else.
    for kind, phase, _n, _i, rid, _token, outcome, detail in free:
        if kind == "patch" and outcome == "conflict":
            assert detail.count("\n") == 1 and detail.startswith("catalyst-tui: ") and rid in detail, detail
            assert "changed" in detail or "expected" in detail, detail
    assert any(r[6] == "won" for r in free if r[0] == "patch")

    won = [r for r in results if r[0] == "patch" and r[6] == "won"]
    lost = [r for r in results if r[0] == "patch" and r[6] == "conflict"]
    notes = [r for r in results if r[0] == "annotate"]
    all_tokens = {r[5] for r in results}
    assert len(all_tokens) == len(results)  # tokens are unique

    for rid in IDS:
        rec = get_record(url, rid)
        ops = [e for e in rec.event_list() if e.phase == "operator"]
        event_tokens = []
        chain = []
        for e in ops:
            m = PATCH_EVENT.match(e.message) or NOTE_EVENT.match(e.message)
            assert m, f"unexpected operator event {e.message!r}"
            event_tokens.append(m.group("token"))
            if "before" in m.groupdict():
                chain.append((m.group("before"), m.group("after"), m.group("op"), m.group("token")))
        audit = [a for a in audit_list(url, rid) if a.action in ("patch-status", "annotate")]
        audit_tokens = [a.reason for a in audit]

        want_won = {r[5] for r in won if r[4] == rid}
        want_notes = {r[5] for r in notes if r[4] == rid}
        assert Counter(event_tokens) == Counter(want_won | want_notes), f"{rid}: record events disagree with outcomes"
        assert Counter(audit_tokens) == Counter(want_won | want_notes), f"{rid}: audit trail disagrees with outcomes"
        assert audit_tokens == event_tokens, f"{rid}: audit order differs from the record's event order"
        assert not ({r[5] for r in lost} & set(event_tokens)), f"{rid}: a conflicted patch reached the record"

        # Successive patches chain: nobody patched from a status that was no longer there.
        status = "failed"
        for before, after, op, token in chain:
            assert before == status, f"{rid}: {token} by {op} patched from {before!r} but the status was {status!r}"
            status = after
        assert rec.status == status
        audit_chain = [(a.status_before, a.status_after) for a in audit if a.action == "patch-status"]
        assert audit_chain == [(b, a) for b, a, _, _ in chain]
        for a in audit:
            if a.action == "patch-status":
                assert a.operator == a.reason.split("-")[0]  # op<n> wrote op<n>'s token
        for note in (r for r in notes if r[4] == rid):
            assert any(e.message == note_message(f"op{note[2]}", note[5]) for e in ops)

    if backend == "sqlite":
        assert sqlite_integrity(store_path(url)) == "ok"
    print(f"{backend}: {len(won)} patches won, {len(lost)} conflicts, {len(notes)} annotations")
