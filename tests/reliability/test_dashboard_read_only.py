"""Read-only mode, dashboard part (issue 6, item 8).

The mutating actions come from the UI's own table (:data:`catalyst_tui.ui.keymap.ACTIONS`, each
with ``mutating``), so a new one cannot be forgotten; every other binding declared anywhere in the
UI package (screens, dialogs, the app) must be either in that table or a dialog-internal binding
classified below, and every system command of the palette must be known: anything unclassified
fails :func:`test_every_binding_and_palette_command_is_classified`.

In ``--read-only`` (a read-only SQLite store, a read-only supervisor watching a live Sovereign
through the simulator while it installs), each mutating action, on every screen where it is
bound, reached:

* by its key (the effective key, remappable in the config: one is remapped here),
* by the command palette (ctrl+p, its title typed, enter),
* by a mouse click on its footer key (for the ones the footer shows),

shows the refusal on screen ("Refused: read-only mode", naming the action and "nothing was
written"), never the dialog that would write. Afterwards the store is byte-identical: a full SQL
dump of every table (records, events, audit, leases) and the database file itself, although the
watched Sovereign reached its Phase-1 outcome and the restart rules would have rewritten a
Phase-0 record; no handover key was created.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import inspect
import pkgutil
from pathlib import Path
from typing import Any

from textual.binding import Binding
from textual.dom import DOMNode

import catalyst_tui.ui as ui_package
from catalyst_tui.domain.outcome import Phase1Config
from catalyst_tui.domain.statuses import BOOTSTRAP_KIT
from catalyst_tui.kube.simulator import KubeSimulator
from catalyst_tui.kube.watcher import WatchConfig
from catalyst_tui.service.supervisor import Supervisor
from catalyst_tui.store.sqlite import SQLiteStore
from catalyst_tui.ui import keymap
from catalyst_tui.ui.modals.confirm import ConfirmModal, MessageModal
from catalyst_tui.ui.modals.handover import HandoverModal
from catalyst_tui.ui.modals.patch_status import PatchStatusModal
from catalyst_tui.ui.screens.detail import DetailScreen
from catalyst_tui.ui.screens.fleet import FleetScreen
from catalyst_tui.ui.widgets.fleet_table import FleetTable

from .dashboard_support import MeasuredApp, click_at, finished, press, screen_render, seed_sqlite, sovereign, sqlite_dump, type_text, ui_config

#: Dialog-internal bindings that are not in the keymap table (action -> why it writes nothing).
DIALOG_ONLY = {
    "cancel": "closes a dialog",
    "close": "closes a message or the JSON view",
    "copy": "copies the URL shown in the handover dialog to the clipboard again",
    "app.pop_screen": "closes the help screen",
}
#: Textual's own palette commands: none touches the store.
SYSTEM_COMMANDS = {"Theme", "Quit", "Keys", "Screenshot", "Maximize", "Minimize"}
#: Dialogs that write; in read-only mode none may ever be on screen.
WRITING_DIALOGS = (PatchStatusModal, HandoverModal, ConfirmModal)

LIVE = "0d0e000000000001"      # phase1-watching, watched (read-only) while it installs
READY = "0d0e000000000002"     # ready, handover not fired
TOFU = "0d0e000000000003"      # tofu-applying: the restart rules would write "failed"
REMAP = {"handover": "H"}      # one mutating key remapped in the config


def ui_bindings() -> list[tuple[str, Binding]]:
    """Every binding declared by a class of the catalyst_tui.ui package."""
    out: list[tuple[str, Binding]] = []
    for mod in pkgutil.walk_packages(ui_package.__path__, ui_package.__name__ + "."):
        module = importlib.import_module(mod.name)
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != module.__name__ or not issubclass(cls, DOMNode):
                continue
            for b in cls.__dict__.get("BINDINGS", []):
                binding = b if isinstance(b, Binding) else Binding(*b)
                out.append((f"{module.__name__}.{name}", binding))
    return out


def test_every_binding_and_palette_command_is_classified() -> None:
    known = keymap.known_ids()
    unclassified = []
    for where, b in ui_bindings():
        if b.id in known:
            spec = keymap.by_id(b.id)
            assert isinstance(spec.mutating, bool)
        elif b.action not in DIALOG_ONLY:
            unclassified.append(f"{where}: {b.key} -> {b.action} (id {b.id})")
    assert unclassified == [], ("classify these bindings (keymap.ActionSpec with mutating=..., or DIALOG_ONLY here): "
                                + "; ".join(unclassified))
    mutating = {s.id for s in keymap.ACTIONS if s.mutating}
    assert mutating >= {"handover", "patch-status", "reattach", "stop-watcher", "take-over"}, mutating
    # Mutating actions live where a record is selected (fleet, detail): the read-only run covers those scopes.
    assert {s.scope for s in keymap.ACTIONS if s.mutating} <= {"fleet", "detail"}


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def until(pilot: Any, cond: Any, what: str, timeout: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        if loop.time() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.05)


async def test_read_only_refuses_every_mutating_key_palette_command_and_click(tmp_path: Path) -> None:
    kdir = tmp_path / "kubeconfigs"
    key_path = tmp_path / "handover" / "key.pem"
    db = tmp_path / "fleet.db"
    async with KubeSimulator(speed=20.0) as sim:
        sim.add_cluster(LIVE)
        kc = sim.write_kubeconfig(LIVE, kdir / f"{LIVE}.yaml")
        await seed_sqlite(db, [sovereign(LIVE, "live", kubeconfig=kc), finished(READY, "ready"),
                               sovereign(TOFU, "tofu", status="tofu-applying"), finished("0d0e000000000004", "failed", "failed")])
        before_dump, before_file = sqlite_dump(db), digest(db)
        # Control: the restart rules would rewrite the Phase-0 record (a writable dashboard writes it).
        from datetime import datetime, timezone

        from catalyst_tui.domain.restart import rehydrate

        async with SQLiteStore(db, read_only=True) as ro:
            tofu = (await ro.get(TOFU)).record
        assert rehydrate(tofu, now=datetime.now(timezone.utc), kubeconfigs_dir=str(kdir)).persist
        assert digest(db) == before_file

        def signer() -> Any:
            from catalyst_tui.handover.keys import HandoverSigner

            return HandoverSigner.load_or_generate(key_path)

        store = SQLiteStore(db, read_only=True)
        sup = Supervisor(store, holder="ro@test", kubeconfigs_dir=str(kdir), read_only=True, signer=signer,
                         phase1=Phase1Config(late_poll_timeout=2, watch_timeout=120, first_seen_timeout=120),
                         watch=WatchConfig(timeout_seconds=2, connect_timeout=1.0, read_grace=0.5, backoff_initial=0.05,
                                           backoff_max=0.3, error_retry=0.5),
                         lease_ttl=3.0, flush_interval=0.1, tick_interval=0.05)
        app = MeasuredApp(store, supervisor=sup, read_only=True, operator="ro-tester", config=ui_config(keymap=dict(REMAP)),
                          signer=signer, kubeconfigs_dir=str(kdir), store_label="sqlite:///ro.db")
        refused: list[tuple[str, str, str]] = []
        dialogs_seen: list[str] = []

        def writing_dialog_open() -> None:
            for screen in app.screen_stack:
                if isinstance(screen, WRITING_DIALOGS):
                    dialogs_seen.append(type(screen).__name__)

        async def expect_refusal(how: str, spec: keymap.ActionSpec, scope: str) -> None:
            await until(pilot, lambda: isinstance(app.screen, MessageModal)
                        and "Refused: read-only mode" in screen_render(app).text, f"the refusal of {spec.id} ({how}, {scope})", 10)
            text = screen_render(app).text
            assert "Refused: read-only mode" in text and "nothing was written" in text, (how, spec.id, text)
            assert f"{spec.description} changes" in " ".join(text.split()), (how, spec.id)
            writing_dialog_open()
            refused.append((scope, spec.id, how))
            await press(app, "escape", lambda: not isinstance(app.screen, MessageModal), "the refusal to close")

        async def select(rid: str) -> None:
            table = app.screen.query_one(FleetTable)
            table.move_cursor(row=table.get_row_index(rid), animate=False)
            await pilot.pause()

        async def every_way(scope: str) -> None:
            for spec in [s for s in keymap.specs(scope) if s.mutating]:
                # 1. the key (as remapped in the config)
                key = keymap.effective_key(spec, app.config.keymap)
                app.post_message(_key(app, key))
                await expect_refusal(f"key {key}", spec, scope)
                # 2. the command palette
                await press(app, "ctrl+p", lambda: app.screen.__class__.__name__ == "CommandPalette", "the palette")
                title = f"{spec.description} ({keymap.SCOPE_TITLES[scope].lower()})"
                await type_text(app, title)
                await until(pilot, lambda: title in screen_render(app).text, f"the palette hit {title!r}")
                await pilot.pause(0.1)
                app.post_message(_key(app, "enter"))
                await expect_refusal("palette", spec, scope)
                # 3. a click on its footer key
                if spec.show:
                    label = f"{keymap.display_key(key)} {spec.description}"
                    await until(pilot, lambda: screen_render(app).find(label) is not None, f"the footer key {label!r}", 5)
                    where = screen_render(app).find(label)
                    await click_at(app, *where)
                    await expect_refusal("footer click", spec, scope)

        async with app.run_test(size=(200, 40)) as pilot:
            await until(pilot, lambda: app.fleet.loaded and isinstance(app.screen, FleetScreen)
                        and app.screen.query_one(FleetTable).row_count == 4, "the fleet")
            await until(pilot, lambda: LIVE in sup.statuses() and sup.statuses()[LIVE].synced, "the read-only watcher")
            sim.play(LIVE, "install")
            await select(LIVE)
            await every_way("fleet")
            app.open_detail(LIVE)
            await until(pilot, lambda: isinstance(app.screen, DetailScreen) and app.screen.record is not None, "the detail")
            await every_way("detail")
            # The watched Sovereign finishes while nothing may be written: observed, not written.
            await until(pilot, lambda: sup.statuses()[LIVE].outcome == "ready", "the observed outcome", 30)
            live_status = sup.statuses()[LIVE]
            await pilot.pause(0.5)

    mutating = [(scope, s.id) for scope in ("fleet", "detail") for s in keymap.specs(scope) if s.mutating]
    ways = {(scope, sid): {how.split()[0] for sc, i, how in refused if (sc, i) == (scope, sid)} for scope, sid in mutating}
    for (scope, sid), hows in ways.items():
        spec = keymap.by_id(sid)
        assert hows >= {"key", "palette"} | ({"footer"} if spec.show else set()), (scope, sid, hows)
    assert ("fleet", "handover", "key H") in refused  # the remapped key
    assert dialogs_seen == [], dialogs_seen
    # No frame was ever made for a dialog that writes (and the refusals were on screen).
    assert not app.screens_shown & {cls.__name__ for cls in WRITING_DIALOGS}, app.screens_shown
    assert {"FleetScreen", "DetailScreen", "MessageModal", "CommandPalette"} <= app.screens_shown, app.screens_shown
    assert "observe" in live_status.reason or live_status.observe_only, live_status
    # Byte-identical: every table, and the file.
    assert sqlite_dump(db) == before_dump
    assert digest(db) == before_file
    assert not key_path.exists() and not key_path.parent.exists()
    assert set(BOOTSTRAP_KIT) <= set(live_status.components)


def _key(app: MeasuredApp, key: str) -> Any:
    from textual import events

    char = key if len(key) == 1 else None
    event = events.Key(key, char)
    event.set_sender(app)
    return event
