"""Terminal injection, dashboard part (issue 6, item 6).

Hostile text reaches the dashboard from every source it shows: the record (org name, FQDN, owner
email, error, event messages, even the record id), a live cluster (a HelmRelease's Ready condition
reason and message, set through the simulator and read by the real watcher), and the operator
(the ``--operator`` name and a patch reason, which go into the title bar and the audit log).
The payloads are Rich markup (``[bold red]x[/]``, ``[@click=app.quit]quit[/]``, ``[link=...]``),
ANSI CSI/OSC (``ESC[2J``, OSC 52 clipboard write, OSC 0 title), 8-bit C1 (CSI U+009B, OSC U+009D),
C0 controls and bidi overrides/isolates.

On every screen (fleet, detail with its components and event log, JSON view, audit log, the patch,
handover and confirmation dialogs, toasts) the rendered frame is checked:

* the markup is shown literally (``[@click=app.quit]quit[/]`` is text on the screen);
* no segment of the frame carries a link or an ``@click`` action, and clicking on the hostile text
  does nothing (the app is still running; a control shows the same click does run a real
  ``@click`` action);
* no ESC, C0 (but tab/newline), DEL, C1 or bidi control reaches the frame (they are shown as
  ``\\x1b``, ``\\u202e``...), in the compositor's segments and in the SVG screenshot.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input, Select, Static

from catalyst_tui.domain.outcome import Phase1Config
from catalyst_tui.domain.statuses import BOOTSTRAP_KIT
from catalyst_tui.kube.simulator import KubeSimulator, helmrelease, set_ready
from catalyst_tui.kube.watcher import WatchConfig
from catalyst_tui.service.supervisor import Supervisor
from catalyst_tui.store.sqlite import SQLiteStore
from catalyst_tui.ui.modals.confirm import ConfirmModal
from catalyst_tui.ui.modals.handover import HandoverModal
from catalyst_tui.ui.modals.json_view import JsonViewModal
from catalyst_tui.ui.modals.patch_status import PatchStatusModal
from catalyst_tui.ui.screens.audit import AuditScreen
from catalyst_tui.ui.screens.detail import DetailScreen
from catalyst_tui.ui.screens.fleet import FleetScreen
from catalyst_tui.ui.widgets.components_table import ComponentsTable
from catalyst_tui.ui.widgets.fleet_table import FleetTable

from .dashboard_support import MeasuredApp, assert_inert, click_at, press, settle, finished, screen_render, seed_sqlite, sovereign, svg_text, ui_config
from .support import first_unsafe

CLICK = "[@click=app.quit]quit[/]"
BOLD = "[bold red]x[/]"
LINK = "[link=https://evil.example]click[/link]"
OSC52 = "\x1b]52;c;ZXZpbA==\x07"
ORG = f"{BOLD} {OSC52}"
FQDN = f"{CLICK}\u202eevil"
EMAIL = f"{BOLD}\x9b2J@evil.example"
ERROR = f"\x1b[2J\x9b31m{CLICK} {LINK} \u2066iso\u2069 \x00\x08\x7f end"
EVENT = f"{CLICK} \x1b[31mred\x1b[0m \x1b]0;title\x1b\\ \x9d0;t\x9c {LINK} \u202eevil\u202c"
HR_REASON = "[@click=app.quit]R[/]"
HR_MESSAGE = f"{CLICK} Helm install failed \x1b]52;c;ZXZpbA==\x07 \x9b2J {BOLD}"
OPERATOR = f"[bold]op[/]\x1b]0;pwned\x07\u202e"
REASON = f"{CLICK} because [link=https://evil.example]x[/link]"

LIVE = "1a1e0000000000a1"      # phase1-watching, watched live: the HelmRelease text comes from the cluster
READY = "1a1e0000000000a2"     # ready, hostile FQDN and owner: the handover dialog shows them
ESC_ID = "\x1b[2J\x1b]52;c;ZXZpbA==\x07id\u202e"  # even the id is data

#: What must be visible literally somewhere on the screen (sanitized form of the payloads).
VISIBLE_ESC = "\\x1b"


def hostile_records(kubeconfig: Path) -> list[Any]:
    events = [
        {"time": "2026-05-04T09:08:02Z", "phase": "component", "level": "error", "message": EVENT,
         "component": "cilium", "state": "failed"},
        {"time": "2026-05-04T09:08:03Z", "phase": "tofu", "level": "warn", "message": EVENT},
        {"time": "2026-05-04T09:08:04Z", "phase": "component-log", "level": "info", "component": "cilium",
         "message": '{"level":"info","msg":"' + CLICK + ' \\u001b[2J"}'},
    ]
    live = sovereign(LIVE, "live", kubeconfig=kubeconfig, org=ORG, fqdn=FQDN, email=EMAIL, error=ERROR,
                     ownerEmail=EMAIL, events=events)
    ready = finished(READY, "ready")
    ready = ready.model_copy(update={"request": ready.request.model_copy(update={"orgName": ORG, "sovereignFQDN": FQDN}),
                                     "ownerEmail": EMAIL, "error": ERROR})
    esc = sovereign(ESC_ID, "escid", status="failed", org=ORG, error=ERROR, events=events)
    return [live, ready, esc, finished("1a1e0000000000a4", "plain")]


@pytest.fixture
async def sim():  # noqa: ANN201
    async with KubeSimulator(speed=40.0) as s:
        yield s


async def build(tmp_path: Path, sim: KubeSimulator) -> tuple[MeasuredApp, Path]:
    kdir = tmp_path / "kubeconfigs"
    sim.add_cluster(LIVE)
    kc = sim.write_kubeconfig(LIVE, kdir / f"{LIVE}.yaml")
    c = sim.cluster(LIVE)
    for comp in BOOTSTRAP_KIT:
        c.apply(set_ready(helmrelease(f"bp-{comp}"), "True", "InstallSucceeded", "Helm install succeeded"))
    c.set_condition("bp-cilium", "False", HR_REASON, HR_MESSAGE)
    db = tmp_path / "fleet.db"
    await seed_sqlite(db, hostile_records(kc))
    store = SQLiteStore(db)

    def signer() -> Any:
        from catalyst_tui.handover.keys import HandoverSigner

        return HandoverSigner.load_or_generate(tmp_path / "handover" / "key.pem")

    sup = Supervisor(store, holder="op@inj", kubeconfigs_dir=str(kdir), signer=signer,
                     phase1=Phase1Config(late_poll_timeout=600, watch_timeout=600, first_seen_timeout=600),
                     watch=WatchConfig(timeout_seconds=2, connect_timeout=1.0, read_grace=0.5, backoff_initial=0.05,
                                       backoff_max=0.3, error_retry=0.5),
                     lease_ttl=3.0, flush_interval=0.1, tick_interval=0.05)
    app = MeasuredApp(store, supervisor=sup, operator=OPERATOR, config=ui_config(), signer=signer,
                      kubeconfigs_dir=str(kdir), store_label="sqlite:///inj.db")
    return app, db


async def until(pilot: Any, cond: Any, what: str, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        if loop.time() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.05)
    await pilot.pause()


async def check(app: MeasuredApp, what: str, *literal: str) -> str:
    """The frame is inert and shows ``literal`` texts as they are; returns its text."""
    await settle(app)
    render = screen_render(app)
    assert_inert(render, what)
    text = render.text
    for needle in literal:
        assert needle in text, f"{what}: {needle!r} not shown literally:\n{text}"
    svg = app.export_screenshot()
    assert first_unsafe(svg.replace("\n", " ")) is None, f"{what}: SVG carries {first_unsafe(svg)}"
    for needle in literal:
        assert needle in svg_text(svg), f"{what}: {needle!r} not in the SVG text"
    return text


async def paste(pilot: Any, app: MeasuredApp, text: str) -> None:
    """What the terminal driver posts for a bracketed paste, to the focused widget."""
    from textual import events

    assert app.focused is not None
    app.focused.post_message(events.Paste(text))
    await pilot.pause()


async def click_on(pilot: Any, app: MeasuredApp, needle: str, what: str) -> None:
    """Click on ``needle`` wherever the screen shows it (first place on each line, every widget
    showing it: summary, table cells, the event log); the app must go on running."""
    screen = app.screen
    places = screen_render(app).find_all(needle)
    assert places, f"{what}: {needle!r} not on the screen"
    for x, y in places:
        if app.screen is not screen:
            break  # a click opened something (a row's detail): that is a click on a row, fine
        await click_at(app, x, y)
        await pilot.pause(0.05)
        assert app.return_code is None and app.is_running, f"{what}: clicking {needle!r} at {(x, y)} ended the app"


async def test_hostile_text_is_inert_on_every_screen(tmp_path: Path, sim: KubeSimulator) -> None:
    app, db = await build(tmp_path, sim)
    async with app.run_test(size=(160, 45), notifications=True, tooltips=True) as pilot:
        await until(pilot, lambda: app.fleet.loaded and isinstance(app.screen, FleetScreen)
                    and app.screen.query_one(FleetTable).row_count == 4, "the fleet")
        await until(pilot, lambda: LIVE in app.supervisor.statuses() and app.supervisor.statuses()[LIVE].synced, "the watcher")

        # --- fleet (title bar: the operator) ---
        text = await check(app, "fleet", BOLD, CLICK[:20], VISIBLE_ESC, "operator [bold]op[/]\\x1b]0;pwned\\x07\\u202e")
        assert "\\u202e" in text or "\\u20…" in text
        await click_on(pilot, app, CLICK[:10], "fleet FQDN cell")
        await click_on(pilot, app, BOLD, "fleet org cell")
        if not isinstance(app.screen, FleetScreen):  # a click on the selected row opens it
            await press(app, "escape", lambda: isinstance(app.screen, FleetScreen), "back to the fleet")

        # --- detail of the live Sovereign: summary, live components (the cluster's text), event log ---
        app.open_detail(LIVE)
        await until(pilot, lambda: isinstance(app.screen, DetailScreen) and app.screen.record is not None
                    and "cilium" in app.screen.query_one(ComponentsTable).views
                    and app.screen.query_one(ComponentsTable).views["cilium"].live, "the live detail")
        table = app.screen.query_one(ComponentsTable)
        table.move_cursor(row=table.get_row_index("cilium"), animate=False)
        await pilot.pause()
        detail = str(app.screen.query_one("#component-detail", Static).render())
        assert HR_REASON in detail and CLICK in detail and "\\x1b]52;c;ZXZpbA==\\x07" in detail and "\\x9b2J" in detail
        text = await check(app, "detail", "Sovereign [@click=app.quit]quit[/]\\u202eevil", HR_REASON, CLICK, BOLD,
                     "\\x1b[31mred\\x1b[0m", "[link=https://evil.example]click[/link]")
        # The watcher wrote the cluster's text into the event log too (after a reload of the record).
        await until(pilot, lambda: any(HR_MESSAGE in e.message for e in (app.screen.record.event_list() or [])),
                    "the watcher's event in the record", timeout=15)
        await check(app, "detail after the watcher's events", "Helm install failed \\x1b]52")
        await click_on(pilot, app, HR_REASON, "components table reason")
        await click_on(pilot, app, CLICK, "event log / components message")
        assert isinstance(app.screen, DetailScreen)

        # --- JSON view ---
        await press(app, "y", lambda: isinstance(app.screen, JsonViewModal) and app.screen.query_one("#json-text").display, "JSON")
        await check(app, "JSON view", CLICK, BOLD)
        await press(app, "escape", lambda: isinstance(app.screen, DetailScreen), "back to the detail")

        # --- confirmation dialog names the Sovereign by its FQDN ---
        await press(app, "w", lambda: isinstance(app.screen, ConfirmModal), "the reattach confirmation")
        await check(app, "confirm dialog", "[@click=app.quit]quit[/]\\u202eevil")
        await click_on(pilot, app, CLICK[:10], "confirm dialog body")
        await press(app, "n", lambda: isinstance(app.screen, DetailScreen), "back to the detail")

        # --- patch dialog: hostile FQDN in the title, the operator and a hostile reason in the preview ---
        await press(app, "p", lambda: isinstance(app.screen, PatchStatusModal) and app.screen.version is not None, "patch")
        modal = app.screen
        modal.query_one("#patch-target", Select).value = "failed"
        await paste(pilot, app, REASON)  # the operator pastes a reason copied from somewhere
        await check(app, "patch dialog", "[@click=app.quit]quit[/]\\u202eevil", "[bold]op[/]\\x1b]0;pwned\\x07")
        await press(app, "ctrl+s", lambda: isinstance(app.screen, DetailScreen), "the patch to apply")
        await until(pilot, lambda: "(audited)" in screen_render(app).text, "the patch toast")
        await check(app, "detail with the patch toast", "(audited)", "Status patched")
        await press(app, "escape", lambda: isinstance(app.screen, FleetScreen), "back to the fleet")

        # --- a record whose very id is hostile: detail and JSON view ---
        app.open_detail(ESC_ID)
        await until(pilot, lambda: isinstance(app.screen, DetailScreen) and app.screen.record is not None, "the ESC-id detail")
        await check(app, "detail of the hostile id", "\\x1b[2J\\x1b]52;c;ZXZpbA==\\x07id")
        await press(app, "y", lambda: isinstance(app.screen, JsonViewModal) and app.screen.query_one("#json-text").display, "JSON")
        await check(app, "JSON view of the hostile id")
        await press(app, "escape", lambda: isinstance(app.screen, DetailScreen), "back")
        await press(app, "escape", lambda: isinstance(app.screen, FleetScreen), "back to the fleet")

        # --- handover dialog: FQDN and owner lines, the refusal reasons ---
        table = app.screen.query_one(FleetTable)
        table.move_cursor(row=table.get_row_index(READY), animate=False)
        await press(app, "h", lambda: isinstance(app.screen, HandoverModal) and app.screen.record is not None, "handover checks")
        await check(app, "handover dialog", "[@click=app.quit]quit[/]\\u202eevil", "[bold red]x[/]\\x9b2J@evil.example")
        await click_on(pilot, app, CLICK[:10], "handover dialog")
        await press(app, "escape", lambda: isinstance(app.screen, FleetScreen), "back to the fleet")

        # --- audit log: the operator's name and reason ---
        await press(app, "a", lambda: isinstance(app.screen, AuditScreen) and app.screen.loaded, "the audit log")
        audit = app.screen
        audit.query_one("#audit-table").move_cursor(row=0, animate=False)
        await pilot.pause()
        await check(app, "audit log", "[bold]op[/]\\x1b]0;pwned\\x07", f"{CLICK} because [link=https://evil.example]")
        await click_on(pilot, app, CLICK[:10], "audit reason")
        await press(app, "escape", lambda: isinstance(app.screen, FleetScreen), "back to the fleet")

        # Control: the same click on a real @click action does run it (so the clicks above would
        # have quit the app had any of that markup been parsed).
        control = Static("[@click=app.notify('control-click')]CONTROL-CLICK[/]", markup=True, id="control")
        await app.screen.mount(control, before=0)
        await pilot.pause()
        assert any(t == "CONTROL-CLICK" and "@click" in a for t, a in screen_render(app).actions())
        await click_on(pilot, app, "CONTROL-CLICK", "the control")
        await pilot.pause()
        assert any(n.message == "control-click" for n in app._notifications), "the control click did not run its action"
        await control.remove()
    assert app.return_code in (None, 0)

    # The operator's hostile name and reason were stored as data, unchanged.
    async with SQLiteStore(db, read_only=True) as ro:
        entries = await ro.audit_list()
    assert [(e.operator, e.reason) for e in entries if e.action == "patch-status"][0] == (OPERATOR, REASON)


async def plain_app(tmp_path: Path, *, read_only: bool = False) -> MeasuredApp:
    """The dashboard on the hostile records, without watchers."""
    db = tmp_path / "plain.db"
    await seed_sqlite(db, hostile_records(tmp_path / "kubeconfigs" / f"{LIVE}.yaml"))
    return MeasuredApp(SQLiteStore(db, read_only=read_only), read_only=read_only, operator=OPERATOR, config=ui_config(),
                       kubeconfigs_dir=str(tmp_path / "kubeconfigs"), store_label="sqlite:///plain.db")


async def test_the_patch_toast_naming_a_hostile_id_is_inert(tmp_path: Path) -> None:
    """After a patch, the toast names the record by its id: a hostile id must not reach the
    terminal as ESC[2J + an OSC 52 clipboard write (ui/modals/patch_status.py notify)."""
    app = await plain_app(tmp_path)
    async with app.run_test(size=(160, 45), notifications=True) as pilot:
        await until(pilot, lambda: app.fleet.loaded and isinstance(app.screen, FleetScreen)
                    and app.screen.query_one(FleetTable).row_count == 4, "the fleet")
        app.open_detail(ESC_ID)
        await until(pilot, lambda: isinstance(app.screen, DetailScreen) and app.screen.record is not None, "the detail")
        await press(app, "p", lambda: isinstance(app.screen, PatchStatusModal) and app.screen.version is not None, "patch")
        app.screen.query_one("#patch-target", Select).value = "ready"
        app.screen.query_one("#patch-reason", Input).value = "plain reason"
        await press(app, "ctrl+s", lambda: isinstance(app.screen, DetailScreen) and "Status patched" in screen_render(app).text,
                    "the patch toast")
        await check(app, "the toast naming the hostile id", "Status patched", "(audited)")


async def test_pasted_control_characters_are_not_echoed_raw(tmp_path: Path) -> None:
    """An operator pastes text copied from a web page or a log into the filter and the patch
    reason: the text inputs must not echo ESC/C1/bidi controls to the terminal."""
    payload = f"acme{OSC52}\x1b[2J\x9b31m\u202e"
    app = await plain_app(tmp_path)
    async with app.run_test(size=(160, 45)) as pilot:
        await until(pilot, lambda: app.fleet.loaded and isinstance(app.screen, FleetScreen)
                    and app.screen.query_one(FleetTable).row_count == 4, "the fleet")
        await press(app, "slash", lambda: isinstance(app.focused, Input), "the filter input")
        await paste(pilot, app, payload)
        await check(app, "the fleet filter after a paste")
        await pilot.press("escape")
        await press(app, "escape", lambda: isinstance(app.screen, FleetScreen), "the fleet")
        table = app.screen.query_one(FleetTable)
        table.move_cursor(row=table.get_row_index(READY), animate=False)
        await press(app, "p", lambda: isinstance(app.screen, PatchStatusModal) and app.screen.version is not None, "patch")
        app.screen.query_one("#patch-reason", Input).focus()
        await paste(pilot, app, payload)
        await check(app, "the patch reason after a paste")
