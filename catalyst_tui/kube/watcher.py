"""The per-Sovereign HelmRelease watcher (list, then watch, with the real kubernetes_asyncio client).

One :class:`HelmReleaseWatcher` per resumed Sovereign. It owns one Configuration and one ApiClient
built from that Sovereign's kubeconfig, lists then watches ``helm.toolkit.fluxcd.io/v2``
HelmReleases in ``flux-system``, keeps the ``bp-*`` ones, derives each component's state with
:func:`catalyst_tui.domain.components.derive` and reports **transitions only**. Like catalyst-api's
resumed watch it starts with an empty state map, so the first sight of every component is a
transition.

Resilience (each case is exercised against the simulator in tests/kube):

* 410 Gone (an ERROR event, or a resume from a compacted resourceVersion): relist.
* A clean end of the stream (server ``timeoutSeconds``) or a dropped connection: resume the watch
  from the last resourceVersion, no relist.
* Unreachable API server: RECONNECTING with the reason, exponential backoff with jitter.
* Half-open connection: the server-side ``timeout_seconds`` plus a client ``sock_read`` timeout
  longer than it (``_request_timeout=(connect, sock_read)``) turns silence into a timeout and a
  reconnect; a watch never hangs.
* 401/403 or a broken kubeconfig: ERROR with the reason, retried every ``error_retry`` seconds
  (the kubeconfig is re-read each time, so a fixed file recovers), never a crash.
* A non-JSON line or a plain-text error body: a watcher-level error event, then a reconnect.

Every ApiClient and Watch is closed, on cancel too. kubernetes_asyncio is imported inside
functions only, so importing this module (and starting an app that resumes nothing) does not pay
for it (about 0.4 s).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import time
from collections import abc
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Mapping

from ..domain.components import (
    FLUX_NAMESPACE,
    HELMRELEASE_GROUP,
    HELMRELEASE_PLURAL,
    HELMRELEASE_VERSION,
    Derived,
    derive,
)
from ..domain.statuses import ComponentState
from .kubeconfig import KubeconfigError, describe_host, load_configuration
from .state import WatcherStatus, WatchPhase

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]

#: A watch gives the event loop a turn after this many events read in a row.
YIELD_EVERY = 64


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class WatchConfig:
    namespace: str = FLUX_NAMESPACE
    #: Server-side timeout of each watch request; the watch then resumes from its resourceVersion.
    timeout_seconds: int = 240
    connect_timeout: float = 10.0
    #: Client read timeout = timeout_seconds + read_grace: silence longer than that is a dead connection.
    read_grace: float = 15.0
    #: Client read timeout of the LIST request.
    list_timeout: float = 60.0
    backoff_initial: float = 0.5
    backoff_factor: float = 2.0
    backoff_max: float = 30.0
    #: Each delay is reduced by up to this fraction at random (so a fleet does not retry in lockstep).
    jitter: float = 0.5
    #: Retry interval after 401/403/404 or a broken kubeconfig.
    error_retry: float = 60.0
    bookmarks: bool = True

    @property
    def watch_request_timeout(self) -> tuple[float, float]:
        return (self.connect_timeout, self.timeout_seconds + self.read_grace)

    @property
    def list_request_timeout(self) -> tuple[float, float]:
        return (self.connect_timeout, self.list_timeout)


class WatchListener:
    """What the watcher tells its owner. Override what you need; every call is synchronous and
    runs in the watcher's task."""

    def on_transition(self, watcher: "HelmReleaseWatcher", derived: Derived, previous: ComponentState | None) -> None:
        """A component's state changed (or was seen for the first time by this watcher)."""

    def on_synced(self, watcher: "HelmReleaseWatcher") -> None:
        """The initial list was processed."""

    def on_watch_event(self, watcher: "HelmReleaseWatcher", level: str, message: str) -> None:
        """A watcher-level diagnostic (reconnecting, error, recovered), already de-duplicated."""

    def on_status(self, watcher: "HelmReleaseWatcher") -> None:
        """Anything in ``watcher.status`` changed (phase, reason, components, last event)."""


@dataclass
class WatchStats:
    lists: int = 0
    watches: int = 0
    relists_410: int = 0
    reconnects: int = 0
    events: int = 0
    garbage: int = 0
    auth_errors: int = 0
    kubeconfig_errors: int = 0
    read_timeouts: int = 0


