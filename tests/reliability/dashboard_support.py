"""Helpers for the dashboard side of the reliability suite (issue 6, items 4, 6, 7, 8).

Everything drives the real thing: a real :class:`~catalyst_tui.ui.app.CatalystApp` through
Textual's Pilot, a real SQLite store, the real :class:`~catalyst_tui.service.supervisor.Supervisor`
and kubernetes_asyncio against the Kubernetes API simulator over loopback. The only additions are
instruments:

* :class:`MeasuredApp` is ``CatalystApp`` plus a frame log: every time the compositor hands a
  frame to the (headless) driver, its time is recorded and waiting predicates are checked, so a
  latency is "key posted -> the frame that shows its effect", not "-> the handler ran";
* :func:`screen_render` returns what the terminal would show (the whole screen stack, modals over
  their background, as ``export_screenshot`` renders it): one plain string per line plus every
  segment with its style, to assert on text, links and ``@click`` actions.
"""

from __future__ import annotations

import asyncio
import os
from collections import deque
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from rich.segment import Segment
from textual import events

from catalyst_tui.domain.record import GO_ZERO_TIME, Record
from catalyst_tui.ui.app import CatalystApp
from catalyst_tui.ui.config import UiConfig

from .support import first_unsafe


def ui_config(**kw: Any) -> UiConfig:
    """No cursor blink, no animation: frames come from the app's work, not from a blinking cursor."""
    return UiConfig(cursor_blink=False, animations=False, **kw)


# --- records ------------------------------------------------------------------------------------

def sovereign(rid: str, sub: str, *, kubeconfig: str | Path | None = None, status: str = "phase1-watching",
              org: str | None = None, fqdn: str | None = None, email: str | None = None, **top: Any) -> Record:
    """A record as catalyst-api writes it (credentials ``<redacted>``)."""
    fqdn = fqdn if fqdn is not None else f"{sub}.omani.works"
    data: dict[str, Any] = {
        "id": rid,
        "status": status,
        "request": {"orgName": org if org is not None else sub.title(), "orgEmail": email or f"ops@{sub}.example",
                    "sovereignFQDN": fqdn, "region": "fsn1", "hetznerToken": "<redacted>",
                    "dynadotKey": "<redacted>", "dynadotSecret": "<redacted>"},
        "startedAt": "2026-05-04T09:00:00Z",
        "finishedAt": GO_ZERO_TIME,
        "events": [{"time": "2026-05-04T09:07:40Z", "phase": "flux-bootstrap", "level": "info",
                    "message": "Cloud-init has bootstrapped Flux + Crossplane in the new cluster"}],
    }
    if kubeconfig is not None or status not in ("pending", "tofu-applying"):
        data["result"] = {"sovereignFQDN": fqdn, "controlPlaneIP": "203.0.113.10", "consoleURL": f"https://console.{fqdn}",
                          "kubeconfigPath": str(kubeconfig or ""), "phase1Substate": "watcher-watching"}
    for key, value in top.items():
        if key in ("request", "result") and isinstance(value, dict):
            data.setdefault(key, {}).update(value)
        else:
            data[key] = value
    return Record.model_validate(data)


def finished(rid: str, sub: str, status: str = "ready") -> Record:
    """A Sovereign whose Phase 1 is over (nothing to resume): the bulk of a real fleet."""
    from catalyst_tui.domain.statuses import BOOTSTRAP_KIT

    states = {c: "installed" for c in BOOTSTRAP_KIT}
    if status == "failed":
        states["catalyst-platform"] = "failed"
    return sovereign(
        rid, sub, status=status, finishedAt="2026-05-04T09:31:12Z",
        error="" if status == "ready" else "Phase 1 finished with 1 failed component(s); see ComponentStates for the per-component breakdown",
        result={"componentStates": states, "phase1FinishedAt": "2026-05-04T09:31:12Z", "phase1Outcome": status,
                "phase1Substate": ""},
    )


async def seed_sqlite(db: Path, records: Iterable[Record]) -> None:
    from catalyst_tui.store.sqlite import SQLiteStore

    store = SQLiteStore(db)
    await store.open()
    try:
        for rec in records:
            await store.create(rec)
    finally:
        await store.close()


