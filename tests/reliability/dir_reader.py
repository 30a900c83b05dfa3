"""A dashboard-like reader in its own process: ``python -m tests.reliability.dir_reader URL ID STOPFILE``.

In a loop until ``STOPFILE`` exists: the store's change token, ``list_summaries`` and ``get`` (what
the dashboard does every second, here as fast as it can), plus a raw ``open``/``json.loads`` of the
file (what catalyst-api's own ``LoadAll`` would do). Prints one JSON object at the end:
``reads``, ``problems`` (anything torn, unparseable, listed wrongly, with a gap in catalyst-api's
events) and ``regressions`` (catalyst-api's newest event going back between two reads, with
whether the file then ended in an operator event).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

from catalyst_tui.store.base import StoreError
from catalyst_tui.store.urls import open_store

PREFIX = "catalyst-api event "


def contiguous(ks: list[int]) -> bool:
    """catalyst-api's events k..n with no gap (k > 1 once the 10,000 cap dropped the oldest)."""
    return not ks or ks == list(range(ks[0], ks[0] + len(ks)))


def api_events(events: list) -> list[int]:
    return [int(e["message"][len(PREFIX):]) for e in events if str(e.get("message", "")).startswith(PREFIX)]


async def main(url: str, rid: str, stop_file: str) -> dict:
    problems: list[str] = []
    regressions: list[tuple[int, int, bool]] = []
    reads = 0
    last = 0
    path = os.path.join(url.split("://", 1)[1], f"{rid}.json")
    async with open_store(url, read_only=True) as store:
        while not os.path.exists(stop_file):
            await store.change_token()
            summaries, errors = await store.list_summaries()
            if errors:
                problems.append(f"load errors: {[(e.path, e.reason) for e in errors]}")
            if [s.id for s in summaries] != [rid]:
                problems.append(f"listed {[s.id for s in summaries]}")
            try:
                rec = (await store.get(rid)).record
            except StoreError as exc:
                problems.append(f"get: {exc}")
                continue
            events = [e.model_dump() for e in rec.event_list()]
            ks = api_events(events)
            if not contiguous(ks):
                problems.append(f"catalyst-api events not contiguous: ...{ks[-5:]}")
            newest = ks[-1] if ks else 0
            if newest < last:
                regressions.append((last, newest, bool(events) and events[-1]["phase"] == "operator"))
            last = newest
            with open(path, "rb") as fh:
                raw = fh.read()
            try:
                data = json.loads(raw)
            except ValueError as exc:
                problems.append(f"raw read torn ({len(raw)} bytes): {exc}")
            else:
                if not isinstance(data, dict) or data.get("id") != rid:
                    problems.append("raw read is not the record")
            reads += 1
            if len(problems) > 20:
                break
    return {"reads": reads, "problems": problems, "regressions": regressions, "last": last}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3]))), flush=True)
