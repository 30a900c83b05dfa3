"""The live-watching run of the real dashboard (targets 3, 4 and 5), one fresh process per run.

``python -m bench.watch_app PLAN.json OUT.json``

The real :class:`~catalyst_tui.ui.app.CatalystApp` (headless, through Pilot) with the real
:class:`~catalyst_tui.service.supervisor.Supervisor` on a real SQLite store (a copy of the bench
template: 10,000 records, 200 of them ``phase1-watching`` with kubeconfigs pointing at the
simulator process). Once the fleet is painted and every watcher is WATCHING, it asks the simulator
to publish the stream and measures:

* ``t_persisted``: when the supervisor reported the last Phase-1 outcome written (every event of
  the stream has then been derived and persisted: the outcome write flushes the pending batch);
* ``t_screen``: when every one of the 200 table rows shows ``ready``;
* key latency: ``pilot.press("down")`` every 100 ms (10 keys/s) during the stream (not waiting for the previous
  press); the latency is the time from the press until the first frame the app hands to its
  driver (``App._display``) in which the table's cursor row has reached the row that press moves
  it to. Headless Textual skips turning a frame into terminal bytes,
  so the hook does that work too (``CompositorUpdate.render_segments``), as a real terminal would;
* persistence batching: ``append_events`` calls and events, SQLite commits (``_own_commits``);
* peak RSS (``ru_maxrss``) and the RSS after the fleet loaded.

Then it checks every record: status ``ready``, ``phase1Outcome`` ``ready``, every component
``installed``, and each component's event sequence equal to the simulator's plan.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import sys
import time
from collections import Counter, deque
from pathlib import Path
from typing import Any

import aiohttp

from catalyst_tui.store.sqlite import SQLiteStore

#: Seconds between key presses while measuring.
KEY_INTERVAL = 0.1


class CountingSQLiteStore(SQLiteStore):
    """The real SQLite store, counting the writes the supervisor makes."""

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.calls: Counter[str] = Counter()
        self.appended_events = 0
        #: Called with the record id when a replace that wrote a Phase-1 outcome has committed.
        self.on_outcome: Any = None

    async def append_events(self, record_id, events, *, expected_version=None, audit=None):  # type: ignore[no-untyped-def]
        self.calls["append_events"] += 1
        self.appended_events += len(events)
        return await super().append_events(record_id, events, expected_version=expected_version, audit=audit)

    async def replace(self, record, expected_version, *, audit=None):  # type: ignore[no-untyped-def]
        self.calls["replace"] += 1
        out = await super().replace(record, expected_version, audit=audit)
        res = record.result
        if self.on_outcome is not None and res is not None and res.phase1FinishedAt:
            self.on_outcome(record.id)  # committed: the Phase-1 outcome is persisted
        return out

    async def replace_head(self, record, expected_version, append, *, audit=None):  # type: ignore[no-untyped-def]
        self.calls["replace_head"] += 1
        self.appended_events += len(append)
        out = await super().replace_head(record, expected_version, append, audit=audit)
        res = record.result
        if self.on_outcome is not None and res is not None and res.phase1FinishedAt:
            self.on_outcome(record.id)  # committed: the Phase-1 outcome is persisted
        return out

    async def create(self, record, *, audit=None):  # type: ignore[no-untyped-def]
        self.calls["create"] += 1
        return await super().create(record, audit=audit)

    async def acquire_lease(self, *a, **kw):  # type: ignore[no-untyped-def]
        self.calls["acquire_lease"] += 1
        return await super().acquire_lease(*a, **kw)

    async def audit_append(self, entry):  # type: ignore[no-untyped-def]
        self.calls["audit_append"] += 1
        return await super().audit_append(entry)

    def snapshot(self) -> dict[str, Any]:
        return {"calls": dict(self.calls), "appended_events": self.appended_events, "commits": self._own_commits}


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * resource.getpagesize() / 1024 / 1024


async def run(plan: dict[str, Any]) -> dict[str, Any]:
    from textual._compositor import CompositorUpdate

    from catalyst_tui.service.supervisor import Supervisor
    from catalyst_tui.service.threaded import SupervisorThread
    from catalyst_tui.ui.app import CatalystApp
    from catalyst_tui.ui.config import UiConfig
    from catalyst_tui.ui.widgets.fleet_table import FleetTable

    t_proc = time.monotonic()
    # As the dashboard runs it (ui.app.default_supervisor): the supervisor on its own thread and
    # loop with its own connection to the store file; the counting store is the supervisor's.
    store = SQLiteStore(plan["store"])
    watched = [rid for rid, _cid in plan["records"]]
    outcomes: dict[str, float] = {}

    def on_outcome(record_id: str) -> None:  # on the supervisor's thread, after the commit
        if record_id in plan["expect"]:
            outcomes.setdefault(record_id, time.monotonic())

    def counting_store() -> CountingSQLiteStore:
        # The outcome times come from the store itself: a progress listener would make the
        # supervisor build a Progress item per transition, which the dashboard does not.
        store = CountingSQLiteStore(plan["store"])
        store.on_outcome = on_outcome
        return store

    sup = SupervisorThread(
        counting_store,
        lambda s: Supervisor(s, holder="bench@watch_app", kubeconfigs_dir=plan["kubeconfigs_dir"], signer=None),
    )
    app = CatalystApp(store, supervisor=sup, operator="bench", kubeconfigs_dir=plan["kubeconfigs_dir"],
                      config=UiConfig(cursor_blink=False, animations=False), own_store=True, own_supervisor=True,
                      freeze_gc=True)  # as run_dashboard_async (the real entry point) does
    out: dict[str, Any] = {}
    async with app.run_test(size=(160, 50)) as pilot:
        table: FleetTable | None = None
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            try:
                table = app.screen.query_one(FleetTable)
            except Exception:  # noqa: BLE001 - screen not mounted yet
                table = None
            if table is not None and table.row_count >= plan["rows"]:
                statuses = sup.statuses()
                if len(statuses) >= len(watched) and all(s.phase.value == "watching" and s.synced for s in statuses.values()):
                    break
            await asyncio.sleep(0.02)
        else:
            raise RuntimeError("fleet not loaded / watchers not watching within 240 s")
        assert table is not None
        out["ready_after_s"] = time.monotonic() - t_proc
        out["rss_loaded_mb"] = rss_mb()
        await pilot.pause(0.3)  # let the first flush (substates) settle

        # --- key latency hook -------------------------------------------------------------------
        # Every press is "down" (the table has 10,000 rows), so press i is reflected once the cursor
        # row reaches start + i; presses are Pilot presses started every KEY_INTERVAL without
        # waiting for the previous one (Pilot.press itself waits until the app is idle, which a
        # flood of watch events postpones: waiting for it would sample almost nothing).
        pending: deque[tuple[float, int]] = deque()  # (t_press, expected cursor row)
        latencies: list[tuple[float, float]] = []  # (t_press, latency)
        original_display = app._display
        frames = {"n": 0, "render_s": 0.0}

        def display(screen: Any, renderable: Any) -> None:
            t = time.monotonic()
            if isinstance(renderable, CompositorUpdate):
                renderable.render_segments(app.console)  # what a real terminal driver would do
                frames["n"] += 1
                frames["render_s"] += time.monotonic() - t
            original_display(screen, renderable)
            now = time.monotonic()
            row = table.cursor_row
            while pending and row >= pending[0][1]:
                t_press, _ = pending.popleft()
                latencies.append((t_press, now - t_press))

        app._display = display  # type: ignore[method-assign]

        stop_keys = asyncio.Event()
        press_tasks: list[asyncio.Task[None]] = []
        next_row = [table.cursor_row]

        async def press_keys() -> None:
            while not stop_keys.is_set():
                next_row[0] += 1
                pending.append((time.monotonic(), next_row[0]))
                press_tasks.append(asyncio.create_task(pilot.press("down")))
                await asyncio.sleep(KEY_INTERVAL)

        async def settle_keys() -> int:
            """Wait (up to 5 s) for the presses in flight; returns how many never showed."""
            t_end = time.monotonic() + 5.0
            while pending and time.monotonic() < t_end:
                await asyncio.sleep(0.01)
            lost = len(pending)
            pending.clear()
            await asyncio.gather(*press_tasks, return_exceptions=True)
            press_tasks.clear()
            return lost

        # presses with nothing else going on, for reference
        idle_keys = asyncio.create_task(press_keys())
        await asyncio.sleep(1.5)
        stop_keys.set()
        await idle_keys
        await settle_keys()
        next_row[0] = table.cursor_row
        idle_latencies = [lat for _, lat in latencies]
        latencies.clear()
        stop_keys.clear()
        timeouts = 0

        counting = sup.supervisor.store
        assert isinstance(counting, CountingSQLiteStore)
        before = counting.snapshot()
        profiler = None
        if os.environ.get("BENCH_PROFILE"):
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.001, async_mode="disabled")
            profiler.start()
        keys = asyncio.create_task(press_keys())
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{plan['control_url']}/arm", json={"run": plan["run"]}) as r:
                go = await r.json()
                if r.status != 200:
                    raise RuntimeError(go)
        t_go = go["t_go"]
        t_persisted = t_screen = None
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if t_persisted is None and len(outcomes) >= len(watched):
                t_persisted = max(outcomes.values())
            if t_screen is None and all((row := table.row_for(rid)) is not None and row.status == "ready" for rid in watched):
                t_screen = time.monotonic()
            if t_persisted is not None and t_screen is not None:
                break
            await asyncio.sleep(0.005)
        stop_keys.set()
        await keys
        timeouts = await settle_keys()
        if profiler is not None:
            profiler.stop()
            Path(os.environ["BENCH_PROFILE"]).write_text(profiler.output_text(unicode=False, color=False, show_all=False))
        after = counting.snapshot()
        out.update({
            "t_go": t_go,
            "publish_s": go["publish_s"],
            "t_persisted": t_persisted,
            "t_screen": t_screen,
            "outcomes": len(outcomes),
            "key_latencies_s": [lat for t, lat in latencies if t >= t_go and (t_screen is None or t <= t_screen)],
            "key_latencies_all_s": [lat for _, lat in latencies],
            "key_timeouts": timeouts,
            "idle_key_latencies_s": idle_latencies,
            "frames": frames,
            "writes": {k: after["calls"].get(k, 0) - before["calls"].get(k, 0) for k in after["calls"]},
            "appended_events": after["appended_events"] - before["appended_events"],
            "commits": after["commits"] - before["commits"],
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "rss_end_mb": rss_mb(),
        })
        app._display = original_display  # type: ignore[method-assign]

        # --- verification --------------------------------------------------------------------------
        problems: list[str] = []
        for rid, cid in plan["records"]:
            rec = (await store.get(rid)).record
            res = rec.result
            if rec.status != "ready" or res is None or res.phase1Outcome != "ready":
                problems.append(f"{rid}: status {rec.status}, outcome {res.phase1Outcome if res else None}")
                continue
            if set((res.componentStates or {}).values()) != {"installed"} or len(res.componentStates or {}) != 11:
                problems.append(f"{rid}: componentStates {res.componentStates}")
            seqs: dict[str, list[str]] = {}
            for ev in rec.events or []:
                if ev.phase == "component" and ev.component:
                    seqs.setdefault(ev.component, []).append(ev.state)
            for comp, states in plan["expect"][rid].items():
                want = ["pending", *states]
                if seqs.get(comp) != want:
                    problems.append(f"{rid}/{comp}: events {seqs.get(comp)} != {want}")
        out["verify_problems"] = problems[:20]
        out["verified_records"] = len(plan["records"]) - len({p.split(":")[0].split("/")[0] for p in problems})
        await app.action_quit() if hasattr(app, "action_quit") else None
    return out


def main() -> None:
    plan_path, out_path = sys.argv[1], sys.argv[2]
    with open(plan_path) as fh:
        plan = json.load(fh)
    out = asyncio.run(run(plan))
    Path(out_path).write_text(json.dumps(out))


if __name__ == "__main__":
    main()
