"""The fleet screen through Pilot: order, literal text, live in-place updates, filter, faults, sort."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

from rich.text import Text

from catalyst_tui.store.sqlite import SQLiteStore
from catalyst_tui.ui.screens.detail import DetailScreen
from catalyst_tui.ui.screens.fleet import FleetScreen
from catalyst_tui.ui.widgets.fleet_table import FleetTable

from . import fleet
from .conftest import fleet_loaded, wait_for

ATTENTION_ORDER = [
    fleet.PLATFORM_FAILED, fleet.ABANDONED,   # failed, newest first
    fleet.STALE,                               # stale phase1-watching
    fleet.WATCHING,                            # phase1-watching
    fleet.HOSTILE, fleet.TOFU,                 # Phase 0 in flight, newest first
    fleet.READY_NOT_FIRED, fleet.READY_FIRED,  # ready
    fleet.ADOPTED,
]


def cell(table: FleetTable, rid: str, column: str) -> str:
    value = table.get_cell(rid, column)
    assert isinstance(value, Text), f"{column} of {rid} is not a Text (record text must never be markup)"
    return value.plain


async def test_rows_in_attention_order_with_hostile_text_shown_literally(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(110, 30)) as pilot:
        await fleet_loaded(pilot, rows=9)
        table = app.screen.query_one(FleetTable)
        assert table.keys_in_order() == ATTENTION_ORDER
        assert cell(table, fleet.HOSTILE, "org") == fleet.HOSTILE_ORG
        assert cell(table, fleet.HOSTILE, "fqdn").startswith("[@click=app.quit]")
        # The ESC in the error is shown as an inert escape, not sent to the terminal.
        assert "\\x1b[31mred" in cell(table, fleet.HOSTILE, "error")
        assert "\x1b" not in cell(table, fleet.HOSTILE, "error")
        assert cell(table, fleet.STALE, "watcher") == "stale"
        assert cell(table, fleet.STALE, "status").startswith("⚠")
        assert cell(table, fleet.WATCHING, "progress").startswith(" 7/11")
        assert cell(table, fleet.READY_FIRED, "handover").endswith("fired")
        counts = str(app.screen.query_one("#counts").render())
        assert "9 Sovereigns" in counts and "2 failed" in counts and "1 stale" in counts
        # Clicking the hostile FQDN's "link" must not quit: the app is still running.
        await pilot.click(FleetTable, offset=(30, 5))
        await pilot.pause()
        assert app.is_running


async def test_external_change_updates_the_row_in_place_within_two_seconds(make_app, fleet_db: Path) -> None:
    from .conftest import ui_config

    app = make_app(config=ui_config(poll_interval=1.0))  # the production interval
    assert app.config.poll_interval == 1.0
    async with app.run_test(size=(110, 30)) as pilot:
        await fleet_loaded(pilot, rows=9)
        table = app.screen.query_one(FleetTable)
        await pilot.press("down", "down", "down")  # the cursor on acme (WATCHING)
        assert table.selected_id() == fleet.WATCHING
        # Another connection (as another process would) appends a component event.
        other = SQLiteStore(fleet_db)
        await other.open()
        try:
            from catalyst_tui.domain.record import Event

            ev = Event.make("component", "info", "Helm install succeeded", at=fleet.NOW, component="openbao", state="installed")
            await other.append_events(fleet.WATCHING, [ev])
        finally:
            await other.close()
        start = time.monotonic()
        await wait_for(pilot, lambda: cell(table, fleet.WATCHING, "progress").startswith(" 8/11"), timeout=2.5,
                       what="the progress cell to show 8/11")
        assert time.monotonic() - start < 2.0
        assert table.clear_count == 0
        # Updated in place: only acme's row changed (the others keep their rendered lines), same
        # order, cursor still on acme.
        assert table.last_changed == frozenset({fleet.WATCHING})
        assert table.selected_id() == fleet.WATCHING
        assert table.keys_in_order() == ATTENTION_ORDER


async def test_change_by_another_process_and_new_record_appear(make_app, fleet_db: Path) -> None:
    app = make_app()
    async with app.run_test(size=(110, 30)) as pilot:
        await fleet_loaded(pilot, rows=9)
        table = app.screen.query_one(FleetTable)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "catalyst_tui", "--store", f"sqlite://{fleet_db}", "--operator", "bob",
            "patch-status", fleet.ABANDONED, "--to", "ready", "--reason", "resources verified by hand",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )
        _, err = await proc.communicate()
        assert proc.returncode == 0, err.decode()
        await wait_for(pilot, lambda: "ready" in cell(table, fleet.ABANDONED, "status"), timeout=3, what="the patched row")
        # It moved from the failed group to the ready group, still the same row object.
        assert table.keys_in_order().index(fleet.ABANDONED) > table.keys_in_order().index(fleet.TOFU)
        other = SQLiteStore(fleet_db)
        await other.open()
        try:
            rec = fleet.fleet_records()[0].model_copy(update={"id": "aaaabbbbccccdddd", "status": "failed"})
            await other.create(rec)
        finally:
            await other.close()
        await wait_for(pilot, lambda: table.row_count == 10, timeout=3, what="the new record's row")
        assert table.clear_count == 0


async def test_filter_faults_sort_and_open(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(110, 30)) as pilot:
        await fleet_loaded(pilot, rows=9)
        screen = app.screen
        assert isinstance(screen, FleetScreen)
        table = screen.query_one(FleetTable)
        await pilot.press("slash", *"fsn1")
        await pilot.pause()
        assert set(table.keys_in_order()) == {fleet.PLATFORM_FAILED, fleet.WATCHING, fleet.HOSTILE, fleet.READY_FIRED, fleet.READY_NOT_FIRED}
        assert "filter: fsn1" in str(screen.query_one("#view-state").render())
        await pilot.press("enter")  # leaves the input, keeps the filter
        await pilot.press("escape")
        await pilot.pause()
        assert table.row_count == 9
        await pilot.press("slash", *"zz")
        await pilot.pause()
        assert table.row_count == 0
        assert "No Sovereign matches" in str(screen.query_one("#fleet-state").render())
        await pilot.press("escape", "f")
        await pilot.pause()
        assert table.keys_in_order() == [fleet.PLATFORM_FAILED, fleet.ABANDONED, fleet.STALE]
        await pilot.press("f", "s")  # sort by status
        await pilot.pause()
        assert screen.sort_by == "status"
        order = table.keys_in_order()
        assert order[0] == fleet.ADOPTED and order[-1] == fleet.TOFU
        await pilot.press("S")
        await pilot.pause()
        assert table.keys_in_order() == list(reversed(order))
        assert table.clear_count == 0
        # The cursor stayed on its Sovereign through filtering and sorting.
        assert table.selected_id() == fleet.PLATFORM_FAILED
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen), what="the detail screen")
        assert app.screen.record_id == fleet.PLATFORM_FAILED
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, FleetScreen)


async def test_header_click_sorts_by_that_column(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(110, 30)) as pilot:
        await fleet_loaded(pilot, rows=9)
        screen = app.screen
        table = screen.query_one(FleetTable)
        await pilot.click(FleetTable, offset=(25, 0))  # the FQDN header
        await pilot.pause()
        assert screen.sort_by == "fqdn"
        fqdns = [cell(table, rid, "fqdn") for rid in table.keys_in_order()]
        assert fqdns == sorted(fqdns, key=str.lower)
        await pilot.click(FleetTable, offset=(25, 0))
        await pilot.pause()
        assert screen.sort_desc


async def test_empty_store_says_what_to_do(make_app, tmp_path: Path) -> None:
    app = make_app(db=tmp_path / "empty.db")
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.fleet.loaded, what="the empty fleet")
        await pilot.pause()
        text = str(app.screen.query_one("#fleet-state").render())
        assert "No Sovereigns in this store yet" in text
        assert not app.screen.query_one(FleetTable).display


async def test_unusable_store_shows_the_reason_and_q_quits(make_app, tmp_path: Path) -> None:
    bad = tmp_path / "not-a-db.db"
    bad.write_text("this is not SQLite\n")
    app = make_app(db=bad)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.services_error is not None, what="the open error")
        await pilot.pause()
        text = str(app.screen.query_one("#fleet-state").render())
        assert "Cannot open the store" in text and "not a catalyst-tui SQLite store" in text
        await pilot.press("q")
        await pilot.pause()
    assert not app.is_running


async def test_zero_size_until_first_resize(make_app) -> None:
    """Under kubectl exec the first reported size can be 0x0."""
    app = make_app()
    async with app.run_test(size=(0, 0)) as pilot:
        await wait_for(pilot, lambda: app.fleet.loaded, what="the fleet")
        await pilot.pause()
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        table = app.screen.query_one(FleetTable)
        assert table.row_count == 9
        assert table.size.width > 0
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen), what="the detail screen")


async def test_catalyst_api_directory_store_with_a_broken_file(make_app, tmp_path: Path) -> None:
    """The catalyst-api volume itself: files written the way catalyst-api writes them, one of them
    broken. The broken one is reported in a banner and the others are shown; a patch warns that a
    running catalyst-api overwrites it."""
    from catalyst_tui.domain.record import to_catalyst_json
    from catalyst_tui.store.catalyst_dir import CatalystDirStore
    from catalyst_tui.ui.app import CatalystApp
    from catalyst_tui.ui.modals.patch_status import PatchStatusModal

    from .conftest import ui_config

    deployments = tmp_path / "deployments"
    deployments.mkdir(mode=0o700)
    for rec in fleet.fleet_records():
        (deployments / f"{rec.id}.json").write_text(to_catalyst_json(rec))
    (deployments / "0000000000000bad.json").write_text('{"id": "0000000000000bad", "status": ')
    app = CatalystApp(CatalystDirStore(deployments), operator="alice", clock=lambda: fleet.NOW, config=ui_config(),
                      kubeconfigs_dir=fleet.KUBECONFIGS, store_label="catalyst-dir:///var/lib/catalyst/deployments")
    async with app.run_test(size=(110, 30)) as pilot:
        await fleet_loaded(pilot, rows=9)
        banner = str(app.screen.query_one("#store-banner").render())
        assert "1 record could not be read" in banner and "0000000000000bad.json" in banner
        table = app.screen.query_one(FleetTable)
        table.move_cursor(row=table.get_row_index(fleet.READY_NOT_FIRED), animate=False)
        await pilot.press("p")
        await wait_for(pilot, lambda: isinstance(app.screen, PatchStatusModal) and app.screen.version is not None, what="patch")
        app.screen.query_one("#patch-target").value = "failed"
        await pilot.pause()
        assert "a catalyst-api still writing this record will overwrite the patch" in str(
            app.screen.query_one("#patch-preview").render())
