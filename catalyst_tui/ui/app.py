"""The dashboard application and its entry point.

Services are injected: the app gets a :class:`~catalyst_tui.store.base.RecordStore` and, when
this process runs watchers, a supervisor. Without a supervisor (``supervisor=None``) the
dashboard still shows the fleet from the store, and the watcher actions say why they cannot run.

``own_store`` / ``own_supervisor``: when True the app opens/starts them on mount and closes/stops
them when it exits, in its own event loop (what tests and ``snap_compare`` need).
:func:`run_dashboard` opens the store itself first, so an unusable store is reported as one line
with its exit code before the terminal is taken over.
"""

from __future__ import annotations

import asyncio
import gc
import os
from datetime import datetime, timezone
from functools import partial
from typing import TYPE_CHECKING, Any, Callable, Mapping

from rich.text import Text
from textual import work
from textual.app import App

from .. import startup_gc
from ..domain.restart import kubeconfigs_dir_from_env
from ..kube.state import WatcherStatus
from ..service import fleet as fleet_service
from ..store.base import RecordStore, StoreError
from . import keymap
from .commands import ActionsProvider
from .config import UiConfig, load_config
from .fleet_state import FleetDelta, FleetState
from .messages import FleetChanged
from .text import safe

if TYPE_CHECKING:
    from ..service.supervisor import Supervisor

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(timezone.utc)


