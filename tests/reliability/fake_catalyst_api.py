"""A stand-in for catalyst-api's persistence, byte for byte what ``store.Save`` does (domain
reference §1.2), with nothing from catalyst_tui: run as ``python -m tests.reliability.fake_catalyst_api
DIR ID INTERVAL STOPFILE``.

It loads ``DIR/ID.json`` once at start (``LoadAll``) and from then on its in-memory record is
authoritative: after every event it rewrites the whole file with ``os.CreateTemp(dir,
".<id>.*.json.tmp")`` → write → fsync → close → rename, never reading the file again. The write
is done in three chunks with short pauses so a half-written temp file exists for a while, which
a careless reader would see. Prints ``W <k>`` after the k-th rename. Once ``STOPFILE`` exists it
writes five more events (so the last writer is surely catalyst-api) and prints ``END``. Like
catalyst-api it keeps at most 10,000 events.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time


def go_json(record: dict) -> bytes:
    """``json.Encoder`` with ``SetIndent("", "  ")`` and ``SetEscapeHTML(false)``, plus the newline."""
    text = json.dumps(record, indent=2, ensure_ascii=False)
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return (text + "\n").encode("utf-8")


def event_message(k: int) -> str:
    return f"catalyst-api event {k}"


def save(directory: str, record: dict) -> None:
    payload = go_json(record)
    fd, tmp = tempfile.mkstemp(prefix=f".{record['id']}.", suffix=".json.tmp", dir=directory)
    try:
        third = max(1, len(payload) // 3)
        for i, start in enumerate(range(0, len(payload), third)):
            os.write(fd, payload[start:start + third])
            if i < 2:
                time.sleep(0.0005)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(tmp, os.path.join(directory, f"{record['id']}.json"))


def main(directory: str, rid: str, interval: float, stop_file: str) -> None:
    with open(os.path.join(directory, f"{rid}.json"), encoding="utf-8") as fh:
        record = json.load(fh)
    remaining = None
    for k in range(1, 20_000):
        if remaining is None and os.path.exists(stop_file):
            remaining = 5
        if remaining is not None:
            if remaining == 0:
                break
            remaining -= 1
        record["events"] = (record.get("events") or []) + [{
            "time": f"2026-05-04T11:{(k // 60) % 60:02d}:{k % 60:02d}Z",
            "phase": "component-log",
            "level": "info",
            "message": event_message(k),
            "component": "cilium",
        }]
        record["events"] = record["events"][-10_000:]  # EventBufferCap: oldest dropped
        save(directory, record)
        sys.stdout.write(f"W {k}\n")
        sys.stdout.flush()
        time.sleep(interval)
    sys.stdout.write("END\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4])