def sqlite_dump(db: Path) -> list[str]:
    """Every table of the SQLite store as SQL (records, events, audit, leases, schema): the
    logical "byte-identical" check, independent of WAL checkpoints."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return list(con.iterdump())
    finally:
        con.close()


# --- the rendered screen --------------------------------------------------------------------------

@dataclass
class Render:
    lines: list[str]
    segments: list[Segment]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def find(self, needle: str) -> tuple[int, int] | None:
        """(x, y) of the first cell where ``needle`` starts (cells = characters here: the
        payloads are ASCII once sanitized)."""
        for y, line in enumerate(self.lines):
            x = line.find(needle)
            if x >= 0:
                return x, y
        return None

    def find_all(self, needle: str, limit: int = 8) -> list[tuple[int, int]]:
        """(x, y) of every line's first ``needle`` (at most ``limit``)."""
        out = []
        for y, line in enumerate(self.lines):
            x = line.find(needle)
            if x >= 0:
                out.append((x, y))
        return out[:limit]

    def actions(self) -> list[tuple[str, str]]:
        """(text, action or link) of every segment that a click would act on."""
        out = []
        for seg in self.segments:
            style = seg.style
            if style is None:
                continue
            if style.link:
                out.append((seg.text, f"link:{style.link}"))
            meta = style.meta if style._meta else {}
            for key, value in meta.items():
                # @click is what markup makes; scrollbars carry @mouse.down/up scroll actions of their own.
                if key == "@click" or (key.startswith("@") and "app." in str(value)):
                    out.append((seg.text, f"{key}:{value}"))
        return out


def screen_render(app: CatalystApp) -> Render:
    """The full current frame (the screen stack as the terminal shows it)."""
    update = app.screen._compositor.render_update(full=True, screen_stack=app._background_screens)
    lines: list[str] = []
    segments: list[Segment] = []
    for line in update.strips:  # type: ignore[union-attr]
        text = []
        for strip in line:
            for seg in strip:
                if seg.control:
                    continue
                segments.append(seg)
                text.append(seg.text)
        lines.append("".join(text))
    return Render(lines, segments)


def assert_inert(render: Render, what: str) -> None:
    """No byte a terminal acts on reaches the frame, and nothing on it is a link or an action
    that came from data (the dashboard's own widgets use no @click markup)."""
    for seg in render.segments:
        bad = first_unsafe(seg.text)
        assert bad is None, f"{what}: {bad}"
    acts = render.actions()
    assert acts == [], f"{what}: clickable segments {acts[:5]}"


def svg_text(svg: str) -> str:
    """The text content of a Textual SVG screenshot (entities decoded)."""
    import html
    import re

    return html.unescape("".join(re.findall(r"<text[^>]*>(.*?)</text>", svg, re.S))).replace("\xa0", " ")


# --- an app that logs its frames --------------------------------------------------------------------

@dataclass
class _Waiter:
    predicate: Callable[[], bool]
    event: asyncio.Event = field(default_factory=asyncio.Event)
    at: float = 0.0


class MeasuredApp(CatalystApp):
    """CatalystApp with a frame log (instrumentation only: every behaviour is CatalystApp's)."""

    #: Textual resolves a relative CSS_PATH against the subclass's module: point at the app's own.
    CSS_PATH = str(Path(__import__("catalyst_tui.ui.app", fromlist=["x"]).__file__).with_name(CatalystApp.CSS_PATH))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: The last frames' times (bounded: the soak runs for minutes) and how many there were.
        self.frame_times: deque[float] = deque(maxlen=10_000)
        self.frames = 0
        #: Class names of every screen a frame was made for.
        self.screens_shown: set[str] = set()
        self._waiters: list[_Waiter] = []

    def _display(self, screen: Any, renderable: Any) -> None:
        if renderable is not None:
            now = time.perf_counter()
            self.frame_times.append(now)
            self.frames += 1
            self.screens_shown.add(type(screen).__name__)
            for w in list(self._waiters):
                try:
                    ok = w.predicate()
                except Exception:  # noqa: BLE001 - a predicate on a screen being torn down
                    ok = False
                if ok:
                    w.at = now
                    w.event.set()
                    self._waiters.remove(w)
        super()._display(screen, renderable)

    async def key_to_frame(self, key: str, shown: Callable[[], bool], timeout: float = 15.0) -> float:
        """Post ``key`` as the terminal driver does and return the seconds until the first
        frame for which ``shown()`` holds."""
        waiter = _Waiter(shown)
        self._waiters.append(waiter)
        t0 = time.perf_counter()
        event = events.Key(key, None)
        event.set_sender(self)
        self.post_message(event)
        try:
            await asyncio.wait_for(waiter.event.wait(), timeout)
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
        return waiter.at - t0


