"""The restart rules, post-fix (domain reference §3).

Two pure functions: :func:`rehydrate` is catalyst-api's ``fromRecord`` (what a record becomes when
the process that owns it restarts) and :func:`resume_decision` is the post-fix
``shouldResumePhase1`` (does the Phase-1 HelmRelease watch come back). The only I/O they need is a
``stat``; it is injected so tests run without touching the disk if they wish.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from . import statuses
from .record import format_time

if TYPE_CHECKING:  # an annotation only: importing the rules must not build the pydantic models
    from .record import Record

DEFAULT_KUBECONFIGS_DIR = "/var/lib/catalyst/kubeconfigs"
KUBECONFIGS_DIR_ENV = "CATALYST_KUBECONFIGS_DIR"

StatFn = Callable[[str], object]

ORPHAN_ERROR = (
    "catalyst-api restarted during provisioning — this deployment was abandoned mid-apply. "
    "Hetzner resources tagged with `catalyst-deployment-id={id}` are orphans and must be purged "
    "manually (hcloud server, lb, network, firewall, ssh-key) before retrying. "
    "The wizard cannot resume — start a new deployment."
)
LOST_KUBECONFIG_ERROR = "kubeconfig file lost across catalyst-api restart: {path} — {reason}"


def kubeconfigs_dir_from_env(env: dict[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    return env.get(KUBECONFIGS_DIR_ENV) or DEFAULT_KUBECONFIGS_DIR


def conventional_kubeconfig_path(kubeconfigs_dir: str, record_id: str) -> str:
    return str(Path(kubeconfigs_dir) / f"{record_id}.yaml")


def go_stat_error(path: str, exc: OSError) -> str:
    """Render an OSError the way Go's ``os.Stat`` error reads: ``stat <path>: no such file or directory``."""
    reason = exc.strerror or str(exc)
    return f"stat {path}: {reason[:1].lower()}{reason[1:]}"


def _stat_error(stat: StatFn, path: str) -> str | None:
    try:
        stat(path)
    except OSError as exc:
        return go_stat_error(path, exc)
    except ValueError as exc:  # e.g. embedded NUL byte in a hand-edited path
        return f"stat {path!r}: {exc}"
    return None


@dataclass(frozen=True)
class ResumeDecision:
    resume: bool
    reason: str
    #: The kubeconfig the watcher will use (stamped onto ``result.kubeconfigPath`` on resume).
    kubeconfig_path: str | None = None

    def describe(self) -> str:
        return ("resumed: " if self.resume else "not resumed: ") + self.reason


def resume_decision(record: Record, *, kubeconfigs_dir: str, stat: StatFn = os.stat) -> ResumeDecision:
    """Post-fix ``shouldResumePhase1`` with the #3153 conventional-path fallback.

    ``record`` is the record as stored on disk (the gates read the original status).
    """
    result = record.result
    if result is not None and result.phase1FinishedAt is not None:
        return ResumeDecision(False, f"Phase 1 already finished at {result.phase1FinishedAt}")
    if statuses.is_phase0_in_flight(record.status):
        return ResumeDecision(False, f"Phase 0 was in flight ({record.status}); the restart fails it")
    reasons: list[str] = []
    recorded = result.kubeconfigPath if result is not None else ""
    if recorded:
        err = _stat_error(stat, recorded)
        if err is None:
            return ResumeDecision(True, f"kubeconfig at {recorded}", recorded)
        reasons.append(err)
    else:
        reasons.append("no kubeconfigPath in the record")
    conventional = conventional_kubeconfig_path(kubeconfigs_dir, record.id)
    if conventional != recorded:
        err = _stat_error(stat, conventional)
        if err is None:
            return ResumeDecision(True, f"kubeconfig at {conventional} (conventional path)", conventional)
        reasons.append(err)
    return ResumeDecision(False, "no kubeconfig: " + "; ".join(reasons))


@dataclass(frozen=True)
class RehydrateResult:
    before: Record
    after: Record
    decision: ResumeDecision
    #: True when catalyst-api would write the record back at start (the status changed, or a
    #: resume stamped the kubeconfig path / flipped the status to phase1-watching).
    persist: bool

    @property
    def stale(self) -> bool:
        """A ``phase1-watching`` record that nothing will ever move on (no watcher can attach)."""
        return self.after.status == statuses.PHASE1_WATCHING and not self.decision.resume


def after_restart(record: Record, *, now: datetime, stat: StatFn = os.stat) -> Record:
    """catalyst-api's post-fix ``fromRecord``: the record's state right after a restart."""
    after = record.model_copy(deep=True)
    result = after.result
    if result is not None and result.kubeconfigPath:
        err = _stat_error(stat, result.kubeconfigPath)
        if err is not None:
            after.error = LOST_KUBECONFIG_ERROR.format(path=result.kubeconfigPath, reason=err)
    if statuses.is_phase0_in_flight(after.status):
        after.status = statuses.FAILED
        after.finishedAt = format_time(now)
        after.error = ORPHAN_ERROR.format(id=after.id)
    return after


def rehydrate(record: Record, *, now: datetime, kubeconfigs_dir: str, stat: StatFn = os.stat) -> RehydrateResult:
    """Restart path: ``fromRecord`` then ``shouldResumePhase1`` then ``resumePhase1Watch``."""
    after = after_restart(record, now=now, stat=stat)
    decision = resume_decision(record, kubeconfigs_dir=kubeconfigs_dir, stat=stat)
    persist = after.status != record.status
    if decision.resume:
        res = after.ensure_result()
        if res.kubeconfigPath != decision.kubeconfig_path:
            res.kubeconfigPath = decision.kubeconfig_path or ""
            persist = True
        if after.status != statuses.PHASE1_WATCHING:
            after.status = statuses.PHASE1_WATCHING
            persist = True
    return RehydrateResult(before=record, after=after, decision=decision, persist=persist)
