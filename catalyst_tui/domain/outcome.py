"""When Phase 1 ends and how it ends (domain reference §2.2, latest era). Pure: no I/O, no clock.

* :class:`Phase1Tracker` is ``helmwatch.Watcher``'s classification: it takes component
  observations, the initial-list sync and clock ticks, and says when Phase 1 terminates and with
  which outcome (``ready``, ``failed``, ``timeout``, ``flux-not-reconciling``).
* :func:`mark_phase1_done` is ``markPhase1Done`` with the latest-era mapping: it stamps the record
  (``componentStates``, ``phase1FinishedAt``, ``phase1Outcome``, ``finishedAt``, status and
  error) and never downgrades ``adopted``.

Configuration comes from catalyst-api's env vars (:meth:`Phase1Config.from_env`); durations are Go
durations ("10m", "90s", "1h30m") or plain seconds.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Mapping

from . import statuses
from .record import Event, Record, format_time
from .statuses import ComponentState

# --- configuration ------------------------------------------------------------------------------

ENV_MIN_COMPONENTS = "CATALYST_PHASE1_MIN_BOOTSTRAP_KIT_HRS"
ENV_LATE_POLL_TIMEOUT = "CATALYST_PHASE1_LATE_POLL_TIMEOUT"
ENV_WATCH_TIMEOUT = "CATALYST_PHASE1_WATCH_TIMEOUT"
ENV_FIRST_SEEN_TIMEOUT = "CATALYST_PHASE1_FIRST_SEEN_TIMEOUT"
ENV_READY_SENTINEL = "CATALYST_PHASE1_READY_SENTINEL"

DEFAULT_MIN_COMPONENTS = 11
DEFAULT_LATE_POLL_TIMEOUT = 600.0
DEFAULT_WATCH_TIMEOUT = 7200.0
DEFAULT_FIRST_SEEN_TIMEOUT = 900.0

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def parse_duration(text: str) -> float:
    """Seconds from a Go duration ("10m", "90s", "1h30m", "1.5h", "300ms") or plain seconds ("600").

    Raises ValueError (one line) for anything else, including negative durations."""
    s = text.strip()
    if not s:
        raise ValueError("empty duration")
    if re.fullmatch(r"\d+(\.\d+)?", s):
        return float(s)
    if s.startswith("-"):
        raise ValueError(f"negative duration {text!r}")
    if s.startswith("+"):
        s = s[1:]
    pos = 0
    total = 0.0
    for m in _PART.finditer(s):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos != len(s) or pos == 0:
        raise ValueError(f"invalid duration {text!r} (expected e.g. 10m, 90s, 1h30m or seconds)")
    return total


def format_duration(seconds: float) -> str:
    """Go's ``Duration.String()`` for the common cases: 900 -> "15m0s", 90 -> "1m30s", 0.3 -> "300ms"."""
    if seconds == 0:
        return "0s"
    neg = seconds < 0
    seconds = abs(seconds)
    if seconds < 1:
        ms = seconds * 1000
        text = f"{ms:.6f}".rstrip("0").rstrip(".") + "ms"
        return ("-" if neg else "") + text
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    s_text = f"{s:.9f}".rstrip("0").rstrip(".")
    out = ""
    if h:
        out = f"{int(h)}h{int(m)}m{s_text}s"
    elif m:
        out = f"{int(m)}m{s_text}s"
    else:
        out = f"{s_text}s"
    return ("-" if neg else "") + out