async def settle(app: MeasuredApp, timeout: float = 2.0) -> None:
    """Wait until the current screen has no layout, repaint or dirty widget pending (its next
    frame has been made), so a render reads what the operator sees, not a half-updated layout."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    await asyncio.sleep(0)
    while loop.time() < end:
        screen = app.screen
        if not (screen._layout_required or screen._repaint_required or screen._dirty_widgets):
            return
        await asyncio.sleep(0.02)


async def click_at(app: MeasuredApp, x: int, y: int) -> None:
    """A mouse click at screen cell (x, y), delivered as Pilot delivers it (MouseDown, MouseUp,
    Click forwarded by the screen) minus Pilot's wait for the whole process to go idle."""
    from textual.geometry import Offset
    from textual.pilot import _get_mouse_message_arguments

    screen = app.screen
    kwargs = _get_mouse_message_arguments(screen, (x, y), button=1)
    for cls in (events.MouseDown, events.MouseUp, events.Click):
        event = cls(**({**kwargs, "chain": 1} if cls is events.Click else kwargs))
        event.set_sender(app)
        app.mouse_position = Offset(x, y)
        screen._forward_event(event)
        await asyncio.sleep(0.02)


async def press(app: MeasuredApp, key: str, shown: Callable[[], bool], what: str, timeout: float = 15.0) -> float:
    """Press ``key`` and wait for the frame that shows ``what`` (faster than ``pilot.press``,
    which waits for the whole process to go idle: never, while watchers run)."""
    try:
        return await app.key_to_frame(key, shown, timeout)
    except TimeoutError:
        raise AssertionError(f"{key}: no frame showed {what} within {timeout}s") from None


async def type_text(app: MeasuredApp, text: str) -> None:
    """Type ``text`` as the terminal driver posts keys (one Key event per character)."""
    from textual.keys import _character_to_key

    for ch in text:
        key = ch if ch.isalnum() else _character_to_key(ch)
        event = events.Key(key, ch)
        event.set_sender(app)
        app.post_message(event)
        await asyncio.sleep(0)


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    k = min(len(s) - 1, max(0, round(p / 100 * (len(s) - 1))))
    return s[k]


def describe_latencies(name: str, values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return (f"{name}: n={len(ms)} p50={percentile(ms, 50):.0f} ms p95={percentile(ms, 95):.0f} ms "
            f"max={max(ms) if ms else float('nan'):.0f} ms")


# --- memory ---------------------------------------------------------------------------------------

def rss_mb() -> float:
    """This process's resident set size (VmRSS), in MB."""
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def slope_per_minute(samples: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MB) samples, in MB per minute."""
    n = len(samples)
    if n < 2:
        return 0.0
    mx = sum(t for t, _ in samples) / n
    my = sum(v for _, v in samples) / n
    num = sum((t - mx) * (v - my) for t, v in samples)
    den = sum((t - mx) ** 2 for t, _ in samples)
    return 60.0 * num / den if den else 0.0


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def in_thread(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a blocking call (e.g. ``ThreadedSimulator.call``) without blocking the app's loop."""
    return await asyncio.to_thread(fn, *args, **kwargs)


def env_seconds(name: str, default: float) -> float:
    raw = os.environ.get(name, "")
    try:
        return float(raw) if raw else default
    except ValueError:
        return default
