"""Records, stores and supervisors for the end-to-end tests (real SQLite / directory stores)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from catalyst_tui.domain.outcome import Phase1Config
from catalyst_tui.domain.record import GO_ZERO_TIME, Record
from catalyst_tui.service.supervisor import Supervisor
from catalyst_tui.store.base import RecordStore

from .conftest import FAST

#: Phase-1 budgets compressed so that every outcome is reached in about a second.
FAST_PHASE1 = Phase1Config(min_components=11, late_poll_timeout=3.0, watch_timeout=6.0, first_seen_timeout=0.5)

IDS = ["3f9c2a7e1b8d4c60", "0a1b2c3d4e5f6071", "9e8d7c6b5a493827", "1111222233334444"]


def make_record(rid: str, *, kubeconfig: str | None, fqdn: str | None = None, status: str = "phase1-watching",
                email: str = "ops@acme.example", **result: Any) -> Record:
    fqdn = fqdn or f"s{rid[:4]}.omani.works"
    data: dict[str, Any] = {
        "id": rid,
        "status": status,
        "request": {"orgName": "Acme Telecom", "orgEmail": email, "sovereignFQDN": fqdn, "region": "fsn1",
                    "hetznerToken": "<redacted>"},
        "startedAt": "2026-05-04T09:00:01.482913377Z",
        "finishedAt": GO_ZERO_TIME,
        "events": [{"time": "2026-05-04T09:07:40Z", "phase": "flux-bootstrap", "level": "info",
                    "message": "Cloud-init has bootstrapped Flux + Crossplane in the new cluster"}],
    }
    if kubeconfig is not None:
        res = {"sovereignFQDN": fqdn, "controlPlaneIP": "203.0.113.10", "loadBalancerIP": "203.0.113.20",
               "consoleURL": f"https://console.{fqdn}", "gitopsRepoURL": f"https://gitea.{fqdn}",
               "kubeconfigPath": kubeconfig, "phase1Substate": "watcher-watching"}
        res.update(result)
        data["result"] = res
    return Record.model_validate(data)


class CountingStore:
    """A real store, with a count of the write calls the supervisor makes (delegates everything)."""

    def __init__(self, inner: RecordStore) -> None:
        self._inner = inner
        self.append_calls: list[tuple[str, int]] = []
        self.replace_calls: list[str] = []
        #: (record id, events appended) per replace_head (the outcome and handover writes)
        self.replace_head_calls: list[tuple[str, int]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def append_events(self, record_id: str, events: list, **kw: Any) -> str:
        self.append_calls.append((record_id, len(events)))
        return await self._inner.append_events(record_id, events, **kw)

    async def replace(self, record: Record, expected_version: str, **kw: Any) -> str:
        self.replace_calls.append(record.id)
        return await self._inner.replace(record, expected_version, **kw)

    async def replace_head(self, record: Record, expected_version: str, append: list, **kw: Any) -> str:
        self.replace_head_calls.append((record.id, len(append)))
        return await self._inner.replace_head(record, expected_version, append, **kw)

    async def update(self, record_id: str, mutate: Any, **kw: Any) -> Any:
        # RecordStore.update is built on get/replace: route it through our replace
        return await RecordStore.update(self, record_id, mutate, **kw)  # type: ignore[arg-type]


def make_supervisor(store: Any, tmp_path: Path, **kw: Any) -> Supervisor:
    params: dict[str, Any] = dict(
        holder="test-holder",
        kubeconfigs_dir=str(tmp_path / "kubeconfigs"),
        phase1=FAST_PHASE1,
        watch=FAST,
        lease_ttl=1.5,
        flush_interval=0.1,
        tick_interval=0.05,
        observe_check_interval=0.2,
    )
    params.update(kw)
    return Supervisor(store, **params)


def make_supervisor_thread(store: Any, tmp_path: Path, **kw: Any) -> Any:
    """The supervisor as the dashboard runs it: its own thread and loop, its own connection to
    ``store``'s file (``reopen_store``), the test parameters of :func:`make_supervisor`."""
    from catalyst_tui.service.threaded import SupervisorThread
    from catalyst_tui.store.urls import reopen_store

    def make_store() -> Any:
        twin = reopen_store(store)
        assert twin is not None and twin is not store
        return twin

    return SupervisorThread(make_store, lambda s: make_supervisor(s, tmp_path, **kw))
