"""The dashboard's first paint imports no pydantic, yaml, kubernetes_asyncio or supervisor code.

Issue 5 target 1 (start-up): the fleet view of a SQLite store reads summaries (plain tuples from
SQL) and builds rows without a record model; the pydantic models (``domain.record_models``, loaded
by ``domain.record``'s module ``__getattr__``), yaml (kubeconfigs) and the watchers are needed only
once a record is opened, a kubeconfig read or the supervisor started (on its own thread, after the
first paint). Each check runs a fresh interpreter: the test process has all of them loaded.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from .ui import fleet

#: Modules the first paint of ``catalyst-tui --store sqlite://…`` must not load.
NOT_BEFORE_THE_FIRST_PAINT = (
    "yaml",
    "kubernetes_asyncio",
    "catalyst_tui.kube.kubeconfig",
    "catalyst_tui.kube.watcher",
    "catalyst_tui.domain.outcome",
    "catalyst_tui.service.supervisor",
    "catalyst_tui.store.catalyst_dir",
)
MODELS = ("pydantic", "catalyst_tui.domain.record_models")

# What ``python -m catalyst_tui --store sqlite:///…`` runs up to its first fleet row: the CLI entry
# point, the app module, the store from its URL, the options the dashboard resolves, the supervisor
# wiring (built, not started: it starts after the first paint, on its own thread), then the fleet
# screen with its rows, headless. Prints the banned modules that got loaded, as JSON.
DASHBOARD = r"""
import asyncio, json, sys

db, kdir, banned = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])

import catalyst_tui.cli.main  # the entry point (python -m catalyst_tui)
from catalyst_tui.service.identity import resolve_operator
from catalyst_tui.store.urls import open_store, reopen_store
from catalyst_tui.ui.app import CatalystApp, default_signer_factory, default_supervisor
from catalyst_tui.ui.config import UiConfig
from catalyst_tui.ui.fleet_state import FleetState
from catalyst_tui.ui.screens.fleet import FleetScreen
from catalyst_tui.ui.widgets.fleet_table import FleetTable

url = "sqlite://" + db


async def main() -> None:
    store = open_store(url, read_only=True)
    async with store:
        state = FleetState(store, kubeconfigs_dir=kdir)
        await state.poll(force=True)
        assert state.loaded and len(state.rows) == 9, (state.error, len(state.rows))
        assert reopen_store(store) is not None
        sup = default_supervisor(store, None, kubeconfigs_dir=kdir, operator=resolve_operator(), read_only=True,
                                 signer=default_signer_factory(None))
        assert type(sup).__name__ == "SupervisorThread", type(sup)
    app = CatalystApp(open_store(url, read_only=True), operator="alice", kubeconfigs_dir=kdir,
                      config=UiConfig(cursor_blink=False, animations=False))
    async with app.run_test(size=(120, 30)) as pilot:
        loop = asyncio.get_running_loop()
        end = loop.time() + 20
        while not (isinstance(app.screen, FleetScreen) and app.screen.query_one(FleetTable).row_count == 9):
            assert loop.time() < end, "the fleet never showed its 9 rows"
            await pilot.pause(0.02)
        await pilot.pause()
        loaded = [m for m in banned if m in sys.modules]
    print(json.dumps(loaded))


asyncio.run(main())
"""


@pytest.fixture(scope="module")
def fleet_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("lazy") / "fleet.db"
    asyncio.run(fleet.seed(db))
    return db


def loaded_before_the_first_paint(db: Path, modules: tuple[str, ...]) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", DASHBOARD, str(db), str(db.parent / "kubeconfigs"), json.dumps(modules)],
        capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_first_paint_loads_no_yaml_kubernetes_or_supervisor(fleet_db: Path) -> None:
    assert loaded_before_the_first_paint(fleet_db, NOT_BEFORE_THE_FIRST_PAINT) == []


def test_the_first_paint_loads_no_record_models(fleet_db: Path) -> None:
    assert loaded_before_the_first_paint(fleet_db, MODELS) == []


def assert_prints_ok(code: str) -> None:
    """Run ``code`` in a fresh interpreter (nothing imported yet): it must exit 0 printing ``ok``."""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip() == "ok"


def test_the_restart_rules_and_kubeconfig_import_no_models_and_no_yaml() -> None:
    """``domain.restart`` gated everything (every path imports it for ``kubeconfigs_dir_from_env``)."""
    code = (
        "import sys\n"
        "import catalyst_tui.domain.restart, catalyst_tui.kube.kubeconfig\n"
        "bad = [m for m in ('pydantic', 'catalyst_tui.domain.record_models', 'yaml', 'kubernetes_asyncio')\n"
        "       if m in sys.modules]\n"
        "assert not bad, bad\n"
        "print('ok')\n"
    )
    assert_prints_ok(code)


def test_the_supervisor_thread_imports_the_supervisor_only_when_needed() -> None:
    """``service.threaded`` (built by the dashboard before its first paint) leaves the supervisor's
    module to ``make_supervisor``; its names are still there, the same objects."""
    code = (
        "import sys\n"
        "import catalyst_tui.service.threaded as t\n"
        "assert 'catalyst_tui.service.supervisor' not in sys.modules\n"
        "from catalyst_tui.service.threaded import SupervisorError\n"
        "from catalyst_tui.service import supervisor\n"
        "assert SupervisorError is supervisor.SupervisorError and t.Supervisor is supervisor.Supervisor\n"
        "assert t.Progress is supervisor.Progress\n"
        "print('ok')\n"
    )
    assert_prints_ok(code)
