"""Every §4 DeriveState rule as a table, plus what derive() makes of odd HelmReleases."""

from __future__ import annotations

from typing import Any

import pytest

from catalyst_tui.domain.components import (
    FAILURE_REASONS,
    FALLBACK_MESSAGE,
    MAX_MESSAGE,
    PROGRESS_REASONS,
    component_id,
    derive,
    derive_state,
)
from catalyst_tui.domain.statuses import ComponentState as S


def hr(*conditions: Any, name: str = "bp-cilium", spec: dict | None = None, status: Any = "__conds__") -> dict:
    obj: dict[str, Any] = {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
                           "metadata": {"name": name, "namespace": "flux-system"}}
    if spec is not None:
        obj["spec"] = spec
    if status == "__conds__":
        obj["status"] = {"conditions": list(conditions)}
    elif status is not None:
        obj["status"] = status
    return obj


def ready(status: str, reason: str = "", message: str = "") -> dict:
    return {"type": "Ready", "status": status, "reason": reason, "message": message,
            "lastTransitionTime": "2026-05-04T09:08:02Z"}


DEP = "dependency 'flux-system/bp-cilium' is not ready"

TABLE: list[tuple[str, dict, S]] = [
    # no Ready condition -> pending
    ("no status at all", hr(status=None), S.PENDING),
    ("status without conditions", hr(status={}), S.PENDING),
    ("status is a string", hr(status="weird"), S.PENDING),
    ("conditions is a dict", hr(status={"conditions": {"type": "Ready", "status": "True"}}), S.PENDING),
    ("conditions is a string", hr(status={"conditions": "Ready=True"}), S.PENDING),
    ("conditions is null", hr(status={"conditions": None}), S.PENDING),
    ("empty conditions", hr(), S.PENDING),
    ("conditions with non-dicts", hr("Ready", 42, None, ["Ready", "True"]), S.PENDING),
    ("only Released/Reconciling", hr({"type": "Released", "status": "True"}, {"type": "Reconciling", "status": "True"}), S.PENDING),
    ("Stalled=True is not consulted", hr({"type": "Stalled", "status": "True", "reason": "RetriesExceeded"}), S.PENDING),
    # Ready=True / Unknown
    ("Ready=True", hr(ready("True", "InstallSucceeded", "Helm install succeeded")), S.INSTALLED),
    ("Ready=True with a failure reason", hr(ready("True", "InstallFailed")), S.INSTALLED),
    ("Ready=Unknown", hr(ready("Unknown", "Progressing", "Reconciliation in progress")), S.INSTALLING),
    ("Ready=Unknown with a failure reason", hr(ready("Unknown", "InstallFailed")), S.INSTALLING),
    ("Ready=True after a non-Ready condition", hr({"type": "Released", "status": "False"}, ready("True")), S.INSTALLED),
    # Ready=False: the dependency-message rule, case-insensitive, before the reasons
    ("dependency message", hr(ready("False", "DependencyNotReady", DEP)), S.PENDING),
    ("dependency message, other reason", hr(ready("False", "InstallFailed", DEP)), S.PENDING),
    ("dependency message, upper case", hr(ready("False", "Whatever", "DEPENDENCY 'FLUX-SYSTEM/BP-X' IS NOT READY")), S.PENDING),
    ("dependency message, mixed case", hr(ready("False", "", "Dependency 'flux-system/bp-x' Is Not Ready yet")), S.PENDING),
    ("only half the dependency message (no quote)", hr(ready("False", "Other", "dependency flux-system/bp-x is not ready")), S.DEGRADED),
    ("only half the dependency message (no 'is not ready')", hr(ready("False", "Other", "dependency 'x' failed")), S.DEGRADED),
    # other reasons
    ("Ready=False, unknown reason", hr(ready("False", "HealthCheckFailed", "timed out waiting for pods")), S.DEGRADED),
    ("Ready=False, RetriesExceeded is degraded here", hr(ready("False", "RetriesExceeded")), S.DEGRADED),
    ("Ready=False, no reason", hr(ready("False")), S.DEGRADED),
    ("Ready=False, reason case matters", hr(ready("False", "installfailed")), S.DEGRADED),
    ("Ready=False, reason not a string", hr({"type": "Ready", "status": "False", "reason": 7}), S.DEGRADED),
    ("Ready=False, message not a string", hr({"type": "Ready", "status": "False", "reason": "Progressing", "message": ["x"]}), S.INSTALLING),
    # odd Ready status values
    ("Ready status lowercase true", hr(ready("true")), S.INSTALLING),
    ("Ready status missing", hr({"type": "Ready"}), S.INSTALLING),
    ("Ready status boolean", hr({"type": "Ready", "status": True}), S.INSTALLING),
    # spec.suspend
    ("suspended counts as installed", hr(ready("False", "InstallFailed"), spec={"suspend": True}), S.INSTALLED),
    ("suspended without status", hr(status=None, spec={"suspend": True}), S.INSTALLED),
    ("suspend false", hr(ready("False", "InstallFailed"), spec={"suspend": False}), S.FAILED),
    ("suspend string 'true' is not suspend", hr(ready("Unknown"), spec={"suspend": "true"}), S.INSTALLING),
    ("spec not a dict", hr(ready("True"), spec="x"), S.INSTALLED),  # type: ignore[arg-type]
]
TABLE += [(f"failure reason {r}", hr(ready("False", r, "boom")), S.FAILED) for r in sorted(FAILURE_REASONS)]
TABLE += [(f"progress reason {r}", hr(ready("False", r, "working")), S.INSTALLING) for r in sorted(PROGRESS_REASONS)]