class _Retry(Exception):
    """Internal: a transient watch failure (reconnect with backoff)."""

    def __init__(self, reason: str, level: str = "warn", *, kind: str = "transient") -> None:
        super().__init__(reason)
        self.reason = reason
        self.level = level
        self.kind = kind


class _Fatalish(Exception):
    """Internal: ERROR state (auth, missing API); reload the kubeconfig after ``error_retry``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _one_line(text: Any, limit: int = 200) -> str:
    s = " ".join(str(text).split())
    return s if len(s) <= limit else s[: limit - 1] + "…"


# --- one SSL context per distinct trust configuration ------------------------------------------------
#: kubernetes_asyncio (36.1) builds ``ssl.create_default_context(cafile=cfg.ssl_ca_cert)`` for every
#: ApiClient: with no CA file that loads the whole system bundle (~0.9 MB and ~21 ms of CPU on the
#: event loop per Sovereign), and each re-read of a kubeconfig (errors, reloads) builds another.
#: Configurations that trust the same thing share one context here: the key is the exact CA
#: certificates (their bytes' SHA-256; None = the system bundle), so a kubeconfig embedding its
#: own CA only ever verifies against that CA. Configurations the library would modify the context
#: for (a client certificate, insecure-skip-tls-verify, relaxed X.509 checks) keep their own.
_SHARED_SSL: dict[tuple[str, bytes], Any] = {}
_SHARED_SSL_MAX = 64
_MAX_CA_BYTES = 4 * 1024 * 1024


def _shared_ssl_context(cfg: Any) -> Any:
    """The context to share for ``cfg``, or None when it must get its own (or the library should
    report a problem with its CA file itself)."""
    import hashlib
    import ssl

    if getattr(cfg, "cert_file", None) or getattr(cfg, "key_file", None):
        return None
    if not getattr(cfg, "verify_ssl", True) or getattr(cfg, "disable_strict_ssl_verification", False):
        return None
    cafile = getattr(cfg, "ssl_ca_cert", None)
    if cafile:
        try:
            with open(cafile, "rb") as fh:
                data = fh.read(_MAX_CA_BYTES + 1)
        except (OSError, TypeError, ValueError):
            return None
        if len(data) > _MAX_CA_BYTES:
            return None
        key = ("ca", hashlib.sha256(data).digest())
    else:
        key = ("system", b"")
    ctx = _SHARED_SSL.get(key)
    if ctx is not None:
        return ctx
    try:
        # exactly what the library does for this configuration
        ctx = ssl.create_default_context(cafile=cafile or None)
    except (OSError, ValueError, ssl.SSLError):
        return None  # the library raises the same error with its own message
    if cafile:
        try:  # the file must still be what was hashed (it could be rewritten meanwhile)
            with open(cafile, "rb") as fh:
                if fh.read(_MAX_CA_BYTES + 1) != data:
                    return ctx  # use it once, do not share it
        except OSError:
            return ctx
    if len(_SHARED_SSL) >= _SHARED_SSL_MAX:
        _SHARED_SSL.pop(next(iter(_SHARED_SSL)))
    _SHARED_SSL[key] = ctx
    return ctx


class _SSLModuleWithContext:
    """``ssl`` as kubernetes_asyncio's rest module sees it while one ApiClient is built:
    ``create_default_context`` returns the given (shared) context, everything else is ``ssl``."""

    def __init__(self, ctx: Any) -> None:
        self._ctx = ctx

    def create_default_context(self, *args: Any, **kwargs: Any) -> Any:
        return self._ctx

    def __getattr__(self, name: str) -> Any:
        import ssl

        return getattr(ssl, name)


def new_api_client(cfg: Any) -> Any:
    """``client.ApiClient(configuration=cfg)``, sharing the SSL context when the configuration's
    trust is the same as an earlier one's (see ``_shared_ssl_context``)."""
    from kubernetes_asyncio import client
    from kubernetes_asyncio.client import rest

    ctx = _shared_ssl_context(cfg)
    if ctx is None:
        return client.ApiClient(configuration=cfg)
    real = rest.ssl
    # Synchronous (no await): nothing else can build a client while the name is swapped.
    rest.ssl = _SSLModuleWithContext(ctx)  # type: ignore[assignment]
    try:
        return client.ApiClient(configuration=cfg)
    finally:
        rest.ssl = real


