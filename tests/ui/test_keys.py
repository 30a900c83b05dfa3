"""Keys: every binding has an id, the config file remaps them, the help screen lists them all, the
command palette offers every action, the audit screen shows what was done."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
from textual.widgets import Input

from catalyst_tui.store.base import AuditEntry
from catalyst_tui.store.sqlite import SQLiteStore
from catalyst_tui.ui import keymap
from catalyst_tui.ui.commands import commands_for
from catalyst_tui.ui.config import CONFIG_ENV, load_config
from catalyst_tui.ui.modals.patch_status import PatchStatusModal
from catalyst_tui.ui.screens.audit import AuditScreen
from catalyst_tui.ui.screens.fleet import FleetScreen
from catalyst_tui.ui.screens.help import HelpScreen

from . import fleet
from .conftest import fleet_loaded, plain, ui_config, wait_for


def test_every_binding_has_an_id_and_ids_are_consistent() -> None:
    seen: dict[str, keymap.ActionSpec] = {}
    for spec in keymap.ACTIONS:
        assert spec.id and spec.help and spec.description
        if spec.id in seen:
            # The same id on two screens is the same action (one keymap entry remaps both).
            assert seen[spec.id].action == spec.action and seen[spec.id].key == spec.key
        seen[spec.id] = spec
    for scope in keymap.SCOPES:
        keys = [s.key for s in keymap.specs(scope)]
        assert len(keys) == len(set(keys)), f"duplicate key in {scope}"


def test_config_file_keymap_and_warnings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[keymap]\npatch-status = "ctrl+e"\nno-such-binding = "x"\nhandover = 3\n[ui]\nascii = true\npoll_interval = 100\n')
    monkeypatch.setenv(CONFIG_ENV, str(path))
    cfg = load_config()
    assert cfg.keymap == {"patch-status": "ctrl+e"}
    assert cfg.ascii is True and cfg.poll_interval == 1.0
    assert any("no-such-binding" in w for w in cfg.warnings)
    assert any("handover" in w for w in cfg.warnings)
    assert any("poll_interval" in w for w in cfg.warnings)
    path.write_text("[keymap\n")
    broken = load_config()
    assert broken.keymap == {} and "not valid TOML" in broken.warnings[0]
    missing = load_config(tmp_path / "nope.toml")
    assert missing.warnings == [] and missing.keymap == {}


async def test_remapped_key_opens_the_action_and_the_old_key_does_not(make_app) -> None:
    app = make_app(config=ui_config(keymap={"patch-status": "ctrl+e", "help": "f1"}))
    async with app.run_test(size=(120, 36)) as pilot:
        await fleet_loaded(pilot, rows=9)
        await pilot.press("p")
        await pilot.pause()
        assert isinstance(app.screen, FleetScreen)
        await pilot.press("ctrl+e")
        await wait_for(pilot, lambda: isinstance(app.screen, PatchStatusModal), what="the patch dialog")
        await pilot.press("escape", "f1")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), what="help on f1")
        body = plain(app.screen.query_one("#help-table"))
        assert "ctrl+e" in body and "f1" in body


def test_palette_offers_every_action_of_each_screen() -> None:
    for scope in ("fleet", "detail", "audit"):
        ids = {spec.id for spec, _ in commands_for(scope, {})}
        expected = {s.id for s in keymap.ACTIONS if s.scope in ("app", scope)} - {"command-palette"}
        assert ids == expected


async def test_palette_runs_an_action(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await fleet_loaded(pilot, rows=9)
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"patch")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, PatchStatusModal), what="the patch dialog from the palette")


async def add_audit(db: Path) -> None:
    store = SQLiteStore(db)
    await store.open()
    try:
        for i, (action, rid, before, after, reason) in enumerate([
            ("rehydrate", fleet.ABANDONED, "tofu-applying", "failed", "restart rules: not resumed: Phase 0 was in flight"),
            ("patch-status", fleet.READY_FIRED, "failed", "ready", "components verified by hand after the pod roll"),
            ("handover", fleet.READY_FIRED, "ready", "ready", "manual handover"),
        ]):
            await store.audit_append(AuditEntry(f"2026-05-04T09:{40 + i}:00Z", "bob@203.0.113.7", action, rid, before, after, reason,
                                                {"store": "sqlite"} if action == "patch-status" else {}))
    finally:
        await store.close()


async def test_audit_screen_lists_and_follows(make_app, fleet_db: Path) -> None:
    await add_audit(fleet_db)
    app = make_app()
    async with app.run_test(size=(110, 30)) as pilot:
        await fleet_loaded(pilot)
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, AuditScreen) and app.screen.loaded, what="the audit log")
        screen = app.screen
        table = screen.query_one("#audit-table")
        assert table.row_count == 3 and table.cursor_row == 2
        assert "manual handover" in str(screen.query_one("#audit-detail").render())
        await pilot.press("up")
        assert '"store": "sqlite"' in str(screen.query_one("#audit-detail").render())
        # A patch made elsewhere shows up.
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "catalyst_tui", "--store", f"sqlite://{fleet_db}",
            "--operator", "carol", "patch-status", fleet.TOFU, "--to", "failed", "--reason", "tofu died",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )
        assert await proc.wait() == 0
        await wait_for(pilot, lambda: table.row_count == 4, timeout=3, what="the new audit entry")
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, FleetScreen)


async def test_help_lists_every_key_filter_takes_letters_and_empty_audit(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(160, 80)) as pilot:
        await fleet_loaded(pilot, rows=9)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), what="help")
        body = plain(app.screen.query_one("#help-table"))
        for spec in keymap.ACTIONS:
            assert spec.id in body, spec.id
            assert spec.description in body
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, FleetScreen)
        # Letters that are keys elsewhere go into the filter while it has focus.
        await pilot.press("slash", *"hpq")
        await pilot.pause()
        assert app.screen.query_one("#filter", Input).value == "hpq"
        assert isinstance(app.screen, FleetScreen) and app.is_running
        await pilot.press("escape", "a")
        await wait_for(pilot, lambda: isinstance(app.screen, AuditScreen) and app.screen.loaded, what="the audit log")
        assert "No operator actions recorded yet" in str(app.screen.query_one("#audit-state").render())