@pytest.mark.parametrize("case,obj,expected", TABLE, ids=[c for c, *_ in TABLE])
def test_derive_state(case: str, obj: dict, expected: S) -> None:
    assert derive_state(obj) == expected
    d = derive(obj)
    assert d is not None and d.state == expected and d.component == "cilium"


def test_reason_lists_are_the_references() -> None:
    assert FAILURE_REASONS == {"InstallFailed", "UpgradeFailed", "ChartPullError", "ChartLoadError", "ArtifactFailed"}
    assert PROGRESS_REASONS == {"Progressing", "ReconcileStarted", "DependencyNotReady"}


@pytest.mark.parametrize("obj", [
    {"metadata": {"name": "podinfo"}},
    {"metadata": {"name": "cilium"}},
    {"metadata": {"name": "xbp-cilium"}},
    {"metadata": {}},
    {"metadata": "bp-cilium"},
    {},
    {"metadata": {"name": 42}},
])
def test_non_bootstrap_releases_are_ignored(obj: dict) -> None:
    assert derive(obj) is None


def test_component_id_strips_the_prefix_once() -> None:
    assert component_id("bp-catalyst-platform") == "catalyst-platform"
    assert component_id("bp-bp-x") == "bp-x"
    assert component_id("cilium") == "cilium"


def test_message_reason_and_depends_on() -> None:
    obj = hr(ready("False", "DependencyNotReady", DEP), name="bp-cert-manager",
             spec={"dependsOn": [{"name": "bp-cilium", "namespace": "flux-system"}, {"name": "flux"}, {"nope": 1}, "x", {"name": ""}]})
    d = derive(obj)
    assert d is not None
    assert d.message == DEP and d.reason == "DependencyNotReady"
    assert d.depends_on == ("cilium", "flux")
    assert d.last_transition == "2026-05-04T09:08:02Z"
    assert derive(hr(ready("True"), spec={"dependsOn": "bp-x"})).depends_on == ()  # type: ignore[union-attr]


@pytest.mark.parametrize("state,level", [(S.FAILED, "error"), (S.DEGRADED, "warn"), (S.PENDING, "info"),
                                         (S.INSTALLING, "info"), (S.INSTALLED, "info")])
def test_level_and_fallback_message(state: S, level: str) -> None:
    conds = {
        S.FAILED: ready("False", "InstallFailed"),
        S.DEGRADED: ready("False", "Other"),
        S.PENDING: None,
        S.INSTALLING: ready("Unknown"),
        S.INSTALLED: ready("True"),
    }[state]
    d = derive(hr(conds) if conds else hr())
    assert d is not None and d.state == state
    assert d.level == level
    assert d.message == "" and d.event_message == FALLBACK_MESSAGE[state]


def test_100kb_message_is_truncated_but_still_classified() -> None:
    big = "x" * 100_000 + " " + DEP  # the dependency text sits at the very end
    d = derive(hr(ready("False", "InstallFailed", big)))
    assert d is not None and d.state == S.PENDING  # rules read the whole message
    assert len(d.message) < MAX_MESSAGE + 60
    assert d.message.startswith("x" * 100) and "more characters]" in d.message
    failed = derive(hr(ready("False", "InstallFailed", "e" * 100_000)))
    assert failed is not None and failed.state == S.FAILED and len(failed.event_message) < MAX_MESSAGE + 60