@dataclass(frozen=True)
class Phase1Config:
    #: Terminate-on-all-done needs at least this many components (HEAD default 11).
    min_components: int = DEFAULT_MIN_COMPONENTS
    #: Failures open a window this long in which recovery to all-installed still gives ``ready``.
    late_poll_timeout: float = DEFAULT_LATE_POLL_TIMEOUT
    #: The whole watch's budget, from the (re)start of the watch.
    watch_timeout: float = DEFAULT_WATCH_TIMEOUT
    #: One warning event when no bootstrap-kit HelmRelease was seen this long after the start.
    first_seen_timeout: float = DEFAULT_FIRST_SEEN_TIMEOUT
    #: Latest builds also wait for this component ("catalyst-platform"); empty = no sentinel.
    ready_sentinel: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, problems: list[str] | None = None) -> "Phase1Config":
        """Read catalyst-api's env vars. An invalid value keeps the default and, when ``problems``
        is given, appends a one-line explanation to it."""
        env = os.environ if env is None else env
        kw: dict[str, object] = {}

        def bad(name: str, value: str, why: str) -> None:
            if problems is not None:
                problems.append(f"{name}={value[:40]!r} ignored: {why}")

        raw = env.get(ENV_MIN_COMPONENTS)
        if raw not in (None, ""):
            try:
                n = int(raw.strip())
                if n < 0:
                    raise ValueError("negative")
                kw["min_components"] = n
            except ValueError:
                bad(ENV_MIN_COMPONENTS, raw, "expected a whole number >= 0")
        for name, key in ((ENV_LATE_POLL_TIMEOUT, "late_poll_timeout"), (ENV_WATCH_TIMEOUT, "watch_timeout"),
                          (ENV_FIRST_SEEN_TIMEOUT, "first_seen_timeout")):
            raw = env.get(name)
            if raw in (None, ""):
                continue
            try:
                value = parse_duration(raw)
                if key == "watch_timeout" and value <= 0:
                    raise ValueError("the watch timeout must be positive")
                kw[key] = value
            except ValueError as exc:
                bad(name, raw, str(exc))
        sentinel = env.get(ENV_READY_SENTINEL)
        if sentinel:
            kw["ready_sentinel"] = sentinel.strip().removeprefix("bp-")
        return cls(**kw)  # type: ignore[arg-type]


# --- messages (catalyst-api's, verbatim where the reference quotes them) --------------------------

FAILED_ERROR = "Phase 1 finished with {n} failed component(s); see ComponentStates for the per-component breakdown"
FLUX_NOT_RECONCILING_ERROR = (
    "Phase 1 watch saw zero HelmReleases — the bootstrap-kit Kustomization on the new Sovereign is not reconciling."
)
KUBECONFIG_MISSING_ERROR = (
    "Phase 1 watch never ran: the new Sovereign cluster did not PUT its kubeconfig to "
    "/api/v1/deployments/{id}/kubeconfig."
)
WATCHER_START_FAILED_ERROR = (
    "Phase 1 watch could not start (e.g. malformed kubeconfig or informer factory init failure)."
)
TIMEOUT_ERROR = (
    "Phase 1 watch timed out before convergence: {n} component(s) observed, none hard-failed, "
    "but not all reached installed within the watch budget."
)
FLUX_CRDS_ABSENT_ERROR = "Phase 1 watch could not find the HelmRelease CRD (helm.toolkit.fluxcd.io/v2) on the new Sovereign."
NO_OUTCOME_ERROR = "Phase 1 finished without an outcome (programming error); see ComponentStates for the per-component breakdown"
UNKNOWN_OUTCOME_ERROR = "Phase 1 finished with unknown outcome {outcome!r}; see ComponentStates for the per-component breakdown"

CONTEXT_TERMINATED = "Phase-1 watch terminated by context: {err} — see ComponentStates for current outcome"
FIRST_SEEN_WARNING = (
    "Phase 1 watch saw 0 HelmReleases in {d}; the bootstrap-kit Kustomization on the new Sovereign may not be "
    "reconciling — still watching"
)
LATE_POLL_STARTED = "{n} component(s) failed; late poll: waiting up to {d} for them to recover"
ALL_RECONCILED = "All {n} blueprints reconciled. Sovereign ready for handover."

WATCH_PHASE = "component"


def _watch_event(level: str, message: str, now: datetime) -> Event:
    """A watch-level event: phase ``component`` with no component (§4)."""
    return Event.make(WATCH_PHASE, level, message, at=now)


def _state(value: str | ComponentState) -> str:
    return value.value if isinstance(value, ComponentState) else str(value)


_TERMINAL = frozenset({ComponentState.INSTALLED.value, ComponentState.FAILED.value})


