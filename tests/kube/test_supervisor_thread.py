"""The supervisor on its own thread (what the dashboard runs): real SQLite file opened twice, real
kubernetes_asyncio client against the simulator, which keeps running on the test's loop."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import AsyncIterator

import pytest

from catalyst_tui.domain.statuses import BOOTSTRAP_KIT
from catalyst_tui.kube.simulator import KubeSimulator
from catalyst_tui.service.supervisor import Progress
from catalyst_tui.service.threaded import SupervisorThread
from catalyst_tui.store.base import StoreError
from catalyst_tui.store.urls import open_store, reopen_store

from .conftest import wait_for
from .support import IDS, make_record, make_supervisor

RID = IDS[0]


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator:
    async with open_store(f"sqlite://{tmp_path / 'catalyst.db'}") as store:
        yield store


async def add_sovereign(sim: KubeSimulator, store, tmp_path: Path, rid: str = RID) -> None:
    sim.add_cluster(rid)
    kc = sim.write_kubeconfig(rid, tmp_path / "kubeconfigs" / f"{rid}.yaml")
    await store.create(make_record(rid, kubeconfig=str(kc), status="phase1-watching"))


def threaded(store, tmp_path: Path, **kw) -> SupervisorThread:
    built: list[str] = []

    def make_store():
        built.append(threading.current_thread().name)
        twin = reopen_store(store)
        assert twin is not None and twin is not store
        return twin

    t = SupervisorThread(make_store, lambda s: make_supervisor(s, tmp_path, **kw))
    t.built_on = built  # type: ignore[attr-defined]
    return t


async def test_watches_on_its_own_thread_and_calls_back_on_the_callers_loop(
        sim: KubeSimulator, sqlite_store, tmp_path: Path) -> None:
    await add_sovereign(sim, sqlite_store, tmp_path)
    sup = threaded(sqlite_store, tmp_path)
    here = threading.get_ident()
    changed_on: list[tuple[int, str]] = []
    progress_on: list[tuple[int, Progress]] = []
    sup.add_listener(lambda rid: changed_on.append((threading.get_ident(), rid)))
    sup.add_progress_listener(lambda p: progress_on.append((threading.get_ident(), p)))
    await sup.start()
    try:
        assert sup.built_on == ["catalyst-supervisor"]  # type: ignore[attr-defined]
        assert sup.supervisor is not None and sup.supervisor.store is not sqlite_store
        assert set(sup.statuses()) == {RID} and sup.active == {RID}
        await wait_for(lambda: sup.statuses()[RID].synced, 5, "synced")
        sim.play(RID, "install")
        await wait_for(lambda: sup.statuses()[RID].outcome == "ready", 10, "outcome")
        await wait_for(lambda: any(p.kind == "outcome" for _, p in progress_on), 5, "outcome progress")
    finally:
        await sup.stop()
    assert not sup.running
    # Written through the supervisor's own connection, read through ours.
    rec = (await sqlite_store.get(RID)).record
    assert rec.status == "ready" and rec.result is not None
    assert rec.result.componentStates == {c: "installed" for c in BOOTSTRAP_KIT}
    assert await sqlite_store.leases() == {}  # released at stop
    assert changed_on and {t for t, _ in changed_on} == {here}
    assert {rid for _, rid in changed_on} == {RID}
    assert progress_on and {t for t, _ in progress_on} == {here}


async def test_statuses_are_snapshots_not_the_live_objects(sim: KubeSimulator, sqlite_store, tmp_path: Path) -> None:
    await add_sovereign(sim, sqlite_store, tmp_path)
    sup = threaded(sqlite_store, tmp_path)
    await sup.start()
    try:
        await wait_for(lambda: sup.statuses()[RID].synced, 5, "synced")
        live = sup.supervisor._watches[RID].status  # type: ignore[union-attr]
        snap = sup.statuses()[RID]
        assert snap is not live and snap.components is not live.components
        assert snap == live
        snap.components.clear()
        snap.reason = "changed by the reader"
        assert live.reason != "changed by the reader"
        sim.play(RID, "install")
        await wait_for(lambda: len(sup.statuses()[RID].components) == len(BOOTSTRAP_KIT), 10, "components")
        assert snap.components == {}  # an old snapshot never changes under the reader
    finally:
        await sup.stop()


# The operator's actions through the thread: tests/kube/test_supervisor.py::test_reattach_stop_watcher_and_errors[own-thread].


async def test_a_store_that_cannot_open_fails_start_and_ends_the_thread(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    sup = SupervisorThread(lambda: open_store(f"sqlite://{blocker}/sub/catalyst.db"),
                           lambda s: make_supervisor(s, tmp_path))
    with pytest.raises(StoreError):
        await sup.start()
    assert not sup.running
    assert not [t for t in threading.enumerate() if t.name == "catalyst-supervisor"]
    await sup.stop()  # nothing to stop: no error


async def test_stop_while_the_restart_rules_run(sim: KubeSimulator, sqlite_store, tmp_path: Path) -> None:
    for rid in IDS[:3]:
        await add_sovereign(sim, sqlite_store, tmp_path, rid)
    sup = threaded(sqlite_store, tmp_path)
    starting = asyncio.create_task(sup.start())
    await asyncio.sleep(0)  # the thread is started, the rules may still run
    starting.cancel()  # the dashboard quit while starting
    with pytest.raises(asyncio.CancelledError):
        await starting
    await asyncio.wait_for(sup.stop(), 20)
    assert not sup.running
    assert not [t for t in threading.enumerate() if t.name == "catalyst-supervisor"]
    assert await sqlite_store.leases() == {}


async def test_progress_is_built_only_when_somebody_listens(sim: KubeSimulator, sqlite_store, tmp_path: Path) -> None:
    await add_sovereign(sim, sqlite_store, tmp_path)
    sup = threaded(sqlite_store, tmp_path)
    await sup.start()
    try:
        inner = sup.supervisor
        assert inner is not None and inner._progress == []  # nobody listens: no Progress per transition
        got: list[Progress] = []
        sup.add_progress_listener(got.append)
        assert len(inner._progress) == 1
        sup.add_progress_listener(lambda p: None)
        assert len(inner._progress) == 1  # hooked once
        await wait_for(lambda: sup.statuses()[RID].synced, 5, "synced")
        sim.play(RID, "install")
        await wait_for(lambda: any(p.kind == "outcome" for p in got), 10, "outcome progress")
    finally:
        await sup.stop()
