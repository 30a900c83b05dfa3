"""Benchmark fleets: catalyst-api record files and SQLite stores of 1k-50k records, made fast.

Records are plain dicts in the shapes of :mod:`catalyst_tui.demo` (request, result, Phase-0 and
component events), written directly (JSON files as catalyst-api writes them; SQLite rows in one
transaction through the store's own schema and summary columns). A sample of each kind is checked
against the real encoders (``to_catalyst_json``, ``SQLiteStore.get``) so the shortcut cannot drift
from what the stores write.

Datasets are cached under ``$CATALYST_BENCH_DATA`` (default ``/tmp/catalyst-tui-bench``), keyed by
their parameters; a ``.complete`` dot-file (skipped by catalyst-api's LoadAll rules) marks a
finished one. ``python -m bench.data --clean`` removes the cache.

The fleet mix (by index, repeating every 20 records) contains nothing the restart rules rewrite,
so a dashboard with a supervisor never mutates a cached dataset: 55% ``ready`` (handover fired),
20% ``adopted``, 10% ``failed`` after Phase 1, 5% ``partial-failure``, 5% ``failed`` Phase-0
orphans, 5% ``wiped``.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sqlite3
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

from catalyst_tui.demo import _phase0_events, _request, _result
from catalyst_tui.domain.record import GO_ZERO_TIME, dumps_catalyst, format_event_time, format_time
from catalyst_tui.domain.statuses import BOOTSTRAP_KIT

#: Bump when the record shapes change (invalidates the cache).
GEN_VERSION = 4  # 4: SQLite stores carry the records_by_status index
#: Every record's org name contains this; the start-up bench waits for it on the terminal.
ORG_MARKER = "BenchOrg"
BASE_TIME = datetime(2026, 5, 1, 12, 0, 0, tzinfo=timezone.utc)
REGIONS = ("fsn1", "nbg1", "hel1", "ash", "hil")


def data_root() -> Path:
    return Path(os.environ.get("CATALYST_BENCH_DATA", "/tmp/catalyst-tui-bench"))


def record_id(i: int, prefix: str = "b") -> str:
    return f"{prefix}{i:015x}"


def _pad_events(start: datetime, n: int) -> list[dict[str, Any]]:
    """Phase-0 OpenTofu log lines (no component): realistic bulk that does not move any state."""
    out = []
    for k in range(n):
        out.append({
            "time": format_event_time(start + timedelta(seconds=k)),
            "phase": "tofu",
            "level": "info",
            "message": f"hcloud_server.worker[{k % 3}]: Still creating... [{10 * (k + 1)}s elapsed] (module.sovereign, attempt {k})",
        })
    return out


def make_record(i: int, *, events: int | None = None, prefix: str = "b") -> dict[str, Any]:
    """Record ``i`` of a benchmark fleet (see the module doc for the mix). ``events``: pad the
    event list to this many events (None: the record's natural 0-17)."""
    rid = record_id(i, prefix)
    sub = f"sov{i:05d}"
    org = f"{ORG_MARKER} {i:05d}"
    region = REGIONS[i % len(REGIONS)]
    start = BASE_TIME - timedelta(minutes=i)
    kind = i % 20
    rec: dict[str, Any] = {
        "id": rid,
        "status": "",
        "request": _request(org, sub, region),
        "startedAt": format_time(start),
        "finishedAt": GO_ZERO_TIME,
        "events": None,
        "pdmReservationToken": "rsv_" + rid[:10],
        "pdmPoolDomain": "omani.works",
        "pdmSubdomain": sub,
    }
    done = start + timedelta(minutes=25)
    evs: list[dict[str, Any]] = []
    if kind <= 10:  # ready, handover fired
        states = {c: "installed" for c in BOOTSTRAP_KIT}
        url = f"https://console.{sub}.omani.works/auth/handover?token=eyJhbGciOiJSUzI1NiJ9.bench.sig"
        rec["status"] = "ready"
        rec["result"] = _result(sub, "", componentStates=states, phase1FinishedAt=format_time(done),
                                phase1Outcome="ready", handoverFiredAt=format_time(done), handoverURL=url)
        rec["finishedAt"] = format_time(done)
        rec["ownerEmail"] = f"ops@{sub}.example"
        evs = _phase0_events(start, "flux-bootstrap") + [
            {"time": format_event_time(done), "phase": "component", "level": "info",
             "message": f"Helm install succeeded for release flux-system/{c}.v1 with chart bp-{c}@1.0.0",
             "component": c, "state": "installed"} for c in BOOTSTRAP_KIT
        ] + [{"time": format_event_time(done), "phase": "handover-ready", "level": "info",
              "message": '{"expiresAt":"' + format_event_time(done + timedelta(minutes=5)) + '","handoverURL":"' + url + '"}'}]
    elif kind <= 14:  # adopted: the slim record FinaliseHandover leaves
        rec = {"id": rid, "status": "adopted",
               "request": {"orgName": org, "orgEmail": f"ops@{sub}.example", "sovereignFQDN": f"{sub}.omani.works"},
               "startedAt": format_time(start), "finishedAt": format_time(done), "events": None,
               "adoptedAt": format_time(done)}
    elif kind <= 16:  # failed after Phase 1
        states = {c: "installed" for c in BOOTSTRAP_KIT}
        states["openbao"] = "failed"
        states["keycloak"] = states["gitea"] = states["catalyst-platform"] = "pending"
        rec["status"] = "failed"
        rec["result"] = _result(sub, "", componentStates=states, phase1FinishedAt=format_time(done), phase1Outcome="failed")
        rec["error"] = "Phase 1 finished with 1 failed component(s); see ComponentStates for the per-component breakdown"
        rec["finishedAt"] = format_time(done)
        evs = _phase0_events(start, "flux-bootstrap") + [
            {"time": format_event_time(done), "phase": "component", "level": "error",
             "message": "Helm install failed for release flux-system/openbao with chart bp-openbao@1.0.0: context deadline exceeded",
             "component": "openbao", "state": "failed"}]
    elif kind == 17:
        rec["status"] = "partial-failure"
        rec["error"] = f"region {region}: tofu apply: hcloud_server.cp[0]: server type cx32 unavailable in {region}"
        rec["finishedAt"] = format_time(done)
        evs = _phase0_events(start, "tofu")
    elif kind == 18:  # Phase-0 orphan, already failed by a restart
        rec["status"] = "failed"
        rec["error"] = ("catalyst-api restarted during provisioning — this deployment was abandoned mid-apply. "
                        f"Hetzner resources tagged with `catalyst-deployment-id={rid}` are orphans and must be purged "
                        "manually (hcloud server, lb, network, firewall, ssh-key) before retrying. "
                        "The wizard cannot resume — start a new deployment.")
        rec["finishedAt"] = format_time(done)
        evs = _phase0_events(start, "tofu-apply")
    else:
        rec["status"] = "wiped"
        rec["finishedAt"] = format_time(done)
    if events is not None and events > len(evs):
        evs = _pad_events(start, events - len(evs)) + evs
    elif events is not None:
        evs = evs[len(evs) - events:] if events else []
    if rec["status"] != "adopted":
        rec["events"] = evs or None
    return _canonical(rec)


def _canonical(rec: dict[str, Any]) -> dict[str, Any]:
    """Keys in catalyst-api's field order (the model's), extras after, as the writer emits them."""
    from catalyst_tui.domain.record import Record

    out = {k: rec[k] for k in Record.model_fields if k in rec}
    out.update((k, v) for k, v in rec.items() if k not in out)
    return out


def watching_record(i: int, kubeconfigs_dir: Path, *, prefix: str = "w") -> dict[str, Any]:
    """A ``phase1-watching`` record whose watcher resumes from ``<kubeconfigs_dir>/<id>.yaml``."""
    rid = record_id(i, prefix)
    sub = f"live{i:04d}"
    start = BASE_TIME + timedelta(minutes=10 + i)
    return _canonical({
        "id": rid,
        "status": "phase1-watching",
        "request": _request(f"{ORG_MARKER} live {i:04d}", sub, REGIONS[i % len(REGIONS)]),
        "result": _result(sub, str(kubeconfigs_dir / f"{rid}.yaml"), phase1Substate="watcher-watching"),
        "startedAt": format_time(start),
        "finishedAt": GO_ZERO_TIME,
        "events": _phase0_events(start, "flux-bootstrap"),
    })


# --- writers ---------------------------------------------------------------------------------------

def write_dir_store(path: Path, records: Iterator[dict[str, Any]]) -> int:
    """catalyst-api's volume: ``<id>.json`` per record, exactly as ``store.Save`` encodes it."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    n = 0
    for rec in records:
        with open(path / f"{rec['id']}.json", "w", encoding="utf-8") as fh:
            fh.write(dumps_catalyst(rec))
        n += 1
    return n


def _sqlite_rows(rec: dict[str, Any]) -> tuple[tuple[Any, ...], list[tuple[str, int, str]]]:
    from catalyst_tui.store.common import dumps_compact
    from catalyst_tui.store.sqlite import SQLiteStore

    events = rec.get("events")
    params = SQLiteStore._summary_params(rec)
    body = dumps_compact({k: v for k, v in rec.items() if k != "events"})
    row = (rec["id"], 1, body, int(events is None), *params.values())
    evs = [(rec["id"], k + 1, dumps_compact(e)) for k, e in enumerate(events or ())]
    return row, evs


def write_sqlite_store(path: Path, records: Iterator[dict[str, Any]]) -> int:
    """A catalyst-tui SQLite store: the schema from ``SQLiteStore.open``, rows in one transaction."""
    from catalyst_tui.store.sqlite import SQLiteStore

    if path.exists():
        path.unlink()

    async def create() -> None:
        async with SQLiteStore(path):
            pass

    asyncio.run(create())
    return append_sqlite_records(path, records)


def append_sqlite_records(path: Path, records: Iterator[dict[str, Any]]) -> int:
    """Insert new records into an existing store in one transaction (version 1 each)."""
    from catalyst_tui.store.sqlite import SQLiteStore

    first, _ = _sqlite_rows(make_record(0))
    cols = ["id", "version", "body", "events_null", *SQLiteStore._summary_params(make_record(0)).keys()]
    assert len(cols) == len(first)
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA synchronous = OFF")
        db.execute("BEGIN")
        n = 0
        batch: list[tuple[Any, ...]] = []
        ev_batch: list[tuple[str, int, str]] = []
        sql = f"INSERT INTO records ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})"
        for rec in records:
            row, evs = _sqlite_rows(rec)
            batch.append(row)
            ev_batch.extend(evs)
            n += 1
            if len(batch) >= 2000:
                db.executemany(sql, batch)
                db.executemany("INSERT INTO events (record_id, seq, json) VALUES (?, ?, ?)", ev_batch)
                batch, ev_batch = [], []
        db.executemany(sql, batch)
        db.executemany("INSERT INTO events (record_id, seq, json) VALUES (?, ?, ?)", ev_batch)
        db.execute("COMMIT")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.close()
    return n


# --- checks against the real encoders -----------------------------------------------------------------

def _samples() -> list[dict[str, Any]]:
    return [make_record(i) for i in range(20)] + [make_record(i, events=40) for i in range(20)] + [
        watching_record(0, Path("/tmp/k"))]


def check_shapes() -> None:
    """Each sample dict is exactly what the real encoders write (files byte for byte)."""
    from catalyst_tui.domain.record import Record, record_to_dict, to_catalyst_json

    for rec in _samples():
        model = Record.model_validate(rec)
        assert to_catalyst_json(model) == dumps_catalyst(rec), f"file shape drifted for {rec['id']} ({rec['status']})"
        assert record_to_dict(model) == rec, f"dict shape drifted for {rec['id']}"


def check_sqlite(path: Path, expected: int) -> None:
    from catalyst_tui.domain.record import Record, record_to_dict
    from catalyst_tui.store.sqlite import SQLiteStore

    async def run() -> None:
        async with SQLiteStore(path, read_only=True) as store:
            summaries, errors = await store.list_summaries()
            assert len(summaries) == expected and not errors, (len(summaries), errors[:3])
            for i in (0, 11, 15, 17, 18, 19):
                if i >= expected:
                    continue
                got = await store.get(record_id(i))
                want = Record.model_validate(make_record(i, events=_events_of(path)))
                assert record_to_dict(got.record) == record_to_dict(want), f"sqlite row drifted for record {i}"

    asyncio.run(run())


def _events_of(path: Path) -> int | None:
    meta = json.loads((path.parent / "meta.json").read_text())
    return meta["events"]


# --- cached datasets ---------------------------------------------------------------------------------

def _records(n: int, events: int | None) -> Iterator[dict[str, Any]]:
    for i in range(n):
        yield make_record(i, events=events)


def dataset(kind: str, n: int, events: int | None = None, *, fresh: bool = False, log: Any = None) -> Path:
    """Path of a cached dataset: ``kind`` "dir" (a catalyst-api directory) or "sqlite" (a .db file).
    Builds it when missing (or ``fresh``)."""
    name = f"{kind}-{n}-{'natural' if events is None else events}-v{GEN_VERSION}"
    base = data_root() / name
    target = base / ("records" if kind == "dir" else "catalyst.db")
    done = base / ".complete"
    if done.exists() and not fresh:
        return target
    check_shapes()
    if base.exists():
        shutil.rmtree(base)
    base.mkdir(parents=True, mode=0o700)
    (base / "meta.json").write_text(json.dumps({"kind": kind, "n": n, "events": events, "version": GEN_VERSION}))
    t0 = time.perf_counter()
    if kind == "dir":
        write_dir_store(target, _records(n, events))
    elif kind == "sqlite":
        write_sqlite_store(target, _records(n, events))
        check_sqlite(target, n)
    else:
        raise ValueError(kind)
    done.write_text(f"{time.perf_counter() - t0:.3f}\n")
    if log:
        log(f"generated {name} in {time.perf_counter() - t0:.1f}s")
    return target


def watching_dataset(n_total: int, n_watch: int, *, fresh: bool = False, log: Any = None) -> tuple[Path, Path]:
    """(store template, kubeconfigs dir): ``n_total`` records of which ``n_watch`` are
    ``phase1-watching`` with a kubeconfig at ``<kubeconfigs dir>/<id>.yaml`` (the simulator writes
    those files for each run). Copy the template before use: the run writes to it."""
    name = f"watch-{n_total}-{n_watch}-v{GEN_VERSION}"
    base = data_root() / name
    target = base / "template.db"
    kdir = base / "kubeconfigs"
    done = base / ".complete"
    if done.exists() and not fresh:
        return target, kdir
    src = dataset("sqlite", n_total - n_watch, log=log)
    if base.exists():
        shutil.rmtree(base)
    base.mkdir(parents=True, mode=0o700)
    kdir.mkdir(mode=0o700)
    shutil.copyfile(src, target)
    append_sqlite_records(target, (watching_record(i, kdir) for i in range(n_watch)))
    done.write_text("ok\n")
    return target, kdir


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clean", action="store_true", help="remove the dataset cache")
    p.add_argument("--kind", choices=("dir", "sqlite"), default="dir")
    p.add_argument("-n", type=int, default=1000)
    p.add_argument("--events", type=int, default=None)
    args = p.parse_args(argv)
    if args.clean:
        shutil.rmtree(data_root(), ignore_errors=True)
        return 0
    print(dataset(args.kind, args.n, args.events, fresh=True, log=lambda m: print(m, file=sys.stderr)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