# --- the tracker ------------------------------------------------------------------------------------

class Phase1Tracker:
    """Decides when a (resumed) Phase-1 watch terminates. Feed it; read :attr:`outcome`.

    Every feeding method returns the watch-level events to append (the first-seen warning, the
    late-poll notice, the context-termination warning). Once :attr:`outcome` is set it stays set
    and further input is ignored.
    """

    def __init__(self, config: Phase1Config | None = None, *, started_at: datetime) -> None:
        self.config = config or Phase1Config()
        self.started_at = started_at
        self.states: dict[str, str] = {}
        self.synced = False
        self.first_seen_at: datetime | None = None
        self.first_seen_warned = False
        self.late_poll_started_at: datetime | None = None
        self.outcome: str | None = None
        self.finished_at: datetime | None = None
        #: Set by the owner while the watch cannot even start (the kubeconfig does not load). If it
        #: never synced by the watch timeout, the outcome is ``watcher-start-failed`` (catalyst-api's
        #: outcome for a malformed kubeconfig) rather than ``flux-not-reconciling``.
        self.start_failed = False

    # --- input ---------------------------------------------------------------------------------
    def observe(self, component: str, state: str | ComponentState, now: datetime) -> list[Event]:
        if self.outcome is not None:
            return []
        if self.first_seen_at is None:
            self.first_seen_at = now
        self.states[component] = _state(state)
        return self._evaluate(now)

    def mark_synced(self, now: datetime) -> list[Event]:
        if self.outcome is not None:
            return []
        self.synced = True
        return self._evaluate(now)

    def tick(self, now: datetime) -> list[Event]:
        if self.outcome is not None:
            return []
        return self._evaluate(now)

    # --- views ---------------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        return self.outcome is not None

    @property
    def in_late_poll(self) -> bool:
        return self.late_poll_started_at is not None and self.outcome is None

    @property
    def watch_deadline(self) -> datetime:
        return self.started_at + timedelta(seconds=self.config.watch_timeout)

    @property
    def late_poll_deadline(self) -> datetime | None:
        if self.late_poll_started_at is None:
            return None
        return self.late_poll_started_at + timedelta(seconds=self.config.late_poll_timeout)

    def next_deadline(self) -> datetime | None:
        """The next moment :meth:`tick` can change something (None once done)."""
        if self.outcome is not None:
            return None
        if self.late_poll_started_at is not None:
            return self.late_poll_deadline
        out = self.watch_deadline
        if self.first_seen_at is None and not self.first_seen_warned:
            out = min(out, self.started_at + timedelta(seconds=self.config.first_seen_timeout))
        return out

    def failed_components(self) -> list[str]:
        return sorted(c for c, s in self.states.items() if s == ComponentState.FAILED.value)

    def all_done_ready(self) -> bool:
        """Terminate-on-all-done holds (every gate), regardless of failures."""
        cfg = self.config
        if not self.synced or self.first_seen_at is None:
            return False
        if len(self.states) < max(1, cfg.min_components):
            return False
        if cfg.ready_sentinel and cfg.ready_sentinel not in self.states:
            return False
        return all(s in _TERMINAL for s in self.states.values())

    # --- rules ---------------------------------------------------------------------------------
    def _finish(self, outcome: str, now: datetime) -> None:
        self.outcome = outcome
        self.finished_at = now

    def _evaluate(self, now: datetime) -> list[Event]:
        cfg = self.config
        events: list[Event] = []
        if self.late_poll_started_at is not None:
            if self.all_done_ready() and not self.failed_components():
                self._finish(statuses.OUTCOME_READY, now)
            elif now >= self.late_poll_deadline:  # type: ignore[operator]
                self._finish(statuses.OUTCOME_FAILED, now)
            return events
        if self.all_done_ready():
            failed = self.failed_components()
            if not failed:
                self._finish(statuses.OUTCOME_READY, now)
            elif cfg.late_poll_timeout > 0:
                self.late_poll_started_at = now
                events.append(_watch_event("warn", LATE_POLL_STARTED.format(
                    n=len(failed), d=format_duration(cfg.late_poll_timeout)), now))
            else:
                self._finish(statuses.OUTCOME_FAILED, now)
            return events
        if now >= self.watch_deadline:
            if self.first_seen_at is not None:
                outcome = statuses.OUTCOME_TIMEOUT
            elif self.start_failed and not self.synced:
                outcome = statuses.OUTCOME_WATCHER_START_FAILED
            else:
                outcome = statuses.OUTCOME_FLUX_NOT_RECONCILING
            self._finish(outcome, now)
            events.append(_watch_event("warn", CONTEXT_TERMINATED.format(err="context deadline exceeded"), now))
            return events
        if (self.first_seen_at is None and not self.first_seen_warned
                and now >= self.started_at + timedelta(seconds=cfg.first_seen_timeout)):
            self.first_seen_warned = True
            events.append(_watch_event("warn", FIRST_SEEN_WARNING.format(d=format_duration(cfg.first_seen_timeout)), now))
        return events


