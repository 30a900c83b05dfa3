"""The detail screen: summary without secrets, restart decision, components and blockers, the
event log's filters, folding and live tail."""

from __future__ import annotations

from pathlib import Path

from catalyst_tui.domain.record import Event, Record
from catalyst_tui.store.sqlite import SQLiteStore
from catalyst_tui.ui.detail_model import EventFilter, blockers, component_views
from catalyst_tui.ui.screens.detail import DetailScreen
from catalyst_tui.ui.widgets.components_table import ComponentsTable
from catalyst_tui.ui.widgets.event_log import EventLog

from . import fleet
from .conftest import fleet_loaded, wait_for


def by_id(rid: str) -> Record:
    return next(r for r in fleet.fleet_records() if r.id == rid)


def test_component_views_and_blockers_from_the_record() -> None:
    views = component_views(by_id(fleet.WATCHING))
    states = {v.id: v.state for v in views}
    assert [v.id for v in views][:3] == ["cilium", "cert-manager", "flux"]
    assert states["openbao"] == "installing" and states["keycloak"] == "pending"
    b = blockers(views)
    assert b.first_not_ready == {"keycloak": "openbao", "gitea": "keycloak", "catalyst-platform": "keycloak"}
    assert b.roots == {"openbao"}
    failed = component_views(by_id(fleet.PLATFORM_FAILED))
    assert {v.id: v.state for v in failed}["catalyst-platform"] == "failed"


def test_a_failed_root_is_blocking() -> None:
    from catalyst_tui.ui.detail_model import ComponentView
    from catalyst_tui.ui.widgets.components_table import render_component

    views = [
        ComponentView("openbao", "failed", "InstallFailed", "boom", "", ("cert-manager",), True),
        ComponentView("cert-manager", "installed", "", "", "", (), True),
        ComponentView("keycloak", "pending", "", "", "", ("openbao", "cert-manager"), True),
    ]
    b = blockers(views)
    assert b.roots == {"openbao"} and b.first_not_ready == {"keycloak": "openbao"}
    cells = render_component(views[0], first_dep=None, root=True, states={v.id: v.state for v in views},
                             ascii_only=False, now=fleet.NOW)
    assert "◀ blocking" in cells["component"].plain


async def open_detail(pilot, rid: str) -> DetailScreen:  # noqa: ANN001
    app = pilot.app
    app.open_detail(rid)
    await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen) and app.screen.record is not None, what="the detail")
    await pilot.pause()
    return app.screen


def summary(screen: DetailScreen) -> str:
    from rich.console import Console

    console = Console(width=160, record=True, color_system=None)
    console.print(screen.query_one("#summary").content)
    return console.export_text()


async def test_summary_says_the_restart_decision_and_never_a_secret(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(110, 32)) as pilot:
        await fleet_loaded(pilot)
        screen = await open_detail(pilot, fleet.WATCHING)
        text = summary(screen)
        assert f"resumed: kubeconfig at {fleet.KUBECONFIGS}/{fleet.WATCHING}.yaml" in text
        assert "Acme Telecom · fsn1" in text and "ops@acme.example" in text
        for secret in ("<redacted>", "rsv_", "Bearer", "token="):
            assert secret not in text
        await pilot.press("escape")
        screen = await open_detail(pilot, fleet.STALE)
        text = summary(screen)
        assert "not resumed: no kubeconfig" in text and "stale" in text
        await pilot.press("escape")
        screen = await open_detail(pilot, fleet.READY_FIRED)
        text = summary(screen)
        assert "fired 2026-05-04 09:31:12Z" in text and "SECRET" not in text
        log = screen.query_one(EventLog)
        assert all("SECRET" not in str(line.text) for line in log.lines)
        assert any("token hidden" in line.text for line in log.lines)
        await pilot.press("escape")
        screen = await open_detail(pilot, fleet.HOSTILE)
        text = summary(screen)
        assert fleet.HOSTILE_ORG in text and "\\x1b[31mred" in text
        assert "Phase 0 (OpenTofu) is in flight" in str(screen.query_one("#components-state").render())


