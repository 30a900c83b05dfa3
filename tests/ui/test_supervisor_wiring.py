"""The dashboard runs its supervisor on a thread of its own, on a second connection to its store."""

from __future__ import annotations

import threading
from pathlib import Path

from catalyst_tui.service.supervisor import Supervisor
from catalyst_tui.service.threaded import SupervisorThread
from catalyst_tui.store.catalyst_dir import CatalystDirStore
from catalyst_tui.store.sqlite import SQLiteStore
from catalyst_tui.store.urls import reopen_store
from catalyst_tui.ui.app import default_signer_factory, default_supervisor


def test_reopen_store_is_a_twin_with_the_same_settings(tmp_path: Path) -> None:
    sq = SQLiteStore(tmp_path / "a.db", read_only=True, busy_timeout=1.5, event_cap=77)
    twin = reopen_store(sq)
    assert isinstance(twin, SQLiteStore) and twin is not sq
    assert (twin.path, twin.read_only, twin.busy_timeout, twin.event_cap) == (sq.path, True, 1.5, 77)
    d = CatalystDirStore(tmp_path / "deployments", read_only=False, lock_timeout=3.0)
    dt = reopen_store(d)
    assert isinstance(dt, CatalystDirStore) and dt is not d
    assert (dt.dir, dt.read_only, dt.lock_timeout, dt.max_record_bytes) == (d.dir, False, 3.0, d.max_record_bytes)

    class Elsewhere(SQLiteStore):
        pass

    assert reopen_store(Elsewhere(tmp_path / "b.db")) is None  # unknown: not guessed


def test_default_supervisor_is_threaded_and_keeps_the_options(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "a.db", read_only=True)
    sup = default_supervisor(store, None, kubeconfigs_dir=str(tmp_path), operator="alice", read_only=True, signer=None)
    assert isinstance(sup, SupervisorThread)
    inner = sup._make_supervisor(sup._make_store())
    assert isinstance(inner, Supervisor) and inner.store is not store
    assert inner.read_only and inner.store.read_only and inner.holder.startswith("alice@")

    class Elsewhere(SQLiteStore):
        pass

    same_loop = default_supervisor(Elsewhere(tmp_path / "b.db"), None, kubeconfigs_dir=str(tmp_path), operator="bob",
                                   read_only=False, signer=None)
    assert isinstance(same_loop, Supervisor)


def test_the_signer_is_loaded_once_when_two_threads_ask_at_once(tmp_path: Path) -> None:
    factory = default_signer_factory(str(tmp_path / "keys" / "handover.pem"))
    got: list[object] = []
    barrier = threading.Barrier(4)

    def ask() -> None:
        barrier.wait()
        got.append(factory())

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 4 and all(g is got[0] for g in got)
    assert sorted(p.name for p in (tmp_path / "keys").iterdir()) == ["handover.pem", "handover.pem.jwk"]


async def test_the_settled_dashboard_freezes_what_is_alive_and_tests_do_not(make_app) -> None:
    """freeze_gc (set by the real entry point): once settled, every object alive is moved out of
    the collector's reach, so a full collection during a watch flood walks only new objects."""
    import gc

    from .conftest import wait_for

    gc.unfreeze()
    try:
        plain = make_app()
        async with plain.run_test(size=(120, 30)) as pilot:
            await wait_for(pilot, lambda: plain.services_settled, what="settled")
            assert gc.get_freeze_count() == 0
        app = make_app(freeze_gc=True)
        async with app.run_test(size=(120, 30)) as pilot:
            await wait_for(pilot, lambda: app.services_settled, what="settled")
            assert gc.get_freeze_count() > 1000
    finally:
        gc.unfreeze()  # (the test process keeps a normal collector)

