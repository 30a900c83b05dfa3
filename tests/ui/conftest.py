"""Dashboard fixtures: a real SQLite store seeded with the fleet of :mod:`tests.ui.fleet`, and an
app factory with a frozen clock, no cursor blink, no animations and a fixed store label."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Callable

import pytest

from catalyst_tui.store.sqlite import SQLiteStore
from catalyst_tui.ui.app import CatalystApp
from catalyst_tui.ui.config import UiConfig

from . import fleet

ENV_VARS = ("CATALYST_TUI_CONFIG", "CATALYST_TUI_STORE", "CATALYST_OPERATOR", "CATALYST_KUBECONFIGS_DIR", "CATALYST_HANDOVER_KEY_PATH")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)


def ui_config(**kw: Any) -> UiConfig:
    """No blink, no animation; the store is polled every 0.25 s so tests wait less (the test of
    the 2-second promise uses the production interval)."""
    kw.setdefault("poll_interval", 0.25)
    return UiConfig(cursor_blink=False, animations=False, **kw)


@pytest.fixture
def volume(tmp_path: Path) -> Path:
    """The directory standing in for /var/lib/catalyst (real kubeconfig files inside)."""
    root = tmp_path / "volume"
    fleet.write_kubeconfigs(root)
    return root


@pytest.fixture
def fleet_db(tmp_path: Path) -> Path:
    db = tmp_path / "fleet.db"
    asyncio.run(fleet.seed(db))
    return db


@pytest.fixture
def signer_factory(tmp_path: Path) -> Callable[[], Any]:
    def factory() -> Any:
        from catalyst_tui.handover.keys import HandoverSigner

        return HandoverSigner.load_or_generate(tmp_path / "handover" / "key.pem")

    return factory


@pytest.fixture
def make_app(fleet_db: Path, volume: Path, signer_factory: Callable[[], Any]) -> Callable[..., CatalystApp]:
    def make(*, db: Path | None = None, read_only: bool = False, config: UiConfig | None = None, **kw: Any) -> CatalystApp:
        store = SQLiteStore(db or fleet_db, read_only=read_only)
        return CatalystApp(
            store,
            read_only=read_only,
            operator=kw.pop("operator", "alice"),
            clock=kw.pop("clock", lambda: fleet.NOW),
            config=config or ui_config(),
            signer=kw.pop("signer", signer_factory),
            kubeconfigs_dir=fleet.KUBECONFIGS,
            store_label=fleet.STORE_LABEL,
            stat=fleet.volume_stat(volume),
            **kw,
        )

    return make


async def wait_for(pilot: Any, predicate: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    """Poll ``predicate`` while the app runs; fail with ``what`` after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not predicate():
        if loop.time() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.05)


async def fleet_loaded(pilot: Any, rows: int | None = None) -> None:
    app = pilot.app
    await wait_for(pilot, lambda: app.fleet.loaded and app.screen.__class__.__name__ == "FleetScreen", what="the fleet to load")
    if rows is not None:
        await wait_for(pilot, lambda: app.screen.query_one("FleetTable").row_count == rows, what=f"{rows} rows")
    await pilot.pause()


def plain(widget: Any, width: int = 200) -> str:
    """What a Static shows, as plain text (Rich renderables included)."""
    from rich.console import Console

    console = Console(width=width, record=True, color_system=None)
    console.print(widget.content)
    return console.export_text()


async def type_at_once(pilot: Any, *keys: str) -> None:
    """Deliver ``keys`` the way a terminal does when an operator types fast: every key event is
    queued before the app handles the first one (one read of ``/cedar`` from the tty). Pilot's
    ``press`` waits until the app is idle after each key, which hides races between a key's action
    and the keys right behind it."""
    from textual import events
    from textual.keys import _character_to_key

    app = pilot.app
    driver = app._driver
    assert driver is not None
    for key in keys:
        char = key if len(key) == 1 else {"slash": "/", "space": " "}.get(key)
        name = _character_to_key(key) if len(key) == 1 and not key.isalnum() else key
        event = events.Key(name, char if name not in ("enter", "escape", "tab") else {"enter": "\r", "escape": "\x1b", "tab": "\t"}[name])
        event.set_sender(app)
        driver.send_message(event)
    await pilot.pause()
    await pilot.pause()


def screen_lines(app: Any) -> list[str]:
    """What the terminal shows now, one string per line (the compositor's full frame)."""
    update = app.screen._compositor.render_update(full=True)
    return ["".join(strip.text for strip in line) for line in update.strips]