# --- markPhase1Done ---------------------------------------------------------------------------------

def phase1_status(outcome: str, states: Mapping[str, str]) -> tuple[str, str]:
    """(status, error) for an outcome, latest-era mapping (§2.2): only ``ready`` with zero failed
    components is ``ready``; a ``timeout`` is ``failed`` (#3018); unknown outcomes are ``failed``."""
    failed = sum(1 for s in states.values() if s == ComponentState.FAILED.value)
    if outcome == statuses.OUTCOME_FLUX_NOT_RECONCILING:
        return statuses.FAILED, FLUX_NOT_RECONCILING_ERROR
    if outcome == statuses.OUTCOME_KUBECONFIG_MISSING:
        return statuses.FAILED, KUBECONFIG_MISSING_ERROR
    if outcome == statuses.OUTCOME_WATCHER_START_FAILED:
        return statuses.FAILED, WATCHER_START_FAILED_ERROR
    if outcome == "flux-crds-absent":
        return statuses.FAILED, FLUX_CRDS_ABSENT_ERROR
    if failed > 0:
        return statuses.FAILED, FAILED_ERROR.format(n=failed)
    if outcome == statuses.OUTCOME_READY:
        return statuses.READY, ""
    if outcome == statuses.OUTCOME_TIMEOUT:
        return statuses.FAILED, TIMEOUT_ERROR.format(n=len(states))
    if outcome == statuses.OUTCOME_FAILED:
        # the late poll ran out while a failed component was retrying: count what is not installed
        n = sum(1 for s in states.values() if s != ComponentState.INSTALLED.value) or 1
        return statuses.FAILED, FAILED_ERROR.format(n=n)
    if outcome == "" and not states:
        return statuses.FAILED, NO_OUTCOME_ERROR
    return statuses.FAILED, UNKNOWN_OUTCOME_ERROR.format(outcome=outcome)


def mark_phase1_done(record: Record, outcome: str, states: Mapping[str, str], now: datetime) -> list[Event]:
    """``markPhase1Done``: stamp the record and return the events to append (not appended here).

    No-op (returns []) if ``result`` is None or the record is ``adopted``. The caller persists at
    once and then, only if the outcome is ``ready`` and the status became ``ready``, fires the
    handover."""
    if record.result is None or record.status == statuses.ADOPTED:
        return []
    result = record.result
    snapshot = {k: _state(v) for k, v in states.items()}
    result.componentStates = snapshot or None
    result.phase1FinishedAt = format_time(now)
    result.phase1Outcome = outcome
    result.phase1Substate = ""
    record.finishedAt = format_time(now)
    status, error = phase1_status(outcome, snapshot)
    record.status = status
    record.error = error
    if status == statuses.READY:
        return [_watch_event("info", ALL_RECONCILED.format(n=len(snapshot)), now)]
    return [_watch_event("error", error, now)]


def should_fire_handover(outcome: str, record: Record) -> bool:
    """§5.3: only after a ``ready`` outcome that left the record ``ready``."""
    return outcome == statuses.OUTCOME_READY and record.status == statuses.READY
