"""Every row of the §3.5 tables, with the post-fix expectation, plus the §3.4 matrix."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from catalyst_tui.domain import statuses
from catalyst_tui.domain.record import GO_ZERO_TIME, Record, to_catalyst_json, loads_record
from catalyst_tui.domain.restart import (
    ORPHAN_ERROR,
    after_restart,
    rehydrate,
    resume_decision,
)

NOW = datetime(2026, 5, 4, 10, 0, 0, tzinfo=timezone.utc)
ID = "3f9c2a7e1b8d4c60"


def rec(status: str, result: dict | None = None, rid: str = ID) -> Record:
    data = {"id": rid, "status": status, "request": {"sovereignFQDN": "acme.omani.works"},
            "startedAt": "2026-05-04T09:00:01.482913377Z", "finishedAt": GO_ZERO_TIME, "events": None}
    if result is not None:
        data["result"] = result
    return Record.model_validate(data)


@pytest.fixture
def kc(tmp_path: Path) -> dict[str, str]:
    kdir = tmp_path / "kubeconfigs"
    kdir.mkdir()
    existing = kdir / "existing.yaml"
    existing.write_text("apiVersion: v1\n")
    return {"dir": str(kdir), "existing": str(existing), "missing": str(kdir / "gone.yaml")}


# --- TestShouldResumePhase1_GatesProperly (post-fix expectations) ---------------------------------
@pytest.mark.parametrize(
    "case,result,status,expected",
    [
        ("no-result", None, "ready", False),
        ("empty-path", {"kubeconfigPath": ""}, "ready", False),
        ("already-finished", {"kubeconfigPath": "EXISTING", "phase1FinishedAt": "2026-05-04T09:31:12Z"}, "ready", False),
        ("in-flight-rewritten-to-failed", {"kubeconfigPath": "EXISTING"}, "phase1-watching", True),  # post-fix: true
        ("file-missing", {"kubeconfigPath": "MISSING"}, "ready", False),
        ("resume-candidate", {"kubeconfigPath": "EXISTING"}, "ready", True),
    ],
)
def test_should_resume_phase1_gates(case, result, status, expected, kc):
    if result and result.get("kubeconfigPath") == "EXISTING":
        result = {**result, "kubeconfigPath": kc["existing"]}
    if result and result.get("kubeconfigPath") == "MISSING":
        result = {**result, "kubeconfigPath": kc["missing"]}
    d = resume_decision(rec(status, result), kubeconfigs_dir=kc["dir"])
    assert d.resume is expected, (case, d.reason)
    assert d.reason


# --- TestShouldResumePhase1_ConventionalKubeconfigFallback ----------------------------------------
def test_conventional_fallback_resumes_and_stamps(kc):
    conv = Path(kc["dir"]) / f"{ID}.yaml"
    conv.write_text("apiVersion: v1\n")
    r = rec("phase1-watching", None)
    d = resume_decision(r, kubeconfigs_dir=kc["dir"])
    assert d.resume and d.kubeconfig_path == str(conv)
    out = rehydrate(r, now=NOW, kubeconfigs_dir=kc["dir"])
    assert out.after.result is not None and out.after.result.kubeconfigPath == str(conv)
    assert out.after.status == "phase1-watching" and out.persist and not out.stale
    assert r.result is None, "the input record is never mutated"


def test_conventional_fallback_no_file_anywhere_is_stale(kc):
    r = rec("phase1-watching", None)
    d = resume_decision(r, kubeconfigs_dir=kc["dir"])
    assert not d.resume and "no kubeconfig" in d.reason
    out = rehydrate(r, now=NOW, kubeconfigs_dir=kc["dir"])
    assert out.after.status == "phase1-watching"
    assert out.stale, "a phase1-watching record nobody can watch is reported as stale"
    assert not out.persist


def test_conventional_fallback_not_for_phase0(kc):
    (Path(kc["dir"]) / f"{ID}.yaml").write_text("apiVersion: v1\n")
    d = resume_decision(rec("tofu-applying", None), kubeconfigs_dir=kc["dir"])
    assert not d.resume and "Phase 0" in d.reason


# --- restart tests (phase1_watch_test.go), post-fix ------------------------------------------------
def test_phase1_watching_preserved_not_rewritten_to_failed(kc):
    out = rehydrate(rec("phase1-watching", {"sovereignFQDN": "acme.omani.works"}), now=NOW, kubeconfigs_dir=kc["dir"])
    assert out.after.status == "phase1-watching"
    assert out.after.error == ""


def test_phase1_watching_resumes_with_kubeconfig(kc):
    r = rec("phase1-watching", {"kubeconfigPath": kc["existing"]})
    assert resume_decision(r, kubeconfigs_dir=kc["dir"]).resume
    assert after_restart(r, now=NOW).status == "phase1-watching"
    out = rehydrate(r, now=NOW, kubeconfigs_dir=kc["dir"])
    assert out.decision.describe() == f"resumed: kubeconfig at {kc['existing']}"
    assert not out.persist, "nothing changed on disk"


@pytest.mark.parametrize("status", ["pending", "provisioning", "tofu-applying", "flux-bootstrapping"])
def test_phase0_in_flight_still_rewritten_to_failed(status, kc):
    out = rehydrate(rec(status), now=NOW, kubeconfigs_dir=kc["dir"])
    assert out.after.status == "failed"
    assert "catalyst-api restarted during provisioning" in out.after.error
    assert ID in out.after.error and "orphan" in out.after.error
    assert out.after.error == ORPHAN_ERROR.format(id=ID)
    assert out.after.finishedAt == "2026-05-04T10:00:00Z"
    assert out.persist and not out.decision.resume


def test_resume_rehydrates_component_states_roundtrip(kc):
    states = {"cilium": "installed", "cert-manager": "installed", "catalyst-platform": "failed"}
    r = rec("ready", {"kubeconfigPath": kc["existing"], "phase1FinishedAt": "2026-05-04T09:31:12.004118Z", "componentStates": states})
    out = rehydrate(r, now=NOW, kubeconfigs_dir=kc["dir"])
    assert not out.decision.resume and not out.persist
    text = to_catalyst_json(out.after)
    assert '"componentStates"' in text and '"cilium": "installed"' in text
    assert '"catalyst-platform": "failed"' in text and '"phase1FinishedAt"' in text
    back = loads_record(text)
    assert back.result.componentStates == states and back.result.kubeconfigPath == kc["existing"]


def test_ready_with_kubeconfig_and_no_phase1_finished_is_resumed(kc):
    """TestRestoreFromStore_ResumesHelmwatchWhenKubeconfigPathExists: terminal record, unfinished Phase 1."""
    out = rehydrate(rec("ready", {"kubeconfigPath": kc["existing"]}), now=NOW, kubeconfigs_dir=kc["dir"])
    assert out.decision.resume and out.after.status == "phase1-watching" and out.persist


def test_lost_kubeconfig_sets_error_without_changing_status(kc):
    r = rec("ready", {"kubeconfigPath": kc["missing"], "phase1FinishedAt": "2026-05-04T09:31:12Z"})
    after = after_restart(r, now=NOW)
    assert after.status == "ready"
    assert after.error == (
        f"kubeconfig file lost across catalyst-api restart: {kc['missing']} — "
        f"stat {kc['missing']}: no such file or directory"
    )


def test_orphan_error_replaces_lost_kubeconfig_message(kc):
    after = after_restart(rec("provisioning", {"kubeconfigPath": kc["missing"]}), now=NOW)
    assert after.error.startswith("catalyst-api restarted during provisioning")


@pytest.mark.parametrize("status", ["ready", "failed", "adopted", "partial-failure", "wiping", "wiped", "something-new"])
def test_terminal_and_unknown_statuses_keep_status(status, kc):
    r = rec(status, {"kubeconfigPath": kc["existing"], "phase1FinishedAt": "2026-05-04T09:31:12Z"})
    out = rehydrate(r, now=NOW, kubeconfigs_dir=kc["dir"])
    assert out.after.status == status and not out.persist and not out.decision.resume


def test_status_sets_have_names_that_say_what_they_mean():
    assert statuses.PHASE0_IN_FLIGHT == {"pending", "provisioning", "tofu-applying", "flux-bootstrapping"}
    assert statuses.IN_FLIGHT == statuses.PHASE0_IN_FLIGHT | {"phase1-watching"}
    assert statuses.is_in_flight("phase1-watching") and not statuses.is_phase0_in_flight("phase1-watching")


def test_stat_is_injectable_so_rules_run_without_disk():
    seen = []

    def fake_stat(path):
        seen.append(path)
        raise FileNotFoundError(2, "No such file or directory")

    d = resume_decision(rec("phase1-watching", {"kubeconfigPath": "/x/a.yaml"}), kubeconfigs_dir="/kc", stat=fake_stat)
    assert not d.resume and seen == ["/x/a.yaml", f"/kc/{ID}.yaml"]
