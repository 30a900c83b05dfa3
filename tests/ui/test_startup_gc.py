"""catalyst_tui.startup_gc: the entry point switches the cyclic GC off before its imports; the
dashboard switches it back on (after freezing the start-up's objects) at its first paint, every
other command as soon as its arguments are parsed."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
from pathlib import Path

import pytest

from catalyst_tui import startup_gc

from .conftest import fleet_loaded

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def restore_gc():
    yield
    startup_gc.end()
    gc.enable()


def test_pause_and_end_only_undo_their_own_switch(restore_gc) -> None:
    assert gc.isenabled() and not startup_gc.paused()
    startup_gc.end()  # nothing paused: nothing done
    assert gc.isenabled()
    startup_gc.pause()
    assert not gc.isenabled() and startup_gc.paused()
    startup_gc.pause()  # twice: still one pause
    startup_gc.end()
    assert gc.isenabled() and not startup_gc.paused()
    gc.disable()  # switched off by someone else: a pause then an end leave it off
    startup_gc.pause()
    assert not startup_gc.paused()
    startup_gc.end()
    assert not gc.isenabled()


async def test_the_dashboard_ends_the_pause_at_its_first_paint(make_app, restore_gc) -> None:
    startup_gc.pause()
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await fleet_loaded(pilot)
        await pilot.pause(0.2)
        assert gc.isenabled() and not startup_gc.paused()
        assert app.screen.query_one("FleetTable").row_count > 0


def test_a_command_ends_the_pause_once_parsed(tmp_path: Path) -> None:
    code = (
        "import gc, json, sys\n"
        "from catalyst_tui.__main__ import run\n"
        "seen = []\n"
        "import catalyst_tui.cli.main as m\n"
        "real = m._run\n"
        "def spy(*a, **k):\n"
        "    seen.append(gc.isenabled())\n"
        "    return real(*a, **k)\n"
        "m._run = spy\n"
        "from catalyst_tui import startup_gc\n"
        "startup_gc.end(); gc.enable()  # (cli.main was imported above, unpaused: start over as run() does)\n"
        "sys.argv = ['catalyst-tui'] + json.loads(sys.argv[1])\n"
        "code = run()\n"
        "print(json.dumps([code, seen, gc.isenabled(), startup_gc.paused()]), file=sys.stderr)\n"
    )
    url = f"sqlite://{tmp_path / 'x.db'}"
    proc = subprocess.run([sys.executable, "-c", code, json.dumps(["--store", url, "list", "--json"])],
                          cwd=REPO, capture_output=True, timeout=60)
    got = json.loads(proc.stderr.decode().strip().splitlines()[-1])
    assert got == [0, [True], True, False]


async def test_a_store_that_fails_from_the_start_ends_the_pause_too(make_app, fleet_db: Path, restore_gc) -> None:
    """The first poll failing is the first paint too (the error banner): a dashboard left open on
    a broken store must not run with the GC off (every failed poll leaves a traceback cycle)."""
    from catalyst_tui.store.base import StoreUnavailable
    from catalyst_tui.store.sqlite import SQLiteStore

    from .conftest import wait_for

    class Gone(SQLiteStore):
        async def list_summaries(self):  # type: ignore[override]
            raise StoreUnavailable(f"{self.path}: disk gone")

        async def head_summaries(self, *a, **k):  # type: ignore[override]
            return None

    startup_gc.pause()
    app = make_app()
    app.store = Gone(fleet_db)
    app.fleet.store = app.store
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.fleet.error is not None, what="the store error")
        await pilot.pause(0.2)
        assert "disk gone" in str(app.screen.query_one("#fleet-state").render())  # "Cannot read the store: …"
        assert not app.fleet.loaded
        assert gc.isenabled() and not startup_gc.paused()
