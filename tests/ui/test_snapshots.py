"""SVG snapshots of every main screen and dialog (frozen clock, no blink, no animation, fixed size).

Sync tests: ``snap_compare`` runs the app in its own event loop. Each snapshot was reviewed as a
PNG (screenshots/make.py renders the same screens) before it was accepted.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from textual.widgets import Input

from catalyst_tui.domain.record import Event
from catalyst_tui.store.sqlite import SQLiteStore
from catalyst_tui.ui.modals.confirm import MessageModal
from catalyst_tui.ui.modals.handover import HandoverModal
from catalyst_tui.ui.modals.patch_status import PatchStatusModal
from catalyst_tui.ui.screens.audit import AuditScreen
from catalyst_tui.ui.screens.detail import DetailScreen
from catalyst_tui.ui.screens.help import HelpScreen
from catalyst_tui.ui.widgets.fleet_table import FleetTable

from . import fleet
from .conftest import fleet_loaded, wait_for
from .test_keys import add_audit


def loaded(rows: int = 9):  # noqa: ANN201
    async def run_before(pilot) -> None:  # noqa: ANN001
        await fleet_loaded(pilot, rows=rows)

    return run_before


async def _select(pilot, rid: str) -> None:  # noqa: ANN001
    await fleet_loaded(pilot, rows=9)
    table = pilot.app.screen.query_one(FleetTable)
    table.move_cursor(row=table.get_row_index(rid), animate=False)
    await pilot.pause()


def detail(rid: str):  # noqa: ANN201
    async def run_before(pilot) -> None:  # noqa: ANN001
        await _select(pilot, rid)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, DetailScreen) and pilot.app.screen.record is not None,
                       what="the detail")
        await pilot.pause()

    return run_before


class TestFleet:
    def test_mixed_statuses(self, snap_compare, make_app) -> None:
        assert snap_compare(make_app(), terminal_size=(120, 30), run_before=loaded())

    def test_filter_in_use(self, snap_compare, make_app) -> None:
        assert snap_compare(make_app(), terminal_size=(120, 30), run_before=loaded(), press=["slash", *"fsn1"])

    def test_at_80x24(self, snap_compare, make_app) -> None:
        assert snap_compare(make_app(), terminal_size=(80, 24), run_before=loaded())

    def test_no_color_faults_only(self, snap_compare, make_app, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("NO_COLOR", "1")
        app = make_app()
        assert app.no_color
        assert snap_compare(app, terminal_size=(80, 24), run_before=loaded(), press=["f"])


class TestDetail:
    def test_watching(self, snap_compare, make_app) -> None:
        assert snap_compare(make_app(), terminal_size=(120, 40), run_before=detail(fleet.WATCHING))

    def test_failed(self, snap_compare, make_app) -> None:
        assert snap_compare(make_app(), terminal_size=(120, 40), run_before=detail(fleet.PLATFORM_FAILED))

    def test_stale(self, snap_compare, make_app) -> None:
        assert snap_compare(make_app(), terminal_size=(120, 40), run_before=detail(fleet.STALE))


class TestDialogs:
    def test_handover(self, snap_compare, make_app) -> None:
        async def run_before(pilot) -> None:  # noqa: ANN001
            await _select(pilot, fleet.READY_NOT_FIRED)
            await pilot.press("h")
            await wait_for(pilot, lambda: isinstance(pilot.app.screen, HandoverModal) and pilot.app.screen.record is not None,
                           what="the handover checks")

        assert snap_compare(make_app(), terminal_size=(120, 30), run_before=run_before)

    def test_status_patch(self, snap_compare, make_app) -> None:
        async def run_before(pilot) -> None:  # noqa: ANN001
            await _select(pilot, fleet.WATCHING)
            await pilot.press("p")
            await wait_for(pilot, lambda: isinstance(pilot.app.screen, PatchStatusModal) and pilot.app.screen.version is not None,
                           what="the patch dialog")
            pilot.app.screen.query_one("#patch-reason", Input).value = "watch wedged; verified on the cluster"
            await pilot.pause()

        assert snap_compare(make_app(), terminal_size=(120, 30), run_before=run_before)

    def test_conflict(self, snap_compare, make_app, fleet_db: Path) -> None:
        async def run_before(pilot) -> None:  # noqa: ANN001
            await _select(pilot, fleet.PLATFORM_FAILED)
            await pilot.press("p")
            modal = None
            await wait_for(pilot, lambda: isinstance(pilot.app.screen, PatchStatusModal) and pilot.app.screen.version is not None,
                           what="the patch dialog")
            modal = pilot.app.screen
            modal.query_one("#patch-reason", Input).value = "platform fixed by hand"
            other = SQLiteStore(fleet_db)
            await other.open()
            try:
                await other.append_events(fleet.PLATFORM_FAILED, [Event.make("operator", "info", "retry requested", at=fleet.NOW)])
            finally:
                await other.close()
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: modal.conflicted, what="the conflict")

        assert snap_compare(make_app(), terminal_size=(120, 30), run_before=run_before)

    def test_read_only_refusal(self, snap_compare, make_app) -> None:
        async def run_before(pilot) -> None:  # noqa: ANN001
            await _select(pilot, fleet.READY_NOT_FIRED)
            await pilot.press("h")
            await wait_for(pilot, lambda: isinstance(pilot.app.screen, MessageModal), what="the refusal")

        assert snap_compare(make_app(read_only=True), terminal_size=(120, 30), run_before=run_before)


class TestScreens:
    def test_help(self, snap_compare, make_app) -> None:
        async def run_before(pilot) -> None:  # noqa: ANN001
            await fleet_loaded(pilot)
            await pilot.press("question_mark")
            await wait_for(pilot, lambda: isinstance(pilot.app.screen, HelpScreen), what="help")

        assert snap_compare(make_app(), terminal_size=(120, 40), run_before=run_before)

    def test_audit(self, snap_compare, make_app, fleet_db: Path) -> None:
        asyncio.run(add_audit(fleet_db))

        async def run_before(pilot) -> None:  # noqa: ANN001
            await fleet_loaded(pilot)
            await pilot.press("a")
            await wait_for(pilot, lambda: isinstance(pilot.app.screen, AuditScreen) and pilot.app.screen.loaded, what="audit")

        assert snap_compare(make_app(), terminal_size=(120, 24), run_before=run_before)
