"""The writer process of the crash-consistency test (run as ``python -m tests.reliability.crash_writer``).

Protocol on stdout, one line each, flushed before and after every write::

    READY              the store is open
    B <seq>            write <seq> begins (read, build, write)
    D <seq>            write <seq> returned (committed)
    END                every write done

Write ``seq`` goes to record ``ids[seq % len(ids)]``. Every third write is an ``append_events``
(guarded by the version read), the others a whole-record ``replace`` that also sets ``error``;
each carries an audit entry whose reason is ``write <seq>``. What a record must look like after
any set of committed writes is :func:`expected_record`, so the test can tell "old version" from
"new version" exactly.
"""

from __future__ import annotations

import asyncio
import sys

from catalyst_tui.domain.record import Event, Record
from catalyst_tui.store.base import AuditEntry
from catalyst_tui.store.urls import open_store

PHASE = "crash-test"


def is_append(seq: int) -> bool:
    return seq % 3 == 0


def crash_event(seq: int, pad: int) -> Event:
    return Event.model_validate({
        "time": f"2026-05-04T10:{(seq // 60) % 60:02d}:{seq % 60:02d}Z",
        "phase": PHASE,
        "level": "info",
        "message": f"write {seq} " + ("x" * pad),
    })


def expected_record(seed: Record, seqs: list[int], pad: int) -> Record:
    rec = seed.model_copy(deep=True)
    for seq in seqs:
        if not is_append(seq):
            rec.error = f"write {seq}"
        rec.append_events([crash_event(seq, pad)])
    return rec


def seqs_in(rec: Record) -> list[int]:
    return [int(e.message.split()[1]) for e in rec.event_list() if e.phase == PHASE]


async def main(url: str, ids: list[str], start: int, stop: int, pad: int) -> None:
    out = sys.stdout
    async with open_store(url) as store:
        out.write("READY\n")
        out.flush()
        for seq in range(start, stop):
            rid = ids[seq % len(ids)]
            out.write(f"B {seq}\n")
            out.flush()
            current = await store.get(rid)
            entry = AuditEntry("2026-05-04T10:00:00Z", "crash-writer", PHASE, rid,
                               current.record.status, current.record.status, f"write {seq}")
            if is_append(seq):
                await store.append_events(rid, [crash_event(seq, pad)], expected_version=current.version, audit=entry)
            else:
                rec = current.record
                rec.error = f"write {seq}"
                rec.append_events([crash_event(seq, pad)])
                await store.replace(rec, current.version, audit=entry)
            out.write(f"D {seq}\n")
            out.flush()
    out.write("END\n")
    out.flush()


if __name__ == "__main__":
    url_arg, ids_arg, start_arg, stop_arg, pad_arg = sys.argv[1:6]
    asyncio.run(main(url_arg, ids_arg.split(","), int(start_arg), int(stop_arg), int(pad_arg)))
