"""CatalystDirStore.head_summaries: the records a dashboard needs for its first screen, ranked from
each file's first bytes instead of a full listing (issue 5, start-up). On randomized directories
-- known and unknown statuses, stale and resumable ``phase1-watching`` records, equal / missing /
unparseable / odd ``startedAt`` values, fractions, offsets, files broken in their events or in
their head, other key orders and layouts, heads longer than the first read, look-alike
``"events"`` keys, symlinks, non-record and temp files -- the head holds every record of the first
``limit`` rows of the full attention order, and each of its summaries is exactly what
``list_summaries`` returns for that record (with and without the shared listing cache)."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any, Callable

import pytest

from catalyst_tui.domain import statuses
from catalyst_tui.domain.record import GO_ZERO_TIME, record_to_dict
from catalyst_tui.service.fleet import HEAD_OTHER_RANK, HEAD_RANKS
from catalyst_tui.store import catalyst_dir
from catalyst_tui.store.catalyst_dir import CatalystDirStore, _head_members

from .conftest import make_record
from .test_sqlite_head import KUBECONFIGS, STATUSES, random_started, rows_of


def head(store: CatalystDirStore, limit: int) -> Any:
    return store.head_summaries(limit, HEAD_RANKS, other_rank=HEAD_OTHER_RANK)


def base_dict(rid: str, status: str, rng: random.Random) -> dict[str, Any]:
    rec = make_record(rid, status=status or "unknown-empty")
    if rec.result is not None:
        rec.result.kubeconfigPath = f"{KUBECONFIGS}/{rid}.yaml" if rng.random() < 0.7 else ""
        if rng.random() < 0.3:
            rec.result.phase1FinishedAt = "2026-05-04T10:00:00Z"
            rec.result.componentStates = {"cilium": "installed", "flux": "pending"}
    data = record_to_dict(rec)
    data["status"] = status
    n = rng.choice([0, 1, 3, 60, 200])  # 200 events: ~25 KB, past the first read and skimmed
    data["events"] = [
        {"time": f"2026-05-04T10:{(i // 60) % 60:02d}:{i % 60:02d}Z", "phase": rng.choice(["component-log", "component"]),
         "level": "info", "message": f"line {i} " + "x" * rng.randrange(60), "component": "cilium",
         "state": rng.choice(["installed", "pending"])}
        for i in range(n)
    ] if n or rng.random() < 0.5 else None
    started = random_started(rng)
    if started is None:
        del data["startedAt"]
    else:
        data["startedAt"] = started
    return data


def reorder(data: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    keys = list(data)
    how = rng.choice(["events first", "events before status", "events before startedAt", "shuffle"])
    if how == "shuffle":
        rng.shuffle(keys)
    else:
        keys.remove("events")
        after = {"events first": None, "events before status": "status", "events before startedAt": "startedAt"}[how]
        at = 0 if after is None or after not in keys else keys.index(after)
        keys.insert(at, "events")
    return {k: data[k] for k in keys}


def serialize(data: dict[str, Any], rng: random.Random) -> bytes:
    layout = rng.choice(["go", "go", "go", "compact", "spaced", "tabs", "indent4", "reordered"])
    if layout == "go":
        text = json.dumps(data, indent=2, ensure_ascii=False)
    elif layout == "compact":
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=rng.random() < 0.5)
    elif layout == "spaced":
        text = " \n" + json.dumps(data, separators=(" , ", " : ")) + "\n\n"
    elif layout == "tabs":
        text = json.dumps(data, indent="\t")
    elif layout == "indent4":
        text = json.dumps(data, indent=4) + "\n"
    else:
        text = json.dumps(reorder(data, rng), indent=2)
    return text.encode("utf-8")


def damage(data: dict[str, Any], raw: bytes, rng: random.Random) -> tuple[bytes, dict[str, Any]]:
    """Some files made unreadable (in the events or in the head) or odd in another way."""
    kind = rng.choice([
        "events: bad type", "events: cut", "events: not a list", "head: bad status", "head: bad request",
        "head: unclosed", "id mismatch", "long head", "very long head", "look-alike events keys",
        "status twice", "bom", "bad utf-8 in head", "empty", "not an object", "trailing garbage",
    ])
    if kind == "events: bad type":
        data["events"] = [{"time": 5, "phase": "x", "level": "info", "message": "m"}] + list(data.get("events") or [])
    elif kind == "events: cut":
        events_at = raw.find(b'"events"')
        if events_at > 0:
            return raw[: events_at + rng.randrange(8, 40)], data
        return raw[: len(raw) // 2], data
    elif kind == "events: not a list":
        data["events"] = {"0": {"time": "t"}}
    elif kind == "head: bad status":
        data["status"] = rng.choice([7, None, ["failed"]])
    elif kind == "head: bad request":
        data["request"] = "nope"
    elif kind == "head: unclosed":
        cut = raw.find(b'"result"')
        if cut > 0:
            return raw[:cut] + b'"result": {"x": [1, 2\n' + raw[cut:], data
    elif kind == "id mismatch":
        data["id"] = "ffffffffffffffff"
    elif kind == "long head":
        data["request"]["sshPublicKey"] = "ssh-ed25519 " + "A" * rng.randrange(8_000, 40_000)
    elif kind == "very long head":
        data["request"]["sshPublicKey"] = "ssh-ed25519 " + "B" * 70_000
    elif kind == "look-alike events keys":
        data["request"]["orgName"] = 'Org "events": [1] \\"events\\"'
        data["request"]["futureRequestKey"] = {"events": ["events"], "x": {"events": {}}}
        data["result"] = data.get("result") or {}
        data["result"]["events"] = []
    elif kind == "status twice":  # before the events: json.loads keeps the last one
        text = json.dumps(data, indent=2)
        first = rng.choice(STATUSES)
        return text.replace('"status":', f'"status": {json.dumps(first)},\n  "status":', 1).encode(), data
    elif kind == "bom":
        return b"\xef\xbb\xbf" + raw, data
    elif kind == "bad utf-8 in head":
        return raw.replace(b"Acme", b"Ac\xffe", 1), data
    elif kind == "empty":
        return b"", data
    elif kind == "not an object":
        return b"[1, 2]", data
    elif kind == "trailing garbage":
        return raw + b"\n{}", data
    return serialize(data, rng), data


def seed_random_dir(d: Path, seed: int, n: int) -> Callable[[str], object]:
    rng = random.Random(seed)
    d.mkdir()
    ids = [f"{i:04x}{rng.randrange(16**12):012x}" for i in range(n)]
    weights = [rng.random() for _ in STATUSES]
    missing = {rid for rid in ids if rng.random() < 0.5}
    for rid in ids:
        data = base_dict(rid, rng.choices(STATUSES, weights)[0], rng)
        raw = serialize(data, rng)
        if rng.random() < 0.25:
            raw, data = damage(data, raw, rng)
        (d / f"{rid}.json").write_bytes(raw)
    # Not records, or not read as such.
    (d / ".hidden.json").write_text(json.dumps({"id": "hidden", "status": "failed"}))
    (d / "notes.txt").write_text("{}")
    (d / f".{ids[0]}.123456.json.tmp").write_bytes((d / f"{ids[0]}.json").read_bytes())
    (d / "adir.json").mkdir()
    (d / "aaaaaaaaaaaaaaaa.json").symlink_to(d / f"{ids[-1]}.json")  # inside: read, id mismatch
    outside = d.parent / f"outside-{seed}.json"
    outside.write_text("{}")
    (d / "bbbbbbbbbbbbbbbb.json").symlink_to(outside)
    (d / "not-an-id!.json").write_text("{}")
    if rng.random() < 0.5:
        rid = "cccccccccccccccc"  # a good record behind a symlink inside the directory
        (d / "sub").mkdir()
        (d / "sub" / "target").write_text(json.dumps(base_dict(rid, "failed", rng) | {"events": None}))
        (d / f"{rid}.json").symlink_to(d / "sub" / "target")

    def stat(p: str) -> object:
        if any(rid in p for rid in missing):
            raise FileNotFoundError(2, "No such file or directory", p)
        return None

    return stat


@pytest.mark.parametrize("cached", [False, True], ids=["fresh", "cached"])
@pytest.mark.parametrize("seed", range(8))
async def test_head_holds_the_first_rows_of_the_attention_order(tmp_path: Path, seed: int, cached: bool,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    if cached:  # every file counts as settled: the head and the listings share their outcomes
        monkeypatch.setattr(catalyst_dir, "CACHE_SETTLE_NS", -10**12)
    d = tmp_path / "records"
    n = random.Random(seed).choice([1, 7, 60, 250])
    stat = seed_random_dir(d, seed, n)
    async with CatalystDirStore(d, read_only=True, max_record_bytes=120_000) as store:
        first = await head(store, 5)  # before any listing (fills the cache when ``cached``)
        full, errors = await store.list_summaries()
        by_id = {s.id: s for s in full}
        ordered = rows_of(full, stat)
        watching = {s.id for s in full if s.status == statuses.PHASE1_WATCHING}
        for limit in (5, 1, 2, 17, 64, n, n + 5):
            got = first if limit == 5 else await head(store, limit)
            assert got is not None
            total, summaries = got
            assert total == len(full) + len(errors)
            ids = [s.id for s in summaries]
            assert len(ids) == len(set(ids))
            for s in summaries:
                assert s == by_id[s.id]  # what list_summaries says of it, field for field
            assert rows_of(summaries, stat)[:limit] == ordered[:limit], (seed, limit)
            assert watching <= set(ids)
            assert len(set(ids) - watching) <= limit
        assert await store.list_summaries() == (full, errors)  # the listing is unchanged by the head


async def test_empty_and_only_unreadable(tmp_path: Path) -> None:
    d = tmp_path / "r"
    d.mkdir()
    async with CatalystDirStore(d, read_only=True) as store:
        assert await head(store, 10) == (0, [])
        (d / "00000000000000aa.json").write_text('{"id": "00000000000000aa", "status": "failed", "events": [1]}')
        (d / "00000000000000bb.json").write_text("{")
        assert await head(store, 10) == (2, [])


async def test_an_unreadable_record_gives_its_place_to_the_next_one(tmp_path: Path) -> None:
    d = tmp_path / "r"
    d.mkdir()
    for i, started in enumerate(["2026-05-04T09:00:03Z", "2026-05-04T09:00:02Z", "2026-05-04T09:00:01Z"]):
        data = record_to_dict(make_record(f"{i:016x}", status="failed", startedAt=started))
        raw = json.dumps(data, indent=2)
        if i != 1:  # readable head, broken events
            raw = raw.replace('"events": [', '"events": [7, ', 1)
        (d / f"{i:016x}.json").write_text(raw)
    (d / f"{9:016x}.json").write_text(json.dumps(record_to_dict(make_record(f"{9:016x}", status="ready"))))
    async with CatalystDirStore(d, read_only=True) as store:
        assert [s.id for s in (await head(store, 1))[1]] == [f"{1:016x}"]
        total, summaries = await head(store, 2)
        assert total == 4 and [s.id for s in summaries] == [f"{1:016x}", f"{9:016x}"]


def test_head_members_takes_only_the_top_level_events_key() -> None:
    assert _head_members(b'{"id": "a", "status": "s", "events": [', False) == ({"id": "a", "status": "s"}, False)
    assert _head_members(b'{"events": [', False) == ({}, False)
    nested = b'{"id": "a", "request": {"events": [], "x": "\\"events\\": 1", "y": "events"}, "status": "s",\n "events" :[]'
    assert _head_members(nested, False) == ({"id": "a", "request": {"events": [], "x": '"events": 1', "y": "events"},
                                             "status": "s"}, False)
    assert _head_members(b'{"id": "a", "tags": ["events"', False) is None
    assert _head_members(b'{"id": "a", "status": "x", "status": "y", "events"', False) is None  # cut short
    assert _head_members(b'{"id": "a", "status": "x", "status": "y", "events": ', False) == (
        {"id": "a", "status": "y"}, False)
    assert _head_members(b'{"id": "a", "status": "s"}', True) == ({"id": "a", "status": "s"}, True)
    assert _head_members(b'{"id": "a", "status": "s"}', False) is None
    assert _head_members(b'{"id": "a", "stat', True) is None
    assert _head_members(b'{"id": "\xff", "events": [', False) is None


async def test_a_file_replaced_meanwhile_is_read_as_it_is_now(tmp_path: Path) -> None:
    """The cache is keyed by the file's identity: a rewrite after a head is seen by the next head."""
    d = tmp_path / "r"
    d.mkdir()
    path = d / f"{1:016x}.json"
    path.write_text(json.dumps(record_to_dict(make_record(f"{1:016x}", status="failed"))))
    async with CatalystDirStore(d, read_only=True) as store:
        assert [s.status for s in (await head(store, 3))[1]] == ["failed"]
        tmp = d / ".x.json.tmp"
        tmp.write_text(json.dumps(record_to_dict(make_record(f"{1:016x}", status="ready"))))
        os.replace(tmp, path)
        assert [s.status for s in (await head(store, 3))[1]] == ["ready"]


