"""Code that runs in other OS processes (multiprocessing, spawn) during the reliability tests.

Each worker is one operator: its own process, its own store connection, its own operator name.
Outcomes go back through a queue as plain tuples
``(kind, phase, worker, step, record_id, token, outcome, detail)``; ``kind`` is "patch" or
"annotate", ``outcome`` "won" / "conflict" / "ok" / "error" / "exit N".
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
from datetime import datetime, timezone
from typing import Any

from catalyst_tui.domain.record import Event
from catalyst_tui.service import actions
from catalyst_tui.store.base import Conflict
from catalyst_tui.store.urls import open_store

TARGETS = ("ready", "failed", "phase1-watching")


def pick_target(current: str, k: int) -> str:
    """A status different from ``current`` (workers disagree on purpose)."""
    for j in range(len(TARGETS)):
        to = TARGETS[(k + j) % len(TARGETS)]
        if to != current:
            return to
    raise AssertionError("unreachable")


def note_message(operator: str, token: str) -> str:
    return f"note by {operator}: {token}"


async def annotate(store: Any, record_id: str, operator: str, token: str) -> None:
    """An operator note: an unguarded append (appends commute) with its audit entry."""
    now = datetime.now(timezone.utc)
    event = Event.make("operator", "info", note_message(operator, token), at=now)
    entry = actions.audit_entry(now=now, operator=operator, action="annotate", record_id=record_id,
                                before=None, after=None, reason=token)
    await store.append_events(record_id, [event], audit=entry)


def operator_worker(n: int, url: str, ids: list[str], rounds: int, steps: int, kdir: str, barrier: Any, queue: Any) -> None:
    """One operator process: the barrier-synchronised races, then the free-running command line."""
    if race_worker(n, url, ids, rounds, kdir, barrier, queue):
        cli_worker(n, url, ids, steps, kdir, barrier, queue)


def race_worker(n: int, url: str, ids: list[str], rounds: int, kdir: str, barrier: Any, queue: Any) -> bool:
    """Barrier-synchronised races: every round all workers read the same version of the same
    record, then all patch it (``--expect`` the status they read, ``expected_version`` the version
    they read). Exactly one may win; the others must get Conflict. Then one worker annotates."""
    operator = f"op{n}"

    async def main() -> None:
        async with open_store(url) as store:
            for r in range(rounds):
                rid = ids[r % len(ids)]
                token = f"{operator}-race{r}"
                current = await store.get(rid)
                to = pick_target(current.record.status, n + r)
                barrier.wait(60)
                try:
                    res = await actions.patch_status(
                        store, rid, to, token, operator=operator, expect=current.record.status,
                        expected_version=current.version, kubeconfigs_dir=kdir,
                    )
                    queue.put(("patch", "race", n, r, rid, token, "won", res.version))
                except Conflict as exc:
                    queue.put(("patch", "race", n, r, rid, token, "conflict", str(exc)))
                barrier.wait(60)
                if r % 4 == n:
                    note = f"{operator}-note{r}"
                    await annotate(store, rid, operator, note)
                    queue.put(("annotate", "race", n, r, rid, note, "ok", ""))
                barrier.wait(60)

    try:
        asyncio.run(main())
    except BaseException as exc:  # reported, and the others released, never a silent hang
        queue.put(("patch", "race", n, -1, "", "", "error", f"{type(exc).__name__}: {exc}"))
        barrier.abort()
        return False
    return True


def _cli(argv: list[str]) -> tuple[int, str, str]:
    from catalyst_tui.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def cli_worker(n: int, url: str, ids: list[str], count: int, kdir: str, start: Any, queue: Any) -> None:
    """Free-running operator on the real command line (``main(argv)``, exit codes as a script
    sees them): read the status with ``show --json``, then ``patch-status --expect`` it.
    Every fourth step is an annotation instead."""
    operator = f"op{n}"
    start.wait(60)
    try:
        for i in range(count):
            rid = ids[(i + n) % len(ids)]
            if i % 4 == 3:
                note = f"{operator}-clinote{i}"

                async def go() -> None:
                    async with open_store(url) as store:
                        await annotate(store, rid, operator, note)

                asyncio.run(go())
                queue.put(("annotate", "cli", n, i, rid, note, "ok", ""))
                continue
            code, out, err = _cli(["--store", url, "show", rid, "--json"])
            if code != 0:
                queue.put(("patch", "cli", n, i, rid, "", "error", f"show exit {code}: {err}"))
                continue
            status = json.loads(out)["status"]
            token = f"{operator}-cli{i}"
            code, out, err = _cli(["--store", url, "--operator", operator, "--kubeconfigs-dir", kdir,
                                   "patch-status", rid, "--to", pick_target(status, n + i),
                                   "--expect", status, "--reason", token])
            outcome = {0: "won", 4: "conflict"}.get(code, f"exit {code}")
            queue.put(("patch", "cli", n, i, rid, token, outcome, err))
    except BaseException as exc:
        queue.put(("patch", "cli", n, -1, "", "", "error", f"{type(exc).__name__}: {exc}"))
