"""The fleet table itself: which columns fit where, what a narrow column shows, and that a fleet of
10,000 rows costs only the rows on screen (start-up, and the one-second clock)."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from textual.app import App, ComposeResult

from catalyst_tui.kube.state import WatchPhase
from catalyst_tui.service.fleet import FleetRow, sort_rows, status_counts
from catalyst_tui.ui import fleet_state
from catalyst_tui.ui.widgets import fleet_table
from catalyst_tui.ui.widgets.fleet_table import COLUMN_KEYS, FleetTable, layout_columns

from . import fleet
from .conftest import fleet_loaded, screen_lines, wait_for

NOW = fleet.NOW
REASON = "Sovereign API unreachable (dial tcp 203.0.113.10:6443: i/o timeout)"


def row(i: int, **kw: Any) -> FleetRow:
    """A synthetic row (no store needed): a finished, ready Sovereign unless told otherwise."""
    base = dict(
        id=f"{i:016x}", status="ready", status_known=True, fqdn=f"sov{i:05d}.omani.works", org=f"Org {i}",
        region="fsn1", started="2026-05-04T06:00:00Z", finished="2026-05-04T06:40:00Z", installed=11, total=11,
        stale=False, handover_fired_at="2026-05-04T06:40:01Z", error="", watcher="none", watcher_phase=None,
        last_event_at=NOW - timedelta(hours=3),
    )
    base.update(kw)
    return FleetRow(**base)


class TableApp(App[None]):
    def __init__(self, rows: list[FleetRow]) -> None:
        super().__init__()
        self.rows = rows

    def compose(self) -> ComposeResult:
        yield FleetTable(id="fleet")

    def on_mount(self) -> None:
        self.query_one(FleetTable).sync(self.rows, NOW)


def line_of(table: FleetTable, rid: str) -> str:
    """The rendered text of ``rid``'s line (it must be on screen)."""
    y = table.get_row_index(rid) - int(table.scroll_offset.y) + 1
    return table.render_line(y).text


# --- layout ------------------------------------------------------------------------------------

def widths(width: int) -> dict[str, int]:
    return {c.key: w for c, w in layout_columns(width)}


@pytest.mark.parametrize("width", [119, 120, 130, 160, 200])
def test_from_120_columns_every_column_shows_and_error_comes_last(width: int) -> None:
    cols = layout_columns(width)
    assert [c.key for c, _ in cols] == list(COLUMN_KEYS)
    assert cols[-1][0].key == "error"
    assert fleet_table.MARGIN + sum(w for _, w in cols) + fleet_table.GAP * (len(cols) - 1) == width
    w = widths(width)
    assert w["status"] >= len("◐ phase1-watching") and w["fqdn"] >= len("umbrella.omani.works")
    assert w["error"] >= 13 and w["org"] >= 10 and w["watcher"] >= 12


def test_at_80_columns_the_low_priority_columns_go_first() -> None:
    assert list(widths(80)) == ["status", "fqdn", "progress", "watcher", "last_event", "error"]
    assert list(widths(100)) == ["status", "fqdn", "org", "progress", "watcher", "last_event", "handover", "error"]
    for width in range(60, 240):
        cols = layout_columns(width)
        used = fleet_table.MARGIN + sum(w for _, w in cols) + fleet_table.GAP * (len(cols) - 1)
        assert used == width, width


# --- on screen ---------------------------------------------------------------------------------