class CatalystApp(App[int]):
    """The operator dashboard."""

    CSS_PATH = "styles.tcss"
    TITLE = "catalyst-tui"
    BINDINGS = keymap.bindings("app")
    COMMANDS = App.COMMANDS | {ActionsProvider}
    #: Escape from a modal / the palette must not quit; ctrl+c quits as well as q.
    ENABLE_COMMAND_PALETTE = True

    def __init__(
        self,
        store: RecordStore,
        *,
        supervisor: Any = None,
        read_only: bool = False,
        operator: str = "unknown",
        clock: Clock | None = None,
        config: UiConfig | None = None,
        signer: Any = None,
        kubeconfigs_dir: str | None = None,
        own_store: bool = True,
        own_supervisor: bool = True,
        store_label: str | None = None,
        stat: Callable[[str], object] = os.stat,
        freeze_gc: bool = False,
    ) -> None:
        super().__init__()
        self._readable_no_color()
        self.store = store
        self.supervisor = supervisor
        self.read_only = bool(read_only or getattr(store, "read_only", False))
        self.operator = operator
        self.clock: Clock = clock or system_clock
        self.config = config if config is not None else UiConfig()
        #: A HandoverSigner, or a zero-argument callable returning one (loaded only when needed).
        self.signer = signer
        self.kubeconfigs_dir = kubeconfigs_dir or getattr(store, "kubeconfigs_dir", None) or kubeconfigs_dir_from_env()
        self.own_store = own_store
        self.own_supervisor = own_supervisor
        self.store_label = store_label or getattr(store, "url", "") or store.kind
        self.stat = stat
        #: Once the fleet is loaded and the watchers run, move every object alive to the permanent
        #: GC generation (see :func:`freeze_settled_objects`). The real entry point sets it; tests
        #: that build many apps in one process keep a normal collector.
        self.freeze_gc = freeze_gc
        self.fleet = FleetState(
            store,
            kubeconfigs_dir=self.kubeconfigs_dir,
            statuses=self._watcher_statuses if supervisor is not None else None,
            stat=stat,
        )
        #: One line when the store could not be opened at all.
        self.services_error: str | None = None
        self.services_ready = False
        #: True once the restart rules ran and the watchers started (rows stop jumping around).
        self.services_settled = False
        self._polling = False
        self._poll_again = False
        self._store_opened = False
        self._supervisor_started = False
        self._poll_soon = False
        self._remove_listener: Callable[[], object] | None = None

    def _readable_no_color(self) -> None:
        from textual.filter import Monochrome

        from .nocolor import ReadableMonochrome

        self._filters = [ReadableMonochrome() if isinstance(f, Monochrome) else f for f in self._filters]

    # --- services ----------------------------------------------------------------------------
    def now(self) -> datetime:
        return self.clock()

    def tune(self, root: Any) -> None:
        """Honour ``cursor_blink = false`` for the text inputs under ``root`` (tests, screenshots)."""
        if not self.config.cursor_blink:
            # By type name: importing TextArea only to compare costs 25 ms of start-up.
            for widget in root.query("Input, TextArea"):
                widget.cursor_blink = False

    def _watcher_statuses(self) -> Mapping[str, WatcherStatus]:
        return self.supervisor.statuses() if self.supervisor is not None else {}

    def on_mount(self) -> None:
        from .screens.fleet import FleetScreen

        self.set_keymap(self.config.keymap)
        if not self.config.animations:
            self.animation_level = "none"
        for warning in self.config.warnings:
            self.notify(warning, title="config", severity="warning", markup=False, timeout=10)
        self.push_screen(FleetScreen())
        self.start_services()
        self.set_interval(self.config.poll_interval, self._tick, name="poll")

    @work(group="services", exit_on_error=False)
    async def start_services(self) -> None:
        if self.own_store:
            try:
                await self.store.open()
                self._store_opened = True
            except Exception as exc:  # noqa: BLE001 - StoreError or worse: said on screen, q quits
                self.services_error = str(exc) if isinstance(exc, StoreError) else f"{type(exc).__name__}: {exc}"
                self._broadcast(FleetChanged(FleetDelta(error_changed=True)))
                return
        self.services_ready = True
        # The fleet is painted first; the restart rules and the watchers follow (they read and
        # rewrite records for seconds on a large fleet, on this same event loop). First of all
        # the first screenful, when the store can say which records those are without listing
        # every one (10,000 records: ~20 ms instead of ~300 ms of listing and row building).
        if await self.poll_head() or self.fleet.partial:  # (partial: read before the app ran)
            await self._painted()
        await self.poll(force=True)
        sup = self.supervisor
        if sup is not None and self.own_supervisor:
            await self._painted()
        if sup is not None:
            if hasattr(sup, "add_listener"):
                self._remove_listener = sup.add_listener(self._supervisor_changed)
            if self.own_supervisor:
                # Flagged before awaiting: quitting while the restart rules still run stops it too.
                self._supervisor_started = True
                try:
                    await sup.start()
                except Exception as exc:  # noqa: BLE001 - the fleet view goes on without watchers
                    self.notify(f"watchers not started: {exc}", title="supervisor", severity="error", markup=False, timeout=15)
            await self.poll(force=True)
        self.services_settled = True
        if self.freeze_gc:
            freeze_settled_objects()

    #: At least this many rows are read for the first paint (the terminal's height when taller).
    HEAD_ROWS = fleet_service.HEAD_MIN_ROWS

    async def poll_head(self) -> bool:
        """Start-up: the head of the fleet (:meth:`FleetState.poll_head`), shown at once. False
        when the store cannot give it (then the first full poll paints, as before)."""
        if self._polling or self.fleet.loaded:
            return False
        self._polling = True
        try:
            delta = await self.fleet.poll_head(max(self.HEAD_ROWS, self.size.height), now=self.now())
        finally:
            self._polling = False
            self._poll_again = False  # the full poll that follows reads everything anyway
        if delta is None:
            return False
        self._broadcast(FleetChanged(delta))
        return True

    async def _painted(self, timeout: float = 2.0) -> None:
        """Wait until the screen has handled what was posted to it and repainted (bounded: a
        suspended or closing app must not hold the watchers back)."""
        try:
            await asyncio.wait_for(self.screen.wait_for_refresh(), timeout)
        except Exception:  # noqa: BLE001 - timeout, or no screen any more: start anyway
            pass

    def _supervisor_changed(self, record_id: str) -> None:
        """A watcher moved (coalesced per supervisor flush): poll soon rather than within a second."""
        if not self._poll_soon:
            self._poll_soon = True
            self.set_timer(0.05, self._poll_now)

    def _poll_now(self) -> None:
        """A supervisor notification: the watchers' statuses (in memory) show at once; what
        the supervisor persisted is read by the next timer poll (a 10,000-record listing per
        notification held the UI loop ~80 ms, several times a second during a flood)."""
        self._poll_soon = False
        if self.services_ready:
            self.run_worker(partial(self.poll, store=False), group="poll", exit_on_error=False)

    async def on_unmount(self) -> None:
        await self.stop_services()

    async def stop_services(self) -> None:
        if self._remove_listener is not None:
            self._remove_listener()
            self._remove_listener = None
        if self._supervisor_started:
            self._supervisor_started = False
            try:
                await self.supervisor.stop()
            except Exception:  # noqa: BLE001 - shutting down: nothing left to tell
                pass
        if self._store_opened:
            self._store_opened = False
            await self.store.close()

    def _tick(self) -> None:
        if self.services_ready:
            # The method, not a coroutine object: a worker that never starts (the app is
            # quitting) must not leave a never-awaited coroutine behind.
            self.run_worker(self.poll, group="poll", exit_on_error=False)

    async def poll(self, *, force: bool = False, store: bool = True) -> None:
        """Read what changed and tell the screens. Overlapping polls are dropped (k9s does the
        same): a slow store never queues refreshes behind each other. ``store=False``: the live
        watchers only (see :meth:`FleetState.poll`)."""
        if self._polling:
            self._poll_again = self._poll_again or force
            return
        self._polling = True
        try:
            delta = await self.fleet.poll(force=force, now=self.now(), store=store)
            self._broadcast(FleetChanged(delta))
            # The first complete poll is the first paint, of the fleet or of the store's error: a
            # dashboard left open on a broken store must not run with the GC off (every failed
            # poll leaves a traceback cycle behind).
            if startup_gc.paused() and (self.fleet.loaded or self.fleet.error is not None):
                self.call_after_refresh(startup_gc.end)
        finally:
            self._polling = False
        if self._poll_again:
            self._poll_again = False
            await self.poll(force=True)

    def _broadcast(self, message: FleetChanged) -> None:
        for screen in self.screen_stack:
            screen.post_message(FleetChanged(message.delta))

    # --- app actions -------------------------------------------------------------------------
    def action_help(self) -> None:
        from .screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_audit(self, record_id: str | None = None) -> None:
        from .screens.audit import AuditScreen

        self.push_screen(AuditScreen(record_id))

    async def action_refresh_fleet(self) -> None:
        if self.services_ready:
            await self.poll(force=True)
            self.notify("Store re-read.", timeout=2)

    def open_detail(self, record_id: str) -> None:
        from .screens.detail import DetailScreen

        self.push_screen(DetailScreen(record_id))

    # --- record actions ----------------------------------------------------------------------
    def record_action(self, action_id: str, record_id: str | None) -> None:
        """Route a record action from any screen: refusals first, then the action's modal."""
        spec = keymap.by_id(action_id)
        if record_id is None:
            self.notify("No Sovereign selected.", severity="warning", timeout=3)
            return
        if spec.mutating and self.read_only:
            from .modals.confirm import MessageModal

            self.push_screen(MessageModal.read_only_refusal(spec, record_id))
            return
        if action_id == "handover":
            from .modals.handover import HandoverModal

            self.push_screen(HandoverModal(record_id), self._after_mutation)
        elif action_id == "patch-status":
            from .modals.patch_status import PatchStatusModal

            self.push_screen(PatchStatusModal(record_id), self._after_mutation)
        elif action_id == "view-json":
            from .modals.json_view import JsonViewModal

            self.push_screen(JsonViewModal(record_id))
        elif action_id in ("reattach", "stop-watcher", "take-over"):
            self.watcher_action(action_id, record_id)

    def _after_mutation(self, result: object) -> None:
        if result:
            self.run_worker(self.poll(force=True), group="poll", exit_on_error=False)

    @work(group="watcher-action", exit_on_error=False)
    async def watcher_action(self, action_id: str, record_id: str) -> None:
        from .modals.confirm import ConfirmModal, MessageModal

        spec = keymap.by_id(action_id)
        sup = self.supervisor
        method = {"reattach": "reattach", "stop-watcher": "stop_watcher", "take-over": "take_over"}[action_id]
        if sup is None or not hasattr(sup, method):
            why = (
                "this dashboard runs without watchers (no supervisor in this process)"
                if sup is None
                else f"the supervisor in this build cannot {spec.description.lower()}"
            )
            await self.push_screen_wait(MessageModal(f"{spec.description}: not available", Text.assemble(safe(record_id), ": ", why, ".")))
            return
        row = self.fleet.rows.get(record_id)
        name = row.fqdn if row is not None and row.fqdn else record_id
        active = getattr(sup, "active", None)
        if action_id == "stop-watcher" and active is not None and record_id not in active:
            await self.push_screen_wait(MessageModal(
                f"{spec.description}: nothing to stop",
                Text.assemble(safe(name, "bold"), ": no watcher is running in this process (w starts one)."),
            ))
            return
        questions = {
            "reattach": "Start (or restart) the Phase-1 watcher of {name}? It reads the cluster with the record's kubeconfig and writes progress to the record.",
            "stop-watcher": "Stop the Phase-1 watcher of {name}? The record stays as it is; reattach starts it again.",
            "take-over": "Take over as the writer of {name}'s progress? On SQLite this takes the record's lease if it is free; on a catalyst-api directory do it only while catalyst-api is stopped, or the two overwrite each other.",
        }
        body = Text.assemble(*_split_name(questions[action_id], name))
        ok = await self.push_screen_wait(ConfirmModal(spec.description, body, confirm_label=spec.description))
        if not ok:
            return
        try:
            await getattr(sup, method)(record_id)  # the supervisor audits what it does
        except Exception as exc:  # noqa: BLE001 - shown, not raised
            await self.push_screen_wait(MessageModal(f"{spec.description} failed", safe(str(exc)), error=True))
            return
        self.notify(f"{spec.description}: done.", timeout=3)
        await self.poll(force=True)