async def test_components_table_marks_the_blocker_and_starts_on_it(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(110, 32)) as pilot:
        await fleet_loaded(pilot)
        screen = await open_detail(pilot, fleet.WATCHING)
        table = screen.query_one(ComponentsTable)
        assert table.row_count == 11
        assert table.selected_component() == "openbao"
        assert "◀ awaited" in table.get_cell("openbao", "component").plain  # progressing, not stuck
        assert table.get_cell("keycloak", "depends").plain.startswith("▸openbao")
        head = str(screen.query_one("#components-head").render())
        assert "7/11 installed" in head and "waiting on: openbao" in head
        assert "waits for" not in str(screen.query_one("#component-detail").render())
        await pilot.press("down")
        assert "waits for openbao" in str(screen.query_one("#component-detail").render())


async def test_event_log_filters_fold_and_component_select(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(110, 32)) as pilot:
        await fleet_loaded(pilot)
        screen = await open_detail(pilot, fleet.WATCHING)
        log = screen.query_one(EventLog)
        lines = lambda: [line.text for line in log.lines]  # noqa: E731
        assert any("⋯ 2 helm-controller log lines (cert-manager)" in line for line in lines())
        assert not any("helm-log" in line for line in lines())
        await pilot.press("F")
        assert any("helm-log" in line and "running install" in line for line in lines())
        await pilot.press("F", "L")  # warn and above
        assert log.filter == EventFilter(level="warn")
        assert [line for line in lines() if "──" not in line and line.strip()] == [
            line for line in lines() if "watcher-reconnecting" in line
        ]
        await pilot.press("L", "L")  # error, then all again
        assert log.filter == EventFilter()
        await pilot.press("P")
        assert log.filter.phase == "tofu-init"
        assert all("tofu-init" in line for line in lines() if line.strip() and "──" not in line)
        for _ in range(20):  # through every phase, back to all
            screen.action_cycle_phase()
            if log.filter.phase is None:
                break
        assert log.filter.phase is None
        await pilot.press("C")
        assert log.filter.component == "cilium"
        await pilot.press("C")
        assert log.filter.component == "cert-manager"
        await pilot.press("enter")  # enter on the highlighted component (openbao) filters to it
        assert log.filter.component == "openbao"
        assert "component: openbao" in str(screen.query_one("#events-head").render())
        await pilot.press("enter")
        assert log.filter.component is None


async def test_live_tail_appends_without_rebuilding(make_app, fleet_db: Path) -> None:
    app = make_app()
    async with app.run_test(size=(110, 32)) as pilot:
        await fleet_loaded(pilot)
        screen = await open_detail(pilot, fleet.WATCHING)
        log = screen.query_one(EventLog)
        renders, count = log.renders, len(log.events)
        other = SQLiteStore(fleet_db)
        await other.open()
        try:
            await other.append_events(fleet.WATCHING, [
                Event.make("component", "info", "Helm install succeeded", at=fleet.NOW, component="openbao", state="installed"),
                Event.make("component", "info", "Helm install in progress", at=fleet.NOW, component="keycloak", state="installing"),
            ])
        finally:
            await other.close()
        await wait_for(pilot, lambda: len(log.events) == count + 2, timeout=3, what="the new events")
        await pilot.pause()
        assert log.renders == renders
        assert "keycloak" in log.lines[-1].text and "installing" in log.lines[-1].text
        table = screen.query_one(ComponentsTable)
        assert "installed" in table.get_cell("openbao", "state").plain
        assert "8/11 installed" in str(screen.query_one("#components-head").render())
        assert table.roots == {"keycloak"}


async def test_zoom_back_and_a_missing_record(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await fleet_loaded(pilot)
        screen = await open_detail(pilot, fleet.WATCHING)
        await pilot.press("tab")  # focus the event log
        await pilot.press("z")
        assert screen.maximized is screen.query_one(EventLog)
        await pilot.press("escape")
        assert screen.maximized is None and isinstance(app.screen, DetailScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen.__class__.__name__ == "FleetScreen"
        # A record that is not (or no longer) in the store: an error state, not a crash.
        app.open_detail("ffffffffffffffff")
        await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen) and app.screen.error == "gone", what="the error")
        assert "no longer in the store" in str(app.screen.query_one("#detail-state").render())


