"""Operators type as fast as in k9s: ``/cedar`` arrives from the terminal in one read. The keys
right behind a key that moves the focus (``/`` into the filter, enter/escape back to the table)
must land where that key sent the focus, never on the bindings of the widget it left."""

from __future__ import annotations

from textual.widgets import Input

from catalyst_tui.ui.modals.json_view import JsonViewModal
from catalyst_tui.ui.screens.audit import AuditScreen
from catalyst_tui.ui.screens.fleet import FleetScreen
from catalyst_tui.ui.widgets.fleet_table import FleetTable

from . import fleet
from .conftest import fleet_loaded, type_at_once, wait_for


async def test_slash_then_letters_typed_at_once_all_go_into_the_filter(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await fleet_loaded(pilot, rows=9)
        screen = app.screen
        box = screen.query_one("#filter", Input)
        # Pilot's own presses, back to back.
        await pilot.press("slash", "c", "e", "d", "a", "r")
        assert app.screen is screen and box.value == "cedar"
        await pilot.press("escape")
        await pilot.pause()
        assert box.value == "" and not box.display and app.focused is screen.query_one(FleetTable)
        # As a terminal delivers "/cedar": "a" is the audit key, "r" refresh, "w" reattach on the table.
        await type_at_once(pilot, "slash", "c", "e", "d", "a", "r")
        assert app.screen is screen, f"a key reached the table's bindings: {type(app.screen).__name__}"
        assert box.value == "cedar" and screen.filter_text == "cedar"
        assert app.focused is box


async def test_enter_and_escape_give_the_following_keys_back_to_the_table(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await fleet_loaded(pilot, rows=9)
        screen = app.screen
        assert isinstance(screen, FleetScreen)
        box = screen.query_one("#filter", Input)
        # filter, done, and at once `y` (JSON) on the only row left
        await type_at_once(pilot, "slash", *"acme", "enter", "y")
        assert box.value == "acme"
        await wait_for(pilot, lambda: isinstance(app.screen, JsonViewModal), what="the JSON view of acme")
        assert app.screen.record_id == fleet.WATCHING
        await pilot.press("escape")
        await pilot.pause()
        # escape clears the filter, and the `a` right behind it is the audit key again
        await type_at_once(pilot, "slash", *"zz", "escape", "a")
        await wait_for(pilot, lambda: isinstance(app.screen, AuditScreen), what="the audit screen")
        assert box.value == "" and screen.filter_text == ""


async def test_pasted_terminal_controls_are_dropped_from_the_inputs(make_app) -> None:
    from textual import events

    from catalyst_tui.ui.modals.patch_status import PatchStatusModal

    payload = "acme\x1b]52;c;ZXZpbA==\x07\x1b[2J\x9b31m\u202e"
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await fleet_loaded(pilot, rows=9)
        await pilot.press("slash")
        box = app.screen.query_one("#filter", Input)
        box.post_message(events.Paste(payload))
        await pilot.pause()
        assert box.value == "acme]52;c;ZXZpbA==[2J31m"
        await pilot.press("escape")
        await pilot.pause()
        app.screen.query_one(FleetTable).move_cursor(row=0)
        await pilot.press("p")
        await wait_for(pilot, lambda: isinstance(app.screen, PatchStatusModal) and app.screen.version is not None,
                       what="the patch dialog")
        reason = app.screen.query_one("#patch-reason", Input)
        reason.focus()
        await pilot.pause()
        reason.post_message(events.Paste("by hand\x1b[31m\u2066"))
        await pilot.pause()
        assert reason.value == "by hand[31m"