_WATCH_CLASS: Any = None


def _watch_class() -> Any:
    """kubernetes_asyncio's Watch, minus its private ApiClient.

    ``watch.Watch()`` builds an ``ApiClient()`` from the default Configuration only to deserialize
    events into models (about 21 ms of CPU each, for an SSL context). HelmReleases are custom
    objects that stay dicts, so this subclass skips that client and the json round trip; the
    HTTP request, the line reader, 410/ERROR handling and resourceVersion tracking are the
    library's. Still used as ``async with``: ``close()`` releases the response on every exit.
    """
    global _WATCH_CLASS
    if _WATCH_CLASS is None:
        from kubernetes_asyncio import watch

        class HelmReleaseWatch(watch.Watch):  # type: ignore[misc]
            def __init__(self) -> None:  # noqa: D401 - no super().__init__: no ApiClient
                self._raw_return_type = None
                self._stop = False
                self._api_client = None
                self.resource_version = None
                self.resp = None

            def unmarshal_event(self, data: Any, response_type: Any) -> Any:
                return super().unmarshal_event(data, None)

            async def close(self) -> None:
                if self.resp is not None:
                    self.resp.release()
                    self.resp = None

        _WATCH_CLASS = HelmReleaseWatch
    return _WATCH_CLASS


class HelmReleaseWatcher:
    """Watch one Sovereign's HelmReleases until cancelled. Use ``await watcher.run()`` in a task."""

    def __init__(
        self,
        record_id: str,
        kubeconfig_path: str,
        *,
        status: WatcherStatus | None = None,
        config: WatchConfig | None = None,
        listener: WatchListener | None = None,
        clock: Clock = utcnow,
        rng: random.Random | None = None,
    ) -> None:
        self.record_id = record_id
        self.kubeconfig_path = kubeconfig_path
        self.status = status or WatcherStatus(record_id=record_id)
        self.config = config or WatchConfig()
        self.listener = listener or WatchListener()
        self.clock = clock
        self.rng = rng or random.Random()
        #: The state map: empty at start, so every component's first sight is a transition.
        self.states: dict[str, ComponentState] = {}
        self.resource_version: str | None = None
        self.stats = WatchStats()
        self.host = ""
        self._need_list = True
        self._failures = 0
        self._consecutive_410 = 0
        self._quick_empty = 0
        self._last_emitted: tuple[str, str] | None = None
        self._troubled = False

    # --- status / events ------------------------------------------------------------------
    def _set_phase(self, phase: WatchPhase, reason: str = "") -> None:
        st = self.status
        if st.phase != phase or st.reason != reason:
            st.phase = phase
            st.reason = reason
            self.listener.on_status(self)

    def _emit(self, level: str, message: str) -> None:
        key = (level, message)
        if key == self._last_emitted:
            return
        self._last_emitted = key
        self.listener.on_watch_event(self, level, message)

    def _healthy(self) -> None:
        """Data flows again: reset backoff, clear the problem, say so once."""
        self._failures = 0
        if self._troubled:
            self._troubled = False
            self._emit("info", f"HelmRelease watch re-established on {self.host or 'the API server'}")
        self._set_phase(WatchPhase.WATCHING, "")

    def _trouble(self, phase: WatchPhase, reason: str, level: str) -> None:
        self._troubled = True
        self._set_phase(phase, reason)
        self._emit(level, reason if phase == WatchPhase.ERROR else f"HelmRelease watch reconnecting: {reason}")

    def _backoff(self) -> float:
        cfg = self.config
        base = min(cfg.backoff_max, cfg.backoff_initial * (cfg.backoff_factor ** self._failures))
        self._failures += 1
        return base * (1.0 - cfg.jitter * self.rng.random())

    def _error_delay(self) -> float:
        return self.config.error_retry * (1.0 - self.config.jitter / 2 * self.rng.random())

    # --- observations ------------------------------------------------------------------------
    def _observe(self, obj: Any) -> None:
        if type(obj) is not dict and not isinstance(obj, abc.Mapping):  # (typing.Mapping: 2x slower)
            return
        d = derive(obj)
        if d is None:
            return
        self.status.components[d.component] = d
        prev = self.states.get(d.component)
        if prev != d.state:
            self.states[d.component] = d.state
            self.listener.on_transition(self, d, prev)

    def _touch(self) -> None:
        self.status.last_event_at = self.clock()

    # --- main loop -------------------------------------------------------------------------
    async def run(self) -> None:
        """Watch until cancelled. Never raises for cluster or kubeconfig trouble."""
        self._set_phase(WatchPhase.CONNECTING, "")
        while True:
            try:
                cfg = await load_configuration(self.kubeconfig_path)
            except KubeconfigError as exc:
                self.stats.kubeconfig_errors += 1
                self._trouble(WatchPhase.ERROR, str(exc), "error")
                await asyncio.sleep(self._error_delay())
                continue
            self.host = describe_host(cfg)
            from kubernetes_asyncio import client

            api_client = new_api_client(cfg)
            try:
                await self._session(client.CustomObjectsApi(api_client))
            except _Fatalish as exc:
                self._trouble(WatchPhase.ERROR, exc.reason, "error")
            finally:
                await api_client.close()
            await asyncio.sleep(self._error_delay())

    async def _session(self, api: Any) -> None:
        """List/watch with one ApiClient until an error that needs the kubeconfig re-read."""
        import aiohttp
        from kubernetes_asyncio.client.exceptions import ApiException

        while True:
            try:
                if self._need_list:
                    await self._list(api)
                await self._watch_once(api)
            except ApiException as exc:
                problem = self._classify_api_exception(exc)  # raises _Fatalish for 401/403/404
                if problem is not None:
                    self._trouble(WatchPhase.RECONNECTING, *problem)
            except _Retry as exc:
                if exc.kind == "garbage":
                    self.stats.garbage += 1
                self._trouble(WatchPhase.RECONNECTING, exc.reason, exc.level)
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                self._trouble(WatchPhase.RECONNECTING, self._network_reason(exc), "warn")
            else:
                continue  # clean end (server timeout): resume from the resourceVersion at once
            self.stats.reconnects += 1
            if self._need_list and self._consecutive_410 > 0:
                if self._consecutive_410 == 1:
                    continue  # a single 410: relist at once
                self._failures = max(self._failures, self._consecutive_410 - 2)
            await asyncio.sleep(self._backoff())

    def _classify_api_exception(self, exc: Any) -> tuple[str, str] | None:
        """(reason, level) of a transient API error; None when handled (410); raises _Fatalish."""
        status = int(getattr(exc, "status", 0) or 0)
        reason = _one_line(getattr(exc, "reason", "") or "")
        body = getattr(exc, "body", None)
        if status == 410:
            self.stats.relists_410 += 1
            self._consecutive_410 += 1
            self._need_list = True
            if self._consecutive_410 > 2:
                return (f"410 Gone {self._consecutive_410} times in a row; relisting with backoff", "warn")
            self._set_phase(WatchPhase.RECONNECTING, "resourceVersion expired (410 Gone); relisting")
            return None
        if status in (401, 403):
            self.stats.auth_errors += 1
            what = "401 Unauthorized: the API server rejected the kubeconfig's credentials" if status == 401 else \
                "403 Forbidden: the kubeconfig's identity may not list HelmReleases in flux-system"
            raise _Fatalish(what)
        if status == 404:
            raise _Fatalish("404 Not Found: the API server does not serve helm.toolkit.fluxcd.io/v2 HelmReleases (Flux CRDs absent?)")
        detail = reason
        if isinstance(body, (str, bytes)) and body:
            text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
            if not text.lstrip().startswith("{"):
                detail = f"{reason}: {_one_line(text, 80)}" if reason else _one_line(text, 80)
        return (f"HTTP {status}: {detail}" if status else f"API error: {detail}", "warn")

    def _network_reason(self, exc: BaseException) -> str:
        import aiohttp

        if isinstance(exc, aiohttp.ClientConnectorError):
            err = exc.os_error
            why = getattr(err, "strerror", None) or _one_line(err) or type(err).__name__
            return f"cannot connect to {exc.host}:{exc.port}: {why}"
        if isinstance(exc, aiohttp.ServerDisconnectedError):
            return "the API server closed the connection"
        if isinstance(exc, aiohttp.ClientPayloadError):
            return "the watch stream broke off (connection dropped)"
        if isinstance(exc, TimeoutError):  # incl. aiohttp.SocketTimeoutError
            self.stats.read_timeouts += 1
            return f"no data from the API server within {self.config.timeout_seconds + self.config.read_grace:g}s (half-open connection?)"
        return _one_line(f"{type(exc).__name__}: {exc}")

    async def _list(self, api: Any) -> None:
        cfg = self.config
        self.stats.lists += 1
        result = await api.list_namespaced_custom_object(
            HELMRELEASE_GROUP, HELMRELEASE_VERSION, cfg.namespace, HELMRELEASE_PLURAL,
            _request_timeout=cfg.list_request_timeout,
        )
        if not isinstance(result, Mapping) or not isinstance(result.get("items"), list):
            raise _Retry("the HelmRelease list is not a JSON list object (garbage from the API server)", "error", kind="garbage")
        meta = result.get("metadata")
        rv = meta.get("resourceVersion") if isinstance(meta, Mapping) else None
        for item in result["items"]:
            self._observe(item)
        self.resource_version = str(rv) if rv else None
        self._need_list = False
        self._touch()
        if not self.status.synced:
            self.status.synced = True
            self.listener.on_synced(self)
        self._healthy()

    async def _watch_once(self, api: Any) -> None:
        """One watch request: returns on a clean end, raises on anything else."""
        from kubernetes_asyncio.client.exceptions import ApiException
        import aiohttp

        cfg = self.config
        self.stats.watches += 1
        kwargs: dict[str, Any] = {
            "timeout_seconds": cfg.timeout_seconds,
            "allow_watch_bookmarks": cfg.bookmarks,
            "_request_timeout": cfg.watch_request_timeout,
        }
        if self.resource_version:
            kwargs["resource_version"] = self.resource_version

        list_fn = api.list_namespaced_custom_object

        async def opening(*args: Any, **kw: Any) -> Any:
            resp = await list_fn(*args, **kw)
            if getattr(resp, "status", 0) == 200 and not self._need_list:
                self._healthy()
            return resp

        functools.update_wrapper(opening, list_fn)  # Watch reads the docstring for the return type
        started = time.monotonic()
        got = 0
        async with _watch_class()() as w:
            stream = w.stream(opening, HELMRELEASE_GROUP, HELMRELEASE_VERSION, cfg.namespace, HELMRELEASE_PLURAL, **kwargs)
            while True:
                try:
                    event = await stream.__anext__()
                except StopAsyncIteration:
                    break
                except (ApiException, aiohttp.ClientError, OSError, TimeoutError):
                    raise
                except Exception as exc:  # the library choked on a line: malformed JSON event
                    raise _Retry(f"malformed event on the watch stream: {_one_line(exc, 120)}", "error", kind="garbage") from None
                if not isinstance(event, dict):
                    status = getattr(w.resp, "status", 200) if w.resp is not None else 200
                    text = _one_line(event, 80)
                    if status in (401, 403):
                        self.stats.auth_errors += 1
                        raise _Fatalish(f"{status} {'Unauthorized' if status == 401 else 'Forbidden'} (plain-text body: {text!r})")
                    if status >= 400:
                        raise _Retry(f"HTTP {status} with a plain-text body: {text!r}", "error", kind="garbage")
                    raise _Retry(f"non-JSON line on the watch stream: {text!r}", "error", kind="garbage")
                got += 1
                if not got % YIELD_EVERY:
                    # A line already buffered is returned without suspending: a stream with
                    # thousands of events queued would otherwise hold the event loop for all of
                    # them (the dashboard, other watches and the store wait for that turn).
                    await asyncio.sleep(0)
                etype = event.get("type")
                if w.resource_version:
                    self.resource_version = str(w.resource_version)
                if etype in ("ADDED", "MODIFIED"):
                    self.stats.events += 1
                    self._observe(event.get("raw_object"))
                    self._touch()
                elif etype == "DELETED":
                    self.stats.events += 1  # catalyst-api ignores deletes: the last state stands
                    self._touch()
                self._consecutive_410 = 0
                self._healthy()
        if got == 0 and time.monotonic() - started < min(1.0, cfg.timeout_seconds / 2):
            # An empty 200 straight away, again and again, is not a watch: do not spin on it.
            self._quick_empty += 1
            if self._quick_empty >= 3:
                raise _Retry("the API server keeps ending the watch at once without any event", "warn")
        else:
            self._quick_empty = 0