def _split_name(template: str, name: str) -> list[Any]:
    before, _, after = template.partition("{name}")
    return [before, safe(name, "bold"), after]


# --- entry point ---------------------------------------------------------------------------------

def _option(options: Any, name: str, default: Any = None) -> Any:
    return getattr(options, name, default) if options is not None else default


def default_signer_factory(key_path: str | None) -> Callable[[], Any]:
    """Load (or create) the handover key only when an operator actually mints a URL."""

    import threading

    lock = threading.Lock()
    loaded: list[Any] = []

    def factory() -> Any:
        # The dashboard and the supervisor's thread may both need it first at the same moment:
        # one key, generated once.
        with lock:
            if not loaded:
                from ..handover.keys import HandoverSigner

                loaded.append(HandoverSigner.load_or_generate(key_path))
            return loaded[0]

    return factory


def default_supervisor(
    store: RecordStore, options: Any, *, kubeconfigs_dir: str, operator: str, read_only: bool, signer: Any
) -> Any:
    """The watcher supervisor when this build has one, else None (the dashboard works without).

    It runs on a thread and event loop of its own with its own connection to the same store
    (:class:`~catalyst_tui.service.threaded.SupervisorThread`): a flood of watch events must not
    hold the keys. A store that cannot be opened a second time gets it on the app's loop.

    The supervisor's module (watchers, kubeconfig/yaml, the pydantic record models) is imported by
    ``make`` on the supervisor's thread, after the first fleet paint, not here."""
    import importlib.util

    try:
        if importlib.util.find_spec("catalyst_tui.service.supervisor") is None:  # pragma: no cover
            return None  # a partial build
        from ..service.threaded import SupervisorThread
    except ImportError:  # pragma: no cover - a partial build
        return None
    import socket

    # A lease holder names the operator and this process (two dashboards of one operator differ).
    holder = f"{operator}@{socket.gethostname()}:{os.getpid()}"
    take_over = bool(_option(options, "take_over", False))

    def make(s: RecordStore) -> Supervisor:
        from ..service.supervisor import Supervisor

        return Supervisor(s, holder=holder, kubeconfigs_dir=kubeconfigs_dir, read_only=read_only,
                          take_over=take_over, signer=signer)

    from ..store.urls import reopen_store

    if reopen_store(store) is None:
        return make(store)
    return SupervisorThread(lambda: reopen_store(store), make)  # type: ignore[arg-type,return-value]


