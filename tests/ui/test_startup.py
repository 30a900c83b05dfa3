"""Start-up order: the fleet is on the terminal before the restart rules and the watchers start
(on a large fleet ``Supervisor.start`` reads and rewrites records for seconds, on the same loop)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from catalyst_tui.store.sqlite import SQLiteStore
from catalyst_tui.ui.app import CatalystApp
from catalyst_tui.ui.widgets.fleet_table import FleetTable

from . import fleet
from .conftest import fleet_loaded, ui_config, wait_for


class FramesApp(CatalystApp):
    """CatalystApp that counts the frames handed to the terminal with fleet rows in them."""

    CSS_PATH = str(Path(__import__("catalyst_tui.ui.app", fromlist=["x"]).__file__).with_name(CatalystApp.CSS_PATH))

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.frames_with_rows = 0

    def _display(self, screen: Any, renderable: Any) -> None:
        super()._display(screen, renderable)
        if renderable is not None:
            tables = screen.query(FleetTable)
            if tables and tables.first().row_count:
                self.frames_with_rows += 1


class WatchersStandIn:
    """The supervisor's interface as the app uses it; notes what was on screen when it started."""

    def __init__(self) -> None:
        self.app: FramesApp | None = None
        self.frames_at_start: int | None = None
        self.stopped = False

    async def start(self) -> None:
        assert self.app is not None
        self.frames_at_start = self.app.frames_with_rows

    async def stop(self) -> None:
        self.stopped = True

    def statuses(self) -> dict:
        return {}


async def test_the_fleet_is_painted_before_the_watchers_start(fleet_db: Path) -> None:
    sup = WatchersStandIn()
    app = FramesApp(SQLiteStore(fleet_db), supervisor=sup, operator="alice", clock=lambda: fleet.NOW, config=ui_config(),
                    kubeconfigs_dir=fleet.KUBECONFIGS, store_label=fleet.STORE_LABEL)
    sup.app = app
    async with app.run_test(size=(120, 30)) as pilot:
        await fleet_loaded(pilot, rows=9)
        await wait_for(pilot, lambda: app.services_settled, what="the services")
        assert sup.frames_at_start is not None and sup.frames_at_start >= 1
    assert sup.stopped
