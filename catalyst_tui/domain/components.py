"""How a HelmRelease becomes a component state, and what a record says its components are (§4, §9).

Everything here is pure and takes plain dicts, so the watcher, the store summaries and the UI
share one implementation and the table tests need no event loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from collections import abc
from typing import Any, Iterable, Mapping

from .statuses import ComponentState

BP_PREFIX = "bp-"
FLUX_NAMESPACE = "flux-system"
HELMRELEASE_GROUP = "helm.toolkit.fluxcd.io"
HELMRELEASE_VERSION = "v2"
HELMRELEASE_PLURAL = "helmreleases"

FAILURE_REASONS = frozenset({"InstallFailed", "UpgradeFailed", "ChartPullError", "ChartLoadError", "ArtifactFailed"})
PROGRESS_REASONS = frozenset({"Progressing", "ReconcileStarted", "DependencyNotReady"})

#: Message used when the Ready condition carries none.
FALLBACK_MESSAGE = {
    ComponentState.PENDING: "waiting for helm-controller to reconcile",
    ComponentState.INSTALLING: "helm install in progress",
    ComponentState.INSTALLED: "Helm install succeeded",
    ComponentState.DEGRADED: "HelmRelease is not ready",
    ComponentState.FAILED: "Helm install failed",
}

LEVEL_BY_STATE = {
    ComponentState.FAILED: "error",
    ComponentState.DEGRADED: "warn",
}

#: Longest condition message we keep (a HelmRelease message can be 100 KB of helm output).
MAX_MESSAGE = 4096


def is_bootstrap_release(name: str) -> bool:
    return name.startswith(BP_PREFIX)


def component_id(name: str) -> str:
    return name[len(BP_PREFIX):] if name.startswith(BP_PREFIX) else name


@dataclass(frozen=True)
class Derived:
    """A HelmRelease read through §4's rules."""

    component: str
    state: ComponentState
    reason: str
    message: str
    last_transition: str
    depends_on: tuple[str, ...]

    @property
    def level(self) -> str:
        return LEVEL_BY_STATE.get(self.state, "info")

    @property
    def event_message(self) -> str:
        return self.message or FALLBACK_MESSAGE[self.state]


def _is_map(value: Any) -> bool:
    # A watch delivers plain dicts: test that first (typing.Mapping isinstance costs ~0.4 us per call,
    # and derive runs for every watch event).
    return type(value) is dict or isinstance(value, abc.Mapping)


def _as_str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def ready_condition(hr: Mapping[str, Any]) -> Mapping[str, Any] | None:
    status = hr.get("status")
    if not _is_map(status):
        return None
    conditions = status.get("conditions")
    if not isinstance(conditions, list):
        return None
    for cond in conditions:
        if _is_map(cond) and cond.get("type") == "Ready":
            return cond
    return None


def derive_state(hr: Mapping[str, Any]) -> ComponentState:
    """``DeriveState``: only the Ready condition counts; ``spec.suspend: true`` is installed."""
    spec = hr.get("spec")
    if _is_map(spec) and spec.get("suspend") is True:
        return ComponentState.INSTALLED
    cond = ready_condition(hr)
    if cond is None:
        return ComponentState.PENDING
    status = cond.get("status")
    if status == "True":
        return ComponentState.INSTALLED
    if status == "False":
        message = _as_str(cond.get("message")).lower()
        if "dependency '" in message and "is not ready" in message:
            return ComponentState.PENDING
        reason = _as_str(cond.get("reason"))
        if reason in FAILURE_REASONS:
            return ComponentState.FAILED
        if reason in PROGRESS_REASONS:
            return ComponentState.INSTALLING
        return ComponentState.DEGRADED
    # "Unknown", or anything a broken object puts there.
    return ComponentState.INSTALLING


def depends_on(hr: Mapping[str, Any]) -> tuple[str, ...]:
    spec = hr.get("spec")
    deps = spec.get("dependsOn") if _is_map(spec) else None
    if not isinstance(deps, list):
        return ()
    out = []
    for dep in deps:
        name = dep.get("name") if _is_map(dep) else None
        if isinstance(name, str) and name:
            out.append(component_id(name))
    return tuple(out)


def derive(hr: Mapping[str, Any]) -> Derived | None:
    """Read a HelmRelease object; ``None`` when it is not a bootstrap-kit (``bp-``) release."""
    meta = hr.get("metadata")
    name = meta.get("name") if _is_map(meta) else None
    if not isinstance(name, str) or not is_bootstrap_release(name):
        return None
    cond = ready_condition(hr) or {}
    message = _as_str(cond.get("message"))
    if len(message) > MAX_MESSAGE:
        message = message[:MAX_MESSAGE] + f"… [{len(message) - MAX_MESSAGE} more characters]"
    return Derived(
        component=component_id(name),
        state=derive_state(hr),
        reason=_as_str(cond.get("reason")),
        message=message,
        last_transition=_as_str(cond.get("lastTransitionTime")),
        depends_on=depends_on(hr),
    )


# --- what a record says ------------------------------------------------------------------------

def states_from_events(events: Iterable[Mapping[str, Any]] | None) -> dict[str, str]:
    """Last ``component`` event per component wins (events repeat after every resume, §3.3)."""
    states: dict[str, str] = {}
    for ev in events or ():
        if ev.get("phase") == "component":
            comp = ev.get("component")
            state = ev.get("state")
            if isinstance(comp, str) and comp and isinstance(state, str) and state:
                states[comp] = state
    return states


def current_states(result: Mapping[str, Any] | None, events: Iterable[Mapping[str, Any]] | None) -> dict[str, str]:
    """§9.4: ``componentStates`` once Phase 1 finished, otherwise the last event per component."""
    if isinstance(result, Mapping) and result.get("phase1FinishedAt") and isinstance(result.get("componentStates"), Mapping):
        return {k: v for k, v in result["componentStates"].items() if isinstance(v, str)}
    return states_from_events(events)


def progress(states: Mapping[str, str]) -> tuple[int, int]:
    """(installed, total)."""
    return sum(1 for s in states.values() if s == ComponentState.INSTALLED.value), len(states)