async def run_dashboard_async(
    store_url: str | None = None,
    options: Any = None,
    *,
    store: RecordStore | None = None,
    supervisor: Any = None,
    read_only: bool | None = None,
    operator: str | None = None,
    clock: Clock | None = None,
    config: UiConfig | None = None,
    signer: Any = None,
    kubeconfigs_dir: str | None = None,
    store_label: str | None = None,
    start_supervisor: bool = True,
) -> int:
    """Open the store (unless one is given, already open), run the app, stop everything.

    ``supervisor``: given by the caller (the demo); when None and ``start_supervisor`` is True the
    build's default supervisor is used if there is one. The app starts it and stops it on quit.
    """
    from ..service.identity import resolve_operator
    from ..store.urls import open_store

    trust_the_terminal_size()
    ro = bool(read_only if read_only is not None else _option(options, "read_only", False))
    op = operator or _option(options, "operator") or resolve_operator()
    kdir = kubeconfigs_dir or _option(options, "kubeconfigs_dir") or kubeconfigs_dir_from_env()
    cfg = config if config is not None else load_config()
    if signer is None:
        signer = default_signer_factory(_option(options, "handover_key"))
    own_store = store is None
    if store is None:
        store = open_store(store_url, read_only=ro)
        await store.open()  # StoreError here: the CLI prints one line and exits with its code
    try:
        if supervisor is None and start_supervisor:
            supervisor = default_supervisor(store, options, kubeconfigs_dir=kdir, operator=op, read_only=ro, signer=signer)
        app = CatalystApp(
            store, supervisor=supervisor, read_only=ro, operator=op, clock=clock, config=cfg, signer=signer,
            kubeconfigs_dir=kdir, own_store=False, own_supervisor=True, store_label=store_label, freeze_gc=True,
        )
        await read_head_before_the_first_frame(app)
        await app.run_async()
        await app.stop_services()
        return int(app.return_code or 0)
    finally:
        if own_store:
            await store.close()