async def test_a_record_placed_later_by_a_repeated_key_goes_back_to_its_real_place(tmp_path: Path) -> None:
    """Its first bytes say "failed", a repeated ``status`` after its events (json.loads keeps the
    last) says "ready": it is not counted among the failed ones."""
    d = tmp_path / "r"
    d.mkdir()
    for i in range(3):
        data = record_to_dict(make_record(f"{i:016x}", status="failed", startedAt=f"2026-05-04T09:00:0{i}Z"))
        text = json.dumps(data, indent=2)
        if i == 2:  # the newest: first of the failed ones by its first bytes
            text = text[: text.rstrip().rindex("}")] + ',\n  "status": "ready"\n}'
        (d / f"{i:016x}.json").write_text(text)
    async with CatalystDirStore(d, read_only=True) as store:
        full, _ = await store.list_summaries()
        assert {s.id: s.status for s in full}[f"{2:016x}"] == "ready"
        total, summaries = await head(store, 2)
        assert total == 3 and sorted(s.id for s in summaries) == [f"{0:016x}", f"{1:016x}"]
        assert all(s == {f.id: f for f in full}[s.id] for s in summaries)


async def test_a_start_time_written_after_the_events_is_not_taken_as_missing(tmp_path: Path) -> None:
    d = tmp_path / "r"
    d.mkdir()
    for i in range(2):
        data = record_to_dict(make_record(f"{i:016x}", status="failed", startedAt=f"2026-05-04T09:00:0{i}Z"))
        if i == 1:  # the newest, its startedAt after its events
            data = {k: v for k, v in data.items() if k != "startedAt"} | {"startedAt": data["startedAt"]}
        (d / f"{i:016x}.json").write_text(json.dumps(data, indent=2))
    (d / f"{2:016x}.json").write_text(json.dumps(record_to_dict(
        make_record(f"{2:016x}", status="failed", startedAt=GO_ZERO_TIME)), indent=2))
    async with CatalystDirStore(d, read_only=True) as store:
        assert [s.id for s in (await head(store, 1))[1]] == [f"{1:016x}"]
        assert [s.id for s in (await head(store, 3))[1]] == [f"{1:016x}", f"{0:016x}", f"{2:016x}"]
