"""FleetState on a real SQLite store: which rows a poll rebuilds (a 10,000-record fleet is polled
every second on the UI's event loop, so a poll must rebuild only what can have changed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from catalyst_tui.store.sqlite import SQLiteStore
from catalyst_tui.ui import fleet_state
from catalyst_tui.ui.fleet_state import FULL_REBUILD_EVERY, FleetState

from . import fleet


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    ids: list[str] = []
    real = fleet_state.build_row

    def counting(summary: Any, **kw: Any):  # noqa: ANN202
        ids.append(summary.id)
        return real(summary, **kw)

    monkeypatch.setattr(fleet_state, "build_row", counting)
    return ids


async def test_polls_rebuild_changed_rows_and_periodically_the_watching_ones(fleet_db: Path, volume: Path, built: list[str]) -> None:
    async with SQLiteStore(fleet_db) as store:
        state = FleetState(store, kubeconfigs_dir=fleet.KUBECONFIGS, stat=fleet.volume_stat(volume))
        await state.poll(now=fleet.NOW)
        assert len(built) == 9 and state.rows[fleet.STALE].stale
        built.clear()
        # Nothing changed: a poll rebuilds nothing; a forced one only the phase1-watching rows
        # (their 'stale' depends on a kubeconfig file, not on the record).
        delta = await state.poll(now=fleet.NOW)
        assert built == [] and delta.empty
        await state.poll(force=True, now=fleet.NOW)
        assert sorted(built) == sorted([fleet.STALE, fleet.WATCHING])
        built.clear()
        # The kubeconfig of the stale record appears: the periodic pass notices without a keypress.
        kc = volume / "kubeconfigs" / f"{fleet.STALE}.yaml"
        kc.write_text("apiVersion: v1\nkind: Config\n")
        for _ in range(FULL_REBUILD_EVERY):
            delta = await state.poll(now=fleet.NOW)
            if fleet.STALE in delta.changed:
                break
        assert not state.rows[fleet.STALE].stale
        assert set(built) <= {fleet.STALE, fleet.WATCHING}
        built.clear()
        # A record written by someone else: that row only.
        from catalyst_tui.domain.record import Event

        await store.append_events(fleet.TOFU, [Event.make("tofu", "info", "apply progressing", at=fleet.NOW)])
        delta = await state.poll(now=fleet.NOW)
        assert built == [fleet.TOFU] and delta.changed == {fleet.TOFU}


async def test_polls_number_the_states_they_make(fleet_db: Path, volume: Path) -> None:
    """FleetState.generation moves with every poll that changed something (screens compare it with
    what they drew); an idle poll keeps it."""
    async with SQLiteStore(fleet_db) as store:
        state = FleetState(store, kubeconfigs_dir=fleet.KUBECONFIGS, stat=fleet.volume_stat(volume))
        first = await state.poll(now=fleet.NOW)
        assert first.generation == state.generation == 1
        idle = await state.poll(now=fleet.NOW)
        assert idle.empty and idle.generation == state.generation == 1
        from catalyst_tui.domain.record import Event

        await store.append_events(fleet.TOFU, [Event.make("tofu", "info", "apply progressing", at=fleet.NOW)])
        moved = await state.poll(now=fleet.NOW)
        assert moved.changed == {fleet.TOFU} and moved.generation == state.generation == 2


def test_gc_pauses_nest_and_end_with_the_last_one() -> None:
    import gc

    assert gc.isenabled()
    outer = fleet_state.gc_paused()
    inner = fleet_state.gc_paused()
    outer.__enter__()
    inner.__enter__()
    assert not gc.isenabled()
    outer.__exit__(None, None, None)  # overlapping, not nested: the other one still runs
    assert not gc.isenabled()
    inner.__exit__(None, None, None)
    assert gc.isenabled()
    gc.disable()  # switched off by someone else (a one-shot CLI command): stays off
    try:
        with fleet_state.gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
