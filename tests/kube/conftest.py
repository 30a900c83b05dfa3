"""Shared fixtures for the watcher tests: a simulator per test, a fast watch config, a recorder."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, AsyncIterator, Callable

import pytest

from catalyst_tui.domain.components import Derived
from catalyst_tui.domain.statuses import ComponentState
from catalyst_tui.kube.simulator import KubeSimulator
from catalyst_tui.kube.watcher import HelmReleaseWatcher, WatchConfig, WatchListener

#: Scenario speed for tests: the ~60 s install plays in about 0.4 s.
SPEED = 160.0

FAST = WatchConfig(
    timeout_seconds=2,
    connect_timeout=1.0,
    read_grace=0.5,
    list_timeout=2.0,
    backoff_initial=0.05,
    backoff_max=0.3,
    error_retry=0.3,
)


@dataclass
class Recorder(WatchListener):
    transitions: list[tuple[str, str | None, str, str]] = field(default_factory=list)
    events: list[tuple[str, str]] = field(default_factory=list)
    synced: int = 0
    status_changes: int = 0

    def on_transition(self, watcher: HelmReleaseWatcher, derived: Derived, previous: ComponentState | None) -> None:
        self.transitions.append((derived.component, previous.value if previous else None, derived.state.value, derived.message))

    def on_synced(self, watcher: HelmReleaseWatcher) -> None:
        self.synced += 1

    def on_watch_event(self, watcher: HelmReleaseWatcher, level: str, message: str) -> None:
        self.events.append((level, message))

    def on_status(self, watcher: HelmReleaseWatcher) -> None:
        self.status_changes += 1

    def states(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for comp, _prev, new, _msg in self.transitions:
            out[comp] = new
        return out


async def wait_for(cond: Callable[[], Any], timeout: float = 5.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.02)


@pytest.fixture
async def sim() -> AsyncIterator[KubeSimulator]:
    async with KubeSimulator(speed=SPEED, bookmark_interval=0.3) as s:
        yield s


class Running:
    """A watcher running in a task; cancelled and awaited on exit."""

    def __init__(self, watcher: HelmReleaseWatcher) -> None:
        self.watcher = watcher
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> HelmReleaseWatcher:
        self.task = asyncio.create_task(self.watcher.run())
        return self.watcher

    async def __aexit__(self, *exc: object) -> None:
        assert self.task is not None
        if self.task.done() and self.task.exception() is not None:
            raise self.task.exception()  # type: ignore[misc]
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


def make_watcher(kubeconfig: Path | str, rec: Recorder | None = None, *, record_id: str = "c1",
                 config: WatchConfig = FAST) -> tuple[HelmReleaseWatcher, Recorder]:
    rec = rec or Recorder()
    return HelmReleaseWatcher(record_id, str(kubeconfig), config=config, listener=rec), rec
