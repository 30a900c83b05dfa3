"""The supervisor on a thread and event loop of its own, for the dashboard.

A flood of watch events (200 Sovereigns reconciling at once) is seconds of parsing, deriving and
persisting. On the dashboard's event loop every key press waited behind it (key p95 above a
second, issue 5 target 4). :class:`SupervisorThread` runs the unchanged
:class:`~catalyst_tui.service.supervisor.Supervisor` on its own thread with its own event loop and
**its own store connection** (opened from the same URL: both stores are built for several
writers, with versions, leases and locks), and offers the dashboard the supervisor's interface:

* ``start`` / ``stop`` / ``reattach`` / ``stop_watcher`` / ``take_over`` / ``wait_all_ended``:
  coroutines run on the supervisor's loop, awaited from the caller's loop;
* ``statuses()`` / ``active``: snapshots (copies) taken from the caller's thread, never the live
  objects the watchers mutate;
* ``add_listener`` / ``add_progress_listener``: callbacks run on the loop that registered them
  (``call_soon_threadsafe``), so UI code never runs on the supervisor's thread.

``catalyst-tui watch`` has no screen to keep responsive and runs the supervisor directly.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import copy
import logging
import threading
from typing import TYPE_CHECKING, Any, Callable, Coroutine, TypeVar

from ..kube.state import WatcherStatus
from ..store.base import RecordStore

if TYPE_CHECKING:
    from .supervisor import Progress, Supervisor, SupervisorError

log = logging.getLogger(__name__)

# The supervisor's module (the watchers, kubeconfig/yaml, the record models) is imported on the
# supervisor's thread, by ``make_supervisor``, not when the dashboard builds this object before its
# first paint. ``SupervisorError`` is that module's class, looked up when one is raised.
_LAZY = frozenset({"Progress", "Supervisor", "SupervisorError"})


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from . import supervisor

        return getattr(supervisor, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _error(message: str) -> SupervisorError:
    from .supervisor import SupervisorError

    return SupervisorError(message)

T = TypeVar("T")

#: Seconds ``stop`` waits for the supervisor to flush and release its leases before giving up.
STOP_TIMEOUT = 20.0


def snapshot_status(ws: WatcherStatus) -> WatcherStatus:
    """A copy of ``ws`` that the watcher thread no longer touches (``components`` copied too;
    its values, ``Derived``, are replaced, never mutated). ``dict(d)`` and ``copy.copy`` run
    without releasing the GIL, so the copy is never taken half-way through a dict resize."""
    snap = copy.copy(ws)
    snap.components = dict(ws.components)
    return snap


class SupervisorThread:
    """A :class:`Supervisor` on its own thread (see the module doc).

    ``make_store``: builds the supervisor's store (not opened; it is opened and closed on the
    supervisor's loop). ``make_supervisor``: builds the supervisor around that opened store.
    """

    def __init__(
        self,
        make_store: Callable[[], RecordStore],
        make_supervisor: Callable[[RecordStore], Supervisor],
        *,
        name: str = "catalyst-supervisor",
    ) -> None:
        self._make_store = make_store
        self._make_supervisor = make_supervisor
        self._name = name
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._store: RecordStore | None = None
        self._sup: Supervisor | None = None
        self._stopped: asyncio.Event | None = None
        self._listeners: list[tuple[asyncio.AbstractEventLoop, Callable[[str], None]]] = []
        self._progress: list[tuple[asyncio.AbstractEventLoop | None, Callable[[Progress], None]]] = []
        self._lock = threading.Lock()
        self._starting: asyncio.Task[None] | None = None
        self._progress_hooked = False
        self._stop_requested = False

    # --- what the dashboard reads ----------------------------------------------------------------
    @property
    def supervisor(self) -> Supervisor | None:
        """The supervisor itself (on the other thread: read-only use, e.g. by tests)."""
        return self._sup

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def read_only(self) -> bool:
        return bool(self._sup.read_only) if self._sup is not None else False

    def statuses(self) -> dict[str, WatcherStatus]:
        sup = self._sup
        if sup is None:
            return {}
        # list(dict.items()) is one C call: never "dictionary changed size during iteration".
        items = list(sup._watches.items())
        return {rid: snapshot_status(w.status) for rid, w in items}

    @property
    def active(self) -> set[str]:
        sup = self._sup
        if sup is None:
            return set()
        return {rid for rid, w in list(sup._watches.items()) if not w.ended}

    @property
    def rehydrated(self) -> dict[str, Any]:
        sup = self._sup
        return dict(sup.rehydrated) if sup is not None else {}

    # --- listeners ----------------------------------------------------------------------------------
    def add_listener(self, callback: Callable[[str], None]) -> Callable[[], None]:
        """``callback(record_id)`` on changes, called on the loop running here and now."""
        entry = (asyncio.get_running_loop(), callback)
        with self._lock:
            self._listeners.append(entry)

        def remove() -> None:
            with self._lock, contextlib.suppress(ValueError):
                self._listeners.remove(entry)

        return remove

    def add_progress_listener(self, callback: Callable[[Progress], None], *, on_supervisor_thread: bool = False) -> Callable[[], None]:
        """``callback(progress)``, on the registering loop, or (``on_supervisor_thread``) at once
        on the supervisor's thread (for a callback that only records, e.g. a timestamp)."""
        loop = None if on_supervisor_thread else asyncio.get_running_loop()
        entry = (loop, callback)
        with self._lock:
            self._progress.append(entry)
            sup = self._sup
            if sup is not None and not self._progress_hooked:
                # (list.append: safe beside the supervisor's thread, which iterates a copy)
                self._progress_hooked = True
                sup.add_progress_listener(self._progressed)

        def remove() -> None:
            with self._lock, contextlib.suppress(ValueError):
                self._progress.remove(entry)

        return remove

    def _changed(self, record_id: str) -> None:  # on the supervisor's thread
        with self._lock:
            listeners = list(self._listeners)
        for loop, cb in listeners:
            with contextlib.suppress(RuntimeError):  # that loop is closed: the app has gone
                loop.call_soon_threadsafe(cb, record_id)

    def _progressed(self, p: Progress) -> None:  # on the supervisor's thread
        with self._lock:
            listeners = list(self._progress)
        for loop, cb in listeners:
            if loop is None:
                try:
                    cb(p)
                except Exception:  # noqa: BLE001 - a listener's bug is not ours to crash on
                    log.exception("progress listener")
            else:
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(cb, p)

    # --- life cycle -----------------------------------------------------------------------------------
    async def start(self) -> None:
        """Start the thread, open its store, run the restart rules and start the watchers.
        Raises what opening the store or starting the supervisor raised (the thread then ends).
        Cancelled (the app quits while the restart rules run): :meth:`stop` ends the thread."""
        if self._thread is not None:
            return
        ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._stop_requested = False
        self._thread = threading.Thread(target=self._main, args=(ready,), name=self._name, daemon=True)
        self._thread.start()
        try:
            await asyncio.wrap_future(ready)
        except asyncio.CancelledError:
            raise
        except BaseException:
            thread, self._thread = self._thread, None
            if thread is not None:
                await asyncio.to_thread(thread.join, STOP_TIMEOUT)
            raise

    def _main(self, ready: concurrent.futures.Future[None]) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        try:
            loop.run_until_complete(self._serve(ready))
        except BaseException as exc:  # noqa: BLE001 - reported through ``ready``; never kills the app
            if not ready.done():
                with contextlib.suppress(concurrent.futures.InvalidStateError):
                    ready.set_exception(_error(f"supervisor thread failed: {type(exc).__name__}: {exc}"))
            log.exception("supervisor thread")
        finally:
            self._loop = None
            with contextlib.suppress(Exception):
                loop.run_until_complete(loop.shutdown_asyncgens())
            with contextlib.suppress(Exception):
                loop.run_until_complete(loop.shutdown_default_executor())
            asyncio.set_event_loop(None)
            loop.close()

    def _request_stop(self) -> None:  # on the supervisor's loop
        self._stop_requested = True
        if self._stopped is not None:
            self._stopped.set()
        if self._starting is not None and not self._starting.done():
            self._starting.cancel()  # Supervisor.start cleans up after itself (it calls stop)

    async def _serve(self, ready: concurrent.futures.Future[None]) -> None:
        self._stopped = asyncio.Event()
        store = self._make_store()
        try:
            await store.open()
            sup = self._make_supervisor(store)
            sup.add_listener(self._changed)
            with self._lock:
                # Progress items (one per transition) are built only when somebody listens.
                if self._progress:
                    self._progress_hooked = True
                    sup.add_progress_listener(self._progressed)
                self._store, self._sup = store, sup
            if self._stop_requested:
                raise _error("stopped before the watchers started")
            self._starting = asyncio.create_task(sup.start(), name="supervisor-start")
            await self._starting
        except BaseException as exc:  # noqa: BLE001 - the store is closed, the caller is told
            with contextlib.suppress(Exception):
                await store.close()
            if not ready.done():
                why = exc if isinstance(exc, Exception) else _error("stopped while starting")
                with contextlib.suppress(concurrent.futures.InvalidStateError):
                    ready.set_exception(why)
            return
        finally:
            self._starting = None
        with contextlib.suppress(concurrent.futures.InvalidStateError):
            ready.set_result(None)
        try:
            await self._stopped.wait()
        finally:
            try:
                await sup.stop()
            finally:
                await store.close()

    async def stop(self) -> None:
        """Stop every watcher (events flushed, leases released), close the store, end the thread."""
        thread = self._thread
        if thread is None:
            return
        self._thread = None
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop ended already
                loop.call_soon_threadsafe(self._request_stop)
        else:
            self._stop_requested = True  # the thread has not made its loop yet: it checks this
        await asyncio.to_thread(thread.join, STOP_TIMEOUT)
        if thread.is_alive():
            log.warning("supervisor thread did not stop within %s s", STOP_TIMEOUT)

    # --- actions, run on the supervisor's loop -------------------------------------------------------
    async def _call(self, make: Callable[[Supervisor], Coroutine[Any, Any, T]]) -> T:
        sup, loop = self._sup, self._loop
        if sup is None or loop is None or not self.running:
            raise _error("the watchers are not running in this process")
        try:
            fut = asyncio.run_coroutine_threadsafe(make(sup), loop)
        except RuntimeError as exc:  # the loop closed between the check and the call
            raise _error("the watchers are not running in this process") from exc
        return await asyncio.wrap_future(fut)

    async def reattach(self, record_id: str) -> Any:
        return await self._call(lambda s: s.reattach(record_id))

    async def stop_watcher(self, record_id: str) -> None:
        await self._call(lambda s: s.stop_watcher(record_id))

    async def take_over(self, record_id: str) -> None:
        await self._call(lambda s: s.take_over(record_id))

    async def wait_all_ended(self) -> None:
        await self._call(lambda s: s.wait_all_ended())
