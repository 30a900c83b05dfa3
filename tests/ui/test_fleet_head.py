"""Start-up, first screenful first (issue 5): the dashboard paints the head of the attention order
read with ``RecordStore.head_summaries`` before it lists the whole store, and says it is loading
until it has: no per-status counts, no "nothing matches", no "no Sovereigns" from the head alone."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

import pytest

from catalyst_tui.kube.state import WatcherStatus
from catalyst_tui.store.catalyst_dir import CatalystDirStore
from catalyst_tui.store.sqlite import SQLiteStore
from catalyst_tui.ui.app import CatalystApp
from catalyst_tui.ui.fleet_state import FleetState, attention_key
from catalyst_tui.ui.widgets.fleet_table import FleetTable

from ..store.test_sqlite_head import KUBECONFIGS, seed_random_fleet
from . import fleet
from .conftest import fleet_loaded, plain, ui_config, wait_for
from .test_fleet import ATTENTION_ORDER


@pytest.mark.parametrize("seed", range(4))
async def test_the_head_is_the_first_rows_of_the_full_attention_order(tmp_path: Path, seed: int) -> None:
    path = tmp_path / "fleet.db"
    n = random.Random(seed).choice([40, 150])
    stat, _unreadable = await seed_random_fleet(path, 100 + seed, n)
    for limit in (1, 10, 64):
        async with SQLiteStore(path) as store:
            state = FleetState(store, kubeconfigs_dir=KUBECONFIGS, stat=stat)
            delta = await state.poll_head(limit)
            assert delta is not None and state.partial and not state.loaded and state.total == n
            head = state.ordered()
            assert len(head) == min(limit, len(head)) and set(delta.changed) == {r.id for r in head}
            assert [r.id for r in head] == sorted(state.rows, key=lambda rid: attention_key(state.rows[rid]))
            assert state.counts() == (n, {}, 0)  # the store's count, nothing made up from the head
            kept = dict(state.rows)
            full = await state.poll(force=True)
            assert full.completed and state.loaded and not state.partial and state.total is None
            rows = state.ordered()
            assert rows[:len(head)] == head, (seed, limit)
            assert len(head) == min(limit, len(rows))
            # rows built for the head and equal after the full listing are the ones kept
            assert all(state.rows[rid] is row for rid, row in kept.items() if state.rows.get(rid) == row)
            assert state.counts()[0] == len(rows)


async def test_no_head_without_store_support_or_with_live_watchers(tmp_path: Path, fleet_db: Path) -> None:
    d = tmp_path / "records"
    d.mkdir()
    async with CatalystDirStore(d, read_only=True) as store:
        state = FleetState(store, kubeconfigs_dir=KUBECONFIGS)
        assert await state.poll_head(10) is None
        assert not state.partial and not state.rows and state.generation == 0
    async with SQLiteStore(fleet_db) as store:
        watching = FleetState(store, kubeconfigs_dir=KUBECONFIGS,
                              statuses=lambda: {fleet.WATCHING: WatcherStatus(record_id=fleet.WATCHING)})
        assert await watching.poll_head(10) is None and not watching.rows
        state = FleetState(store, kubeconfigs_dir=KUBECONFIGS)
        await state.poll()
        assert await state.poll_head(10) is None  # loaded already: nothing to do


class HeldListing(SQLiteStore):
    """A SQLite store whose full listing waits until the test releases it."""

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.release = asyncio.Event()

    async def list_summaries(self):  # noqa: ANN201
        await self.release.wait()
        return await super().list_summaries()


class FirstFrame(CatalystApp):
    """Notes what the first frame with fleet rows showed."""

    CSS_PATH = str(Path(__import__("catalyst_tui.ui.app", fromlist=["x"]).__file__).with_name(CatalystApp.CSS_PATH))
    HEAD_ROWS = 3

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.first: tuple[list[str], str] | None = None

    def _display(self, screen: Any, renderable: Any) -> None:
        super()._display(screen, renderable)
        if renderable is not None and self.first is None:
            tables = screen.query(FleetTable)
            if tables and tables.first().row_count:
                self.first = (tables.first().keys_in_order(), plain(screen.query_one("#counts")))


async def test_first_frame_shows_the_head_and_says_loading_then_the_whole_fleet(fleet_db: Path, volume: Path) -> None:
    store = HeldListing(fleet_db)
    app = FirstFrame(store, operator="alice", clock=lambda: fleet.NOW, config=ui_config(), kubeconfigs_dir=fleet.KUBECONFIGS,
                     store_label=fleet.STORE_LABEL, stat=fleet.volume_stat(volume))
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: app.first is not None, what="the first frame with rows")
        assert app.first is not None
        rows, counts = app.first
        # HEAD_ROWS is 3 and the terminal is 30 high: the first 30 rows of the order (all 9 here)
        assert rows == ATTENTION_ORDER
        assert "9 Sovereigns" in counts and "loading" in counts and "failed" not in counts
        screen = app.screen
        table = screen.query_one(FleetTable)
        assert table.selected_id() == ATTENTION_ORDER[0]
        # A filter while only the head is read says it is loading, not that nothing matches.
        await pilot.press("slash", *"zzz-no-such")
        await pilot.pause()
        state = plain(screen.query_one("#fleet-state"))
        assert "No Sovereign matches" not in state and "Loading the rest of the fleet (9 Sovereigns)" in state
        assert "shown so far" in plain(screen.query_one("#view-state"))
        store.release.set()
        await fleet_loaded(pilot, rows=None)
        await wait_for(pilot, lambda: "No Sovereign matches" in plain(screen.query_one("#fleet-state")), what="no match")
        await pilot.press("escape")
        await wait_for(pilot, lambda: table.row_count == 9, what="the whole fleet")
        counts = plain(screen.query_one("#counts"))
        assert "loading" not in counts and "2 failed" in counts and "1 stale" in counts
        assert table.keys_in_order() == ATTENTION_ORDER and table.selected_id() == ATTENTION_ORDER[0]


async def test_a_short_terminal_paints_only_the_head_first(fleet_db: Path, volume: Path) -> None:
    store = HeldListing(fleet_db)
    app = FirstFrame(store, operator="alice", clock=lambda: fleet.NOW, config=ui_config(), kubeconfigs_dir=fleet.KUBECONFIGS,
                     store_label=fleet.STORE_LABEL, stat=fleet.volume_stat(volume))
    app.HEAD_ROWS = 1
    async with app.run_test(size=(120, 4)) as pilot:  # 4 lines high: the head is 4 rows
        await wait_for(pilot, lambda: app.first is not None, what="the first frame with rows")
        assert app.first is not None and app.first[0] == ATTENTION_ORDER[:4]
        assert app.fleet.partial and app.fleet.total == 9
        store.release.set()
        await fleet_loaded(pilot, rows=9)
        assert app.screen.query_one(FleetTable).keys_in_order() == ATTENTION_ORDER
        assert not app.fleet.partial


async def test_the_head_read_before_the_app_runs_is_in_its_very_first_frame(fleet_db: Path, volume: Path) -> None:
    """run_dashboard_async reads the head before the app starts (read_head_before_the_first_frame):
    the first frame with rows is the head, with the loading counts, and start_services does not
    read it again; then the full fleet as usual."""
    from catalyst_tui.ui.app import read_head_before_the_first_frame

    store = HeldListing(fleet_db)
    await store.open()
    try:
        app = FirstFrame(store, operator="alice", clock=lambda: fleet.NOW, config=ui_config(),
                         kubeconfigs_dir=fleet.KUBECONFIGS, store_label=fleet.STORE_LABEL, stat=fleet.volume_stat(volume),
                         own_store=False)
        await read_head_before_the_first_frame(app)
        assert app.fleet.partial and not app.fleet.loaded and app.fleet.total == 9
        head_rows = list(app.fleet.rows)
        heads: list[Any] = []
        original = app.fleet.poll_head

        async def counted(*a: Any, **kw: Any) -> Any:
            heads.append(await original(*a, **kw))
            return heads[-1]

        app.fleet.poll_head = counted  # type: ignore[method-assign]
        async with app.run_test(size=(120, 30)) as pilot:
            await wait_for(pilot, lambda: app.first is not None, what="the first frame with rows")
            assert app.first is not None
            rows, counts = app.first
            assert set(rows) == set(head_rows) and rows == ATTENTION_ORDER[:len(rows)]
            assert "9 Sovereigns" in counts and "loading" in counts
            store.release.set()
            await fleet_loaded(pilot, rows=9)
            assert "loading" not in plain(app.screen.query_one("#counts"))
        assert heads == [None]  # start_services asked, and nothing was read or painted a second time
    finally:
        await store.close()