async def test_at_120x40_org_region_handover_and_error_are_on_screen(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await fleet_loaded(pilot, rows=9)
        lines = screen_lines(app)
        header = next(line for line in lines if "Status" in line and "FQDN" in line)
        labels = ["Status", "FQDN", "Org", "Region", "Progress", "Watcher", "Updated", "Elapsed", "Handover", "Error"]
        positions = [header.find(label) for label in labels]
        assert all(p >= 0 for p in positions) and positions == sorted(positions), header
        assert len(header.rstrip()) <= 120
        globex = next(line for line in lines if "globex.omani.works" in line)
        assert "Globex Co" in globex and "nbg1" in globex and "catalyst-api" in globex
        stark = next(line for line in lines if "stark.omani.works" in line)
        assert "✔ fired" in stark
        # The line under the table spells out what the narrow columns cut for the selected row.
        selection = lines[-2]
        assert "initech.omani.works" in selection and "Phase 1 finished with 1 failed component" in selection
        await pilot.press("down")
        await pilot.pause()
        assert "catalyst-api restarted during provisioning" in screen_lines(app)[-2]


async def test_at_80x24_the_fleet_stays_readable(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await fleet_loaded(pilot, rows=9)
        lines = screen_lines(app)
        header = next(line for line in lines if "Status" in line and "FQDN" in line)
        for label in ("Status", "FQDN", "Progress", "Watcher", "Updated", "Error"):
            assert label in header
        acme = next(line for line in lines if "acme.omani.works" in line)
        assert "phase1-watching" in acme and "7/11" in acme and "none" in acme


async def test_a_reconnecting_watcher_shows_the_start_of_its_reason() -> None:
    rows = [row(1, status="phase1-watching", watcher=f"reconnecting: {REASON}", watcher_phase=WatchPhase.RECONNECTING,
                handover_fired_at=None, installed=4, finished=None, last_event_at=NOW - timedelta(seconds=75)),
            row(2)]
    app = TableApp(rows)
    async with app.run_test(size=(120, 10)) as pilot:
        await pilot.pause()
        table = app.query_one(FleetTable)
        text = line_of(table, rows[0].id)
        assert "↻ Sovereign" in text, text
        # The cell itself still says it in full (the detail, the selection line and tests read it).
        assert table.get_cell(rows[0].id, "watcher").plain == f"reconnecting: {REASON}"
        assert "1m15s ago" in text or "1m ago" in text


# --- cost: only the rows on screen --------------------------------------------------------------

@pytest.fixture
def count_rendered_rows(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []
    real = fleet_table.render_cells

    def counting(r: FleetRow, *a: Any, **kw: Any):  # noqa: ANN202
        seen.append(r.id)
        return real(r, *a, **kw)

    monkeypatch.setattr(fleet_table, "render_cells", counting)
    return seen


async def test_ten_thousand_rows_cost_only_the_rows_on_screen(count_rendered_rows: list[str]) -> None:
    rows = [row(i, last_event_at=NOW - timedelta(seconds=i % 50)) for i in range(10_000)]
    app = TableApp(rows)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        table = app.query_one(FleetTable)
        assert table.row_count == 10_000
        on_screen = len(table.visible_range())
        assert on_screen == 29
        # Start-up: only the first screenful was rendered (the DataTable built 100,000 cells).
        assert len(set(count_rendered_rows)) <= on_screen
        # The clock: only rows in view are looked at, and each repainted once.
        count_rendered_rows.clear()
        table.tick(NOW + timedelta(seconds=1))
        await pilot.pause()
        assert table.last_cell_updates == on_screen
        assert set(count_rendered_rows) <= {r.id for r in rows[:on_screen]}
        # A row that scrolls in is rendered with the current time.
        table.action_last_row()
        await pilot.pause()
        last = rows[-1]
        assert table.selected_id() == last.id
        expected = f"{(last.last_event_at and int((NOW + timedelta(seconds=1) - last.last_event_at).total_seconds()))}s ago"
        assert expected in line_of(table, last.id)


async def test_the_clock_repaints_only_texts_that_changed(count_rendered_rows: list[str]) -> None:
    rows = [row(i) for i in range(50)]  # finished hours ago: "3h00m ago" moves once a minute
    rows[3] = row(3, last_event_at=NOW - timedelta(seconds=30))
    app = TableApp(rows)
    async with app.run_test(size=(120, 20)) as pilot:
        await pilot.pause()
        table = app.query_one(FleetTable)
        table.tick(NOW)
        assert table.last_cell_updates == 0
        count_rendered_rows.clear()
        table.tick(NOW + timedelta(seconds=1))
        await pilot.pause()
        assert table.last_cell_updates == 1 and count_rendered_rows == [rows[3].id]
        assert "31s ago" in line_of(table, rows[3].id)


async def test_a_changed_row_is_repainted_alone_and_the_cursor_follows_it(count_rendered_rows: list[str]) -> None:
    rows = [row(i) for i in range(50)]
    app = TableApp(rows)
    async with app.run_test(size=(120, 20)) as pilot:
        await pilot.pause()
        table = app.query_one(FleetTable)
        table.move_cursor(row=5)
        await pilot.pause()
        count_rendered_rows.clear()
        changed = replace(rows[2], status="failed", error="boom")
        new = [*rows[:2], changed, *rows[3:]]
        table.sync(new, NOW, changed={changed.id})
        await pilot.pause()
        assert table.last_changed == {changed.id} and count_rendered_rows == [changed.id]
        assert "boom" in line_of(table, changed.id)
        # moved to the top: the cursor stays on its Sovereign
        table.sync([changed, *rows[:2], *rows[3:]], NOW, changed=set())
        await pilot.pause()
        assert table.selected_id() == rows[5].id and table.cursor_row == 5
        assert table.clear_count == 0


def test_attention_order_is_the_services_order_kept_as_rows_change() -> None:
    rnd = random.Random(7)
    statuses = ["failed", "phase1-watching", "ready", "pending", "adopted", "partial-failure", "tofu-applying"]
    rows = [row(i, status=rnd.choice(statuses), stale=rnd.random() < 0.1,
                started=f"2026-05-0{rnd.randint(1, 4)}T0{rnd.randint(0, 9)}:00:00Z" if rnd.random() < 0.9 else None)
            for i in range(500)]
    state = fleet_state.FleetState(store=None, kubeconfigs_dir="/nowhere")  # type: ignore[arg-type]

    def agrees() -> None:
        held = list(state.rows.values())
        assert state.ordered() == sort_rows(held)
        assert state.ordered(descending=True) == sort_rows(held, descending=True)
        assert all(r is state.rows[r.id] for r in state.ordered())
        assert state.counts() == (len(held), status_counts(held), sum(r.stale for r in held))

    state.put_rows(rows)
    agrees()
    assert state.put_rows(rows) == (set(), set())  # equal rows: nothing changed, same generation
    gen = state.generation
    # small batches (kept sorted by bisection) and big ones (re-sorted), adds, removals, stale flips
    for step in range(60):
        n = rnd.choice([1, 5, 40, 120])
        batch = []
        for i in rnd.sample(range(len(rows)), n):
            rid = rows[i].id
            if rid in state.rows:
                batch.append(replace(state.rows[rid], status=rnd.choice(statuses), stale=rnd.random() < 0.2,
                                     error=f"changed {step}"))
        removed = [r.id for r in rnd.sample(rows, 3)] if step % 7 == 0 else []
        added = [row(1000 + step * 2 + k, status=rnd.choice(statuses)) for k in range(2)] if step % 5 == 0 else []
        state.put_rows(batch + added, removed)
        agrees()
    assert state.generation > gen
    assert state.ordered("fqdn") == sort_rows(state.rows.values(), "fqdn")


async def test_clicks_sort_by_header_and_select_rows(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await fleet_loaded(pilot, rows=9)
        table = app.screen.query_one(FleetTable)
        x = next(x for x in range(120) if table._column_at(x) == "region")
        await pilot.click(FleetTable, offset=(x, 0))
        await pilot.pause()
        assert app.screen.sort_by == "region"
        await pilot.click(FleetTable, offset=(5, 3))  # the third row: moves the cursor
        await pilot.pause()
        assert table.cursor_row == 2
        await pilot.click(FleetTable, offset=(5, 3))  # again: opens it
        await wait_for(pilot, lambda: app.screen.__class__.__name__ == "DetailScreen", what="the detail")
