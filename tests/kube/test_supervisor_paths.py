"""Supervisor work saved on the hot and start-up paths (perf, issue 5), against the simulator."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from catalyst_tui.domain.components import Derived
from catalyst_tui.domain.record import Event
from catalyst_tui.domain.statuses import BOOTSTRAP_KIT, ComponentState
from catalyst_tui.kube.simulator import KubeSimulator
from catalyst_tui.service.supervisor import component_event
from catalyst_tui.store.urls import open_store

from .support import IDS, CountingStore, make_record, make_supervisor


class GetCounting(CountingStore):
    def __init__(self, inner: Any) -> None:
        super().__init__(inner)
        self.gets: list[str] = []

    async def get(self, record_id: str) -> Any:
        self.gets.append(record_id)
        return await self._inner.get(record_id)


async def create_watching(sim: KubeSimulator, store: Any, rid: str, tmp_path: Path) -> None:
    """A phase1-watching record whose kubeconfig reaches a simulated cluster."""
    sim.add_cluster(rid)
    kc = sim.write_kubeconfig(rid, tmp_path / "kubeconfigs" / f"{rid}.yaml")
    await store.create(make_record(rid, kubeconfig=str(kc)))


async def test_start_loads_only_records_that_resume_or_are_rewritten(sim: KubeSimulator, tmp_path: Path) -> None:
    async with open_store(f"sqlite://{tmp_path / 'c.db'}") as inner:
        store = GetCounting(inner)
        resumable = IDS[0]
        await create_watching(sim, inner, resumable, tmp_path)
        await inner.create(make_record(IDS[1], kubeconfig=None, status="tofu-applying"))  # orphan: rewritten
        await inner.create(make_record(IDS[2], kubeconfig=str(tmp_path / "gone.yaml"), status="adopted"))
        await inner.create(make_record(IDS[3], kubeconfig=str(tmp_path / "gone.yaml")))  # stale
        await inner.create(make_record("5555666677778888", kubeconfig="/x", status="ready",
                                       phase1FinishedAt="2026-05-04T09:31:12Z"))
        sup = make_supervisor(store, tmp_path)
        await sup.start()
        try:
            assert sorted(store.gets) == sorted([resumable, IDS[1]])
            assert set(sup.statuses()) == {resumable}
            assert set(sup.rehydrated) == {resumable, IDS[1], IDS[2], IDS[3]}
            assert sup.rehydrated[IDS[3]].stale and not sup.rehydrated[IDS[2]].stale
            assert "no kubeconfig" in sup.rehydrated[IDS[2]].decision.reason
        finally:
            await sup.stop()
        assert (await inner.get(IDS[1])).record.status == "failed"
        assert (await inner.get(IDS[2])).record.status == "adopted"  # untouched


async def test_the_outcome_write_carries_the_pending_events(sim: KubeSimulator, tmp_path: Path) -> None:
    async with open_store(f"sqlite://{tmp_path / 'c.db'}") as inner:
        store = CountingStore(inner)
        rid = IDS[0]
        await create_watching(sim, inner, rid, tmp_path)
        sup = make_supervisor(store, tmp_path, flush_interval=3600, flush_max=10_000)  # the flush never comes
        await sup.start()
        try:
            sim.play(rid, "install")
            await asyncio.wait_for(sup.wait_all_ended(), 10)
        finally:
            await sup.stop()
        assert store.append_calls == []  # nothing was left for a flush
        rec = (await inner.get(rid)).record
        comp = [e for e in rec.event_list() if e.phase == "component" and e.component]
        assert {e.component for e in comp} == set(BOOTSTRAP_KIT) and len(comp) >= 33
        assert rec.status == "ready" and rec.event_list()[-1].message.startswith("All 11 blueprints reconciled")
        # one write: the head (outcome) and every pending event after the stored ones
        assert store.replace_calls.count(rid) == 0
        [(_, appended)] = [c for c in store.replace_head_calls if c[0] == rid]
        assert appended >= 34  # >= 33 component events + the outcome's own


def test_component_event_is_event_make() -> None:
    now = datetime(2026, 5, 4, 9, 8, 2, 123456, tzinfo=timezone.utc)
    cases = [
        Derived("cilium", ComponentState.INSTALLED, "InstallSucceeded", "Helm install succeeded", "", ()),
        Derived("gitea", ComponentState.PENDING, "", "", "", ("cilium", "flux")),
        Derived("keycloak", ComponentState.FAILED, "InstallFailed", "boom \x9b", "", ("gitea",)),
    ]
    for d in cases:
        fast = component_event(d, now)
        slow = Event.make("component", d.level, d.event_message, at=now, component=d.component, state=d.state.value,
                          dependsOn=list(d.depends_on) or None)
        assert fast == slow
        assert fast.model_dump(exclude_unset=True) == slow.model_dump(exclude_unset=True)
        assert fast.model_fields_set == slow.model_fields_set
