"""The dashboard with the real supervisor, watching simulated clusters over loopback (the
kubernetes-asyncio client against the Kubernetes API simulator): live rows, a cluster that goes
away while the rest of the fleet goes on, stop / reattach / take-over from the keyboard."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from catalyst_tui.domain.outcome import Phase1Config
from catalyst_tui.domain.record import GO_ZERO_TIME, Record
from catalyst_tui.kube.simulator import KubeSimulator
from catalyst_tui.kube.watcher import WatchConfig
from catalyst_tui.service.supervisor import Supervisor
from catalyst_tui.store.sqlite import SQLiteStore
from catalyst_tui.ui.app import CatalystApp
from catalyst_tui.ui.modals.confirm import ConfirmModal, MessageModal
from catalyst_tui.ui.screens.detail import DetailScreen
from catalyst_tui.ui.widgets.components_table import ComponentsTable
from catalyst_tui.ui.widgets.fleet_table import FleetTable

from . import fleet
from .conftest import fleet_loaded, ui_config, wait_for

SPEED = 40.0  # the ~60 s install plays in about 1.5 s
FAST_WATCH = WatchConfig(timeout_seconds=2, connect_timeout=1.0, read_grace=0.5, list_timeout=2.0,
                         backoff_initial=0.05, backoff_max=0.3, error_retry=0.3)
FAST_PHASE1 = Phase1Config(min_components=11, late_poll_timeout=3.0, watch_timeout=30.0, first_seen_timeout=5.0)

LIVE_A = "aa00000000000001"
LIVE_B = "bb00000000000002"


def record(rid: str, sub: str, kubeconfig: Path) -> Record:
    fqdn = f"{sub}.omani.works"
    return Record.model_validate({
        "id": rid, "status": "phase1-watching",
        "request": {"orgName": sub.title(), "orgEmail": f"ops@{sub}.example", "sovereignFQDN": fqdn, "region": "fsn1"},
        "result": {"sovereignFQDN": fqdn, "consoleURL": f"https://console.{fqdn}", "kubeconfigPath": str(kubeconfig)},
        "startedAt": "2026-05-04T09:00:00Z", "finishedAt": GO_ZERO_TIME,
        "events": [{"time": "2026-05-04T09:07:40Z", "phase": "flux-bootstrap", "level": "info", "message": "bootstrapped"}],
    })


@pytest.fixture
async def sim():  # noqa: ANN201
    async with KubeSimulator(speed=SPEED) as s:
        yield s


async def live_app(tmp_path: Path, sim: KubeSimulator, signer_factory: Any, *, clusters: dict[str, str]) -> tuple[CatalystApp, Path]:
    kdir = tmp_path / "kubeconfigs"
    kdir.mkdir()
    db = tmp_path / "live.db"
    recs = []
    for rid, sub in clusters.items():
        sim.add_cluster(rid)
        path = sim.write_kubeconfig(rid, kdir / f"{rid}.yaml")
        recs.append(record(rid, sub, path))
    await fleet.seed(db, recs)
    store = SQLiteStore(db)
    sup = Supervisor(store, holder="alice@test", kubeconfigs_dir=str(kdir), signer=signer_factory, phase1=FAST_PHASE1,
                     watch=FAST_WATCH, lease_ttl=3.0, flush_interval=0.1, tick_interval=0.05, observe_check_interval=0.2)
    app = CatalystApp(store, supervisor=sup, operator="alice", config=ui_config(), signer=signer_factory,
                      kubeconfigs_dir=str(kdir), store_label="sqlite:///live.db")
    return app, db


def cell(app: CatalystApp, rid: str, col: str) -> str:
    return app.screen.query_one(FleetTable).get_cell(rid, col).plain


async def test_rows_follow_live_watchers_and_a_lost_cluster_does_not_stop_the_rest(
    tmp_path: Path, sim: KubeSimulator, signer_factory: Any
) -> None:
    app, db = await live_app(tmp_path, sim, signer_factory, clusters={LIVE_A: "alpha", LIVE_B: "bravo"})
    async with app.run_test(size=(110, 30)) as pilot:
        await fleet_loaded(pilot, rows=2)
        await wait_for(pilot, lambda: cell(app, LIVE_A, "watcher") == "watching" and cell(app, LIVE_B, "watcher") == "watching",
                       timeout=10, what="both watchers to connect")
        table = app.screen.query_one(FleetTable)
        sim.cluster(LIVE_B).set_unreachable(True)
        sim.play(LIVE_A, "install")
        await wait_for(pilot, lambda: cell(app, LIVE_B, "watcher").startswith("reconnecting"), timeout=10,
                       what="bravo to show it lost its cluster")
        # The lost cluster needs attention: it moves above the healthy watch.
        assert table.keys_in_order()[0] == LIVE_B
        assert "ago" in cell(app, LIVE_B, "last_event") or cell(app, LIVE_B, "last_event") == "—"
        await wait_for(pilot, lambda: "ready" in cell(app, LIVE_A, "status"), timeout=15, what="alpha to install and turn ready")
        assert cell(app, LIVE_A, "progress").startswith("11/11")
        await wait_for(pilot, lambda: cell(app, LIVE_A, "handover").endswith("fired"), timeout=5, what="the auto-fired handover")
        assert table.clear_count == 0
        # Back online: bravo watches again.
        sim.cluster(LIVE_B).set_unreachable(False)
        await wait_for(pilot, lambda: cell(app, LIVE_B, "watcher") == "watching", timeout=10, what="bravo to reconnect")
        # The detail of a live Sovereign shows the live Ready view.
        sim.play(LIVE_B, "fail")
        app.open_detail(LIVE_B)
        await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen) and app.screen.record is not None, what="detail")
        await wait_for(pilot, lambda: "catalyst-platform" in app.screen.query_one(ComponentsTable).views
                       and app.screen.query_one(ComponentsTable).views["catalyst-platform"].state == "failed",
                       timeout=15, what="the failed component")
        view = app.screen.query_one(ComponentsTable).views["catalyst-platform"]
        assert view.live and view.reason == "InstallFailed"
        assert "live" in str(app.screen.query_one("#components-head").render())
    assert not app._supervisor_started  # stopped with the app


async def test_stop_reattach_and_take_over_from_the_keyboard(tmp_path: Path, sim: KubeSimulator, signer_factory: Any) -> None:
    app, db = await live_app(tmp_path, sim, signer_factory, clusters={LIVE_A: "alpha"})
    async with app.run_test(size=(110, 30)) as pilot:
        await fleet_loaded(pilot, rows=1)
        await wait_for(pilot, lambda: cell(app, LIVE_A, "watcher") == "watching", timeout=10, what="the watcher")
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal), what="the confirmation")
        await pilot.press("n")  # cancelled: nothing happens
        await pilot.pause()
        assert cell(app, LIVE_A, "watcher") == "watching"
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal), what="the confirmation")
        await pilot.press("y")
        await wait_for(pilot, lambda: cell(app, LIVE_A, "watcher") == "done", timeout=5, what="the stopped watcher")
        await pilot.press("x")  # nothing to stop: said so
        await wait_for(pilot, lambda: isinstance(app.screen, MessageModal), what="the message")
        assert "no watcher is running" in str(app.screen.query_one(".dialog-body").render())
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("w")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal), what="the confirmation")
        await pilot.press("y")
        await wait_for(pilot, lambda: cell(app, LIVE_A, "watcher") == "watching", timeout=10, what="the reattached watcher")
        await pilot.press("t")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal), what="the confirmation")
        await pilot.press("y")
        await pilot.pause(0.3)
        store = SQLiteStore(db, read_only=True)
        await store.open()
        try:
            actions = [a.action for a in await store.audit_list(LIVE_A)]
        finally:
            await store.close()
        assert "stop-watcher" in actions and "reattach" in actions
