"""Phase-1 termination (§2.2, with the later fixes) and markPhase1Done's latest-era mapping."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from catalyst_tui.domain import statuses
from catalyst_tui.domain.outcome import (
    ALL_RECONCILED,
    FAILED_ERROR,
    FLUX_NOT_RECONCILING_ERROR,
    KUBECONFIG_MISSING_ERROR,
    NO_OUTCOME_ERROR,
    WATCHER_START_FAILED_ERROR,
    Phase1Config,
    Phase1Tracker,
    format_duration,
    mark_phase1_done,
    parse_duration,
    phase1_status,
    should_fire_handover,
)
from catalyst_tui.domain.record import GO_ZERO_TIME, Record, to_catalyst_json
from catalyst_tui.domain.statuses import BOOTSTRAP_KIT

T0 = datetime(2026, 5, 4, 9, 0, 0, tzinfo=timezone.utc)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


# --- durations and configuration ------------------------------------------------------------------

@pytest.mark.parametrize("text,seconds", [
    ("10m", 600), ("90s", 90), ("1h30m", 5400), ("1h", 3600), ("1.5h", 5400), ("300ms", 0.3),
    ("2h45m30s", 9930), ("600", 600), ("0", 0), ("0s", 0), ("45.5", 45.5), (" 15m ", 900), ("+5s", 5),
    ("1m0.5s", 60.5), ("100us", 0.0001), ("1µs", 0.000001),
])
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "  ", "-5m", "10x", "m", "h1", "1h x", "10 m", "ten minutes", "1e3", "5m-3s"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError) as err:
        parse_duration(text)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("seconds,text", [(900, "15m0s"), (600, "10m0s"), (7200, "2h0m0s"), (90, "1m30s"),
                                          (1.5, "1.5s"), (0, "0s"), (0.3, "300ms"), (5400, "1h30m0s")])
def test_format_duration_like_go(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_config_defaults_and_env() -> None:
    d = Phase1Config.from_env({})
    assert (d.min_components, d.late_poll_timeout, d.watch_timeout, d.first_seen_timeout) == (11, 600, 7200, 900)
    env = {
        "CATALYST_PHASE1_MIN_BOOTSTRAP_KIT_HRS": "1",
        "CATALYST_PHASE1_LATE_POLL_TIMEOUT": "90s",
        "CATALYST_PHASE1_WATCH_TIMEOUT": "1h30m",
        "CATALYST_PHASE1_FIRST_SEEN_TIMEOUT": "300",
        "CATALYST_PHASE1_READY_SENTINEL": "bp-catalyst-platform",
    }
    c = Phase1Config.from_env(env)
    assert (c.min_components, c.late_poll_timeout, c.watch_timeout, c.first_seen_timeout) == (1, 90, 5400, 300)
    assert c.ready_sentinel == "catalyst-platform"


def test_config_invalid_env_keeps_defaults_and_says_why() -> None:
    problems: list[str] = []
    c = Phase1Config.from_env({
        "CATALYST_PHASE1_MIN_BOOTSTRAP_KIT_HRS": "eleven",
        "CATALYST_PHASE1_LATE_POLL_TIMEOUT": "soon",
        "CATALYST_PHASE1_WATCH_TIMEOUT": "0s",
        "CATALYST_PHASE1_FIRST_SEEN_TIMEOUT": "-1m",
    }, problems)
    assert c == Phase1Config()
    assert len(problems) == 4 and all("\n" not in p and "ignored" in p for p in problems)
    assert problems[0].startswith("CATALYST_PHASE1_MIN_BOOTSTRAP_KIT_HRS=")


# --- the tracker --------------------------------------------------------------------------------------

def feed(tr: Phase1Tracker, states: dict[str, str], t: float) -> list:
    out = []
    for comp, state in states.items():
        out += tr.observe(comp, state, at(t))
    return out


def kit(state: str = "installed", **overrides: str) -> dict[str, str]:
    states = {c: state for c in BOOTSTRAP_KIT}
    states.update({k.replace("_", "-"): v for k, v in overrides.items()})
    return states


def test_all_installed_is_ready() -> None:
    tr = Phase1Tracker(started_at=T0)
    tr.mark_synced(at(1))
    feed(tr, kit("pending"), 2)
    feed(tr, kit("installing"), 3)
    assert not tr.done
    events = feed(tr, kit("installed"), 10)
    assert tr.outcome == "ready" and tr.finished_at == at(10)
    assert events == []
    assert tr.next_deadline() is None


def test_not_synced_no_termination_until_sync() -> None:
    tr = Phase1Tracker(started_at=T0)
    feed(tr, kit(), 2)
    assert not tr.done
    tr.mark_synced(at(3))
    assert tr.outcome == "ready" and tr.finished_at == at(3)


def test_fewer_than_min_components_waits() -> None:
    tr = Phase1Tracker(started_at=T0)
    tr.mark_synced(at(0))
    ten = dict(list(kit().items())[:10])
    feed(tr, ten, 1)
    assert not tr.done
    tr.observe("catalyst-platform", "installed", at(2))
    assert tr.outcome == "ready"


def test_min_components_zero_still_needs_one() -> None:
    tr = Phase1Tracker(Phase1Config(min_components=0), started_at=T0)
    tr.mark_synced(at(0))
    tr.tick(at(1))
    assert not tr.done
    tr.observe("cilium", "installed", at(2))
    assert tr.outcome == "ready"


def test_sentinel() -> None:
    tr = Phase1Tracker(Phase1Config(min_components=1, ready_sentinel="catalyst-platform"), started_at=T0)
    tr.mark_synced(at(0))
    tr.observe("cilium", "installed", at(1))
    assert not tr.done
    tr.observe("catalyst-platform", "installed", at(2))
    assert tr.outcome == "ready"


def test_degraded_is_not_terminal_then_timeout() -> None:
    tr = Phase1Tracker(Phase1Config(watch_timeout=3600), started_at=T0)
    tr.mark_synced(at(0))
    feed(tr, kit(keycloak="degraded"), 5)
    assert not tr.done
    assert tr.tick(at(3599)) == []
    events = tr.tick(at(3600))
    assert tr.outcome == "timeout"
    assert [e.message for e in events] == [
        "Phase-1 watch terminated by context: context deadline exceeded — see ComponentStates for current outcome"]
    assert events[0].level == "warn" and events[0].phase == "component" and events[0].component == ""


def test_installing_at_timeout_is_timeout() -> None:
    tr = Phase1Tracker(Phase1Config(watch_timeout=60), started_at=T0)
    tr.mark_synced(at(0))
    feed(tr, kit(keycloak="installing"), 1)
    tr.tick(at(61))
    assert tr.outcome == "timeout" and tr.states["keycloak"] == "installing"


def test_nothing_seen_is_flux_not_reconciling_and_warns_once_at_first_seen_timeout() -> None:
    tr = Phase1Tracker(Phase1Config(watch_timeout=3600, first_seen_timeout=900), started_at=T0)
    tr.mark_synced(at(0))
    assert tr.next_deadline() == at(900)
    assert tr.tick(at(899)) == []
    warn = tr.tick(at(900))
    assert [e.message for e in warn] == [
        "Phase 1 watch saw 0 HelmReleases in 15m0s; the bootstrap-kit Kustomization on the new Sovereign may not be "
        "reconciling — still watching"]
    assert warn[0].level == "warn"
    assert tr.tick(at(901)) == [] and tr.tick(at(1800)) == []  # once
    assert tr.next_deadline() == at(3600)
    tr.tick(at(3600))
    assert tr.outcome == "flux-not-reconciling"


def test_never_started_is_watcher_start_failed() -> None:
    tr = Phase1Tracker(Phase1Config(watch_timeout=60), started_at=T0)
    tr.start_failed = True  # the kubeconfig never loaded, nothing synced
    tr.tick(at(60))
    assert tr.outcome == "watcher-start-failed"
    synced = Phase1Tracker(Phase1Config(watch_timeout=60), started_at=T0)
    synced.start_failed = True
    synced.mark_synced(at(1))
    synced.tick(at(60))
    assert synced.outcome == "flux-not-reconciling"


def test_no_first_seen_warning_when_something_was_seen() -> None:
    tr = Phase1Tracker(Phase1Config(first_seen_timeout=10), started_at=T0)
    tr.mark_synced(at(0))
    tr.observe("cilium", "pending", at(5))
    assert tr.tick(at(20)) == []
    assert not tr.first_seen_warned


def test_failure_opens_late_poll_and_recovery_gives_ready() -> None:
    tr = Phase1Tracker(Phase1Config(late_poll_timeout=600), started_at=T0)
    tr.mark_synced(at(0))
    events = feed(tr, kit(catalyst_platform="failed"), 100)
    assert not tr.done and tr.in_late_poll
    assert [e.message for e in events] == ["1 component(s) failed; late poll: waiting up to 10m0s for them to recover"]
    assert tr.next_deadline() == at(700)
    tr.observe("catalyst-platform", "installing", at(200))
    assert not tr.done
    tr.observe("catalyst-platform", "installed", at(300))
    assert tr.outcome == "ready"


def test_late_poll_exhausted_gives_failed() -> None:
    tr = Phase1Tracker(Phase1Config(late_poll_timeout=600, watch_timeout=650), started_at=T0)
    tr.mark_synced(at(0))
    feed(tr, kit(gitea="failed", spire="failed"), 100)
    assert tr.in_late_poll
    tr.tick(at(650))  # the watch timeout does not cut the late poll short
    assert not tr.done
    tr.tick(at(699))
    assert not tr.done
    tr.tick(at(700))
    assert tr.outcome == "failed"


def test_late_poll_disabled_fails_at_once() -> None:
    tr = Phase1Tracker(Phase1Config(late_poll_timeout=0), started_at=T0)
    tr.mark_synced(at(0))
    feed(tr, kit(gitea="failed"), 1)
    assert tr.outcome == "failed"


def test_late_poll_only_once_and_input_after_outcome_ignored() -> None:
    tr = Phase1Tracker(Phase1Config(late_poll_timeout=60), started_at=T0)
    tr.mark_synced(at(0))
    first = feed(tr, kit(gitea="failed"), 1)
    again = tr.observe("gitea", "failed", at(2))
    assert len(first) == 1 and again == []
    tr.tick(at(61))
    assert tr.outcome == "failed"
    assert tr.observe("gitea", "installed", at(62)) == [] and tr.outcome == "failed"
    assert tr.states["gitea"] == "failed"


def test_all_done_wins_over_timeout_on_the_same_tick() -> None:
    tr = Phase1Tracker(Phase1Config(watch_timeout=10), started_at=T0)
    tr.mark_synced(at(0))
    feed(tr, dict(list(kit().items())[:10]), 5)
    tr.observe("catalyst-platform", "installed", at(10))  # lands exactly on the deadline
    assert tr.outcome == "ready"


# --- markPhase1Done ------------------------------------------------------------------------------------

def record(status: str = "phase1-watching", **result: object) -> Record:
    res = {"sovereignFQDN": "acme.omani.works", "kubeconfigPath": "/k/x.yaml", "phase1Substate": "watcher-watching"}
    res.update(result)
    return Record.model_validate({
        "id": "3f9c2a7e1b8d4c60", "status": status, "request": {"sovereignFQDN": "acme.omani.works"},
        "result": res, "startedAt": "2026-05-04T09:00:01.482913377Z", "finishedAt": GO_ZERO_TIME, "events": None,
    })


NOW = datetime(2026, 5, 4, 9, 31, 12, 4118, tzinfo=timezone.utc)
TIMEOUT_TEXT = ("Phase 1 watch timed out before convergence: 11 component(s) observed, none hard-failed, "
                "but not all reached installed within the watch budget.")

MAPPING = [
    ("ready", kit(), "ready", ""),
    ("failed", kit(catalyst_platform="failed"), "failed",
     "Phase 1 finished with 1 failed component(s); see ComponentStates for the per-component breakdown"),
    ("ready", kit(catalyst_platform="failed"), "failed", FAILED_ERROR.format(n=1)),
    ("timeout", kit(keycloak="installing"), "failed", TIMEOUT_TEXT),
    ("timeout", kit(keycloak="failed", gitea="failed"), "failed", FAILED_ERROR.format(n=2)),
    ("flux-not-reconciling", {}, "failed",
     "Phase 1 watch saw zero HelmReleases — the bootstrap-kit Kustomization on the new Sovereign is not reconciling."),
    ("kubeconfig-missing", {}, "failed", KUBECONFIG_MISSING_ERROR),
    ("watcher-start-failed", {}, "failed", WATCHER_START_FAILED_ERROR),
    ("", {}, "failed", NO_OUTCOME_ERROR),
    ("", kit(), "failed", "Phase 1 finished with unknown outcome ''; see ComponentStates for the per-component breakdown"),
    ("surprise", kit(), "failed", "Phase 1 finished with unknown outcome 'surprise'; see ComponentStates for the per-component breakdown"),
    ("failed", kit(catalyst_platform="installing"), "failed", FAILED_ERROR.format(n=1)),
]


@pytest.mark.parametrize("outcome,states,status,error", MAPPING)
def test_mark_phase1_done_mapping(outcome: str, states: dict, status: str, error: str) -> None:
    assert phase1_status(outcome, states) == (status, error)
    rec = record(error="kubeconfig file lost across catalyst-api restart: x — y")
    events = mark_phase1_done(rec, outcome, states, NOW)
    assert rec.status == status and rec.error == error
    assert rec.result is not None
    assert rec.result.phase1Outcome == outcome
    assert rec.result.phase1FinishedAt == "2026-05-04T09:31:12.004118Z"
    assert rec.finishedAt == "2026-05-04T09:31:12.004118Z"
    assert rec.result.componentStates == (states or None)
    assert rec.result.phase1Substate == ""
    assert len(events) == 1 and events[0].phase == "component" and events[0].component == ""
    assert events[0].time == "2026-05-04T09:31:12Z"
    if status == "ready":
        assert events[0].level == "info" and events[0].message == ALL_RECONCILED.format(n=11)
        assert events[0].message == "All 11 blueprints reconciled. Sovereign ready for handover."
    else:
        assert events[0].level == "error" and events[0].message == error
    assert should_fire_handover(outcome, rec) is (outcome == "ready" and status == "ready")


def test_mark_phase1_done_writes_catalyst_json() -> None:
    rec = record()
    mark_phase1_done(rec, "ready", kit(), NOW)
    data = json.loads(to_catalyst_json(rec))
    assert data["status"] == "ready" and "error" not in data
    assert data["result"]["componentStates"]["cilium"] == "installed"
    assert data["result"]["phase1Outcome"] == "ready"
    assert "phase1Substate" not in data["result"]  # cleared, omitempty
    rec2 = record()
    mark_phase1_done(rec2, "flux-not-reconciling", {}, NOW)
    assert "componentStates" not in json.loads(to_catalyst_json(rec2))["result"]  # nil map: key absent


def test_mark_phase1_done_never_downgrades_adopted() -> None:
    rec = Record.model_validate({"id": "3f9c2a7e1b8d4c60", "status": "adopted", "result": {"sovereignFQDN": "a"},
                                 "adoptedAt": "2026-05-05T00:00:00Z", "finishedAt": "2026-05-05T00:00:00Z"})
    before = to_catalyst_json(rec)
    assert mark_phase1_done(rec, "failed", kit(gitea="failed"), NOW) == []
    assert to_catalyst_json(rec) == before


def test_mark_phase1_done_without_result_is_a_noop() -> None:
    rec = Record.model_validate({"id": "3f9c2a7e1b8d4c60", "status": "phase1-watching"})
    before = to_catalyst_json(rec)
    assert mark_phase1_done(rec, "ready", kit(), NOW) == []
    assert to_catalyst_json(rec) == before


def test_tracker_and_mark_done_together() -> None:
    tr = Phase1Tracker(Phase1Config(late_poll_timeout=0), started_at=T0)
    tr.mark_synced(at(0))
    feed(tr, kit(catalyst_platform="failed"), 30)
    rec = record()
    mark_phase1_done(rec, tr.outcome or "", tr.states, at(30))
    assert rec.status == statuses.FAILED
    assert rec.result is not None and rec.result.componentStates == kit(catalyst_platform="failed")