async def read_head_before_the_first_frame(app: CatalystApp) -> None:
    """The first screenful of the fleet (:meth:`FleetState.poll_head`) read before the app starts,
    so its very first frame has the rows: read while the app lays out and draws an empty screen,
    the two took turns with the interpreter lock and a second frame followed (measured on the
    directory store: the head ~65 ms alone, 150-200 ms beside the first layout). ``start_services``
    then skips its own head read. Any failure: nothing read here, the app reads it as before."""
    try:
        await app.fleet.poll_head(fleet_service.first_screen_rows(app.HEAD_ROWS), now=app.now())
    except Exception:  # noqa: BLE001 - the app's own start-up reads and reports
        return


def trust_the_terminal_size(env: dict[str, str] | None = None) -> None:
    """Textual sizes the screen with ``shutil.get_terminal_size()``, which prefers ``$COLUMNS`` /
    ``$LINES`` over the terminal itself. A shell that exported them at another size (seen with a
    tmux pane created at 80x24 and then resized) would pin the dashboard to that size and hide
    every resize, so the dashboard process drops them and asks the terminal."""
    target = os.environ if env is None else env
    for var in ("COLUMNS", "LINES"):
        target.pop(var, None)


def run_dashboard(store_url: str | None = None, options: Any = None, **kwargs: Any) -> int:
    """The CLI's no-command path: ``catalyst-tui [--store URL] [--read-only] …``."""
    startup_gc.pause()  # (the entry points paused before their imports already: see startup_gc)
    try:
        return asyncio.run(run_dashboard_async(store_url, options, **kwargs))
    finally:
        startup_gc.end()


# --- start-up GC ---------------------------------------------------------------------------------

def freeze_settled_objects() -> None:
    """``gc.freeze()`` once the dashboard has settled (the whole fleet loaded, the watchers
    started and their modules imported, kubernetes_asyncio and pydantic among them).

    A full (generation 2) collection walks every long-lived object, and the collector stops every
    thread while it runs: with 10,000 records and 200 watchers, 100-240 ms each, several times
    during a watch flood (measured with gc.callbacks in bench.watch_app), the dashboard's worst
    key latencies. After the freeze a collection walks only what was made since. Objects alive now
    are never collected as cyclic garbage later (freed by reference counting as usual); that is
    what the dashboard keeps for its whole life anyway."""
    gc.collect(1)  # the young garbage of the start-up goes first
    gc.freeze()
