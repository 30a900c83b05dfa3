"""Two real catalyst-tui processes on one SQLite store: the lease makes exactly one the writer."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from catalyst_tui.domain.statuses import BOOTSTRAP_KIT
from catalyst_tui.kube.simulator import KubeSimulator
from catalyst_tui.store.urls import open_store

from .conftest import wait_for
from .support import IDS, make_record

RID = IDS[0]
ROOT = Path(__file__).resolve().parents[2]
TTL = 2.0


class Child:
    def __init__(self, proc: asyncio.subprocess.Process, name: str) -> None:
        self.proc = proc
        self.name = name
        self.lines: list[str] = []
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        async for raw in self.proc.stdout:
            self.lines.append(raw.decode().rstrip("\n"))

    def saw(self, text: str) -> bool:
        return any(text in line for line in self.lines)

    async def wait(self, timeout: float = 20) -> int:
        code = await asyncio.wait_for(self.proc.wait(), timeout)
        await self.reader
        return code


async def spawn(name: str, db: Path, kdir: Path) -> Child:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.kube.supervisor_child", str(db), str(kdir), name, str(TTL),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=str(ROOT), env=env)
    return Child(proc, name)


def component_events(rec) -> list:
    return [e for e in rec.event_list() if e.phase == "component" and e.component]


def single_writer_so_far(rec) -> bool:
    """With one writer, no component repeats its state in consecutive events."""
    last: dict[str, str] = {}
    for e in component_events(rec):
        if last.get(e.component) == e.state:
            return False
        last[e.component] = e.state
    return True


@pytest.fixture
async def setup(tmp_path: Path):
    async with KubeSimulator(speed=30, bookmark_interval=0.3) as sim:
        sim.add_cluster(RID)
        kdir = tmp_path / "kubeconfigs"
        kc = sim.write_kubeconfig(RID, kdir / f"{RID}.yaml")
        db = tmp_path / "catalyst.db"
        async with open_store(f"sqlite://{db}") as store:
            await store.create(make_record(RID, kubeconfig=str(kc)))
            yield sim, store, db, kdir


@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM"])
async def test_lease_one_writer_and_take_over(setup, how: str) -> None:
    sim, store, db, kdir = setup
    children: list[Child] = []
    try:
        a = await spawn("holder-a", db, kdir)
        children.append(a)
        await wait_for(lambda: a.saw("watching 1 Sovereign(s) (writing)"), 20, "A started")
        b = await spawn("holder-b", db, kdir)
        children.append(b)
        await wait_for(lambda: b.saw("watching 1 Sovereign(s)"), 20, "B started")
        assert b.saw("observe-only: lease held by holder-a"), "\n".join(a.lines + ["---"] + b.lines)
        assert (await store.leases())[RID].holder == "holder-a"
        sim.play(RID, "install")

        async def written() -> int:
            return len(component_events((await store.get(RID)).record))

        for _ in range(200):
            if await written() >= 12:
                break
            await asyncio.sleep(0.05)
        rec = (await store.get(RID)).record
        assert rec.status == "phase1-watching"
        assert single_writer_so_far(rec), [(e.component, e.state) for e in component_events(rec)]
        # B shows the same live state while A writes
        await wait_for(lambda: b.saw("cilium installed"), 5, "B shows live state")

        getattr(a.proc, "kill" if how == "SIGKILL" else "terminate")()
        code_a = await a.wait()
        if how == "SIGTERM":
            assert code_a == 0 and a.saw("stopping: flushing events and releasing leases")
        else:
            assert code_a == -signal.SIGKILL
        code_b = await b.wait(30)
        assert code_b == 0, "\n".join(b.lines)
        assert b.saw("lease acquired") and b.saw("this process now writes the Phase-1 progress")
        assert b.saw("every resumed watch has ended")
    finally:
        for c in children:
            if c.proc.returncode is None:
                c.proc.kill()
                await c.proc.wait()
            if not c.reader.done():
                c.reader.cancel()
                await asyncio.gather(c.reader, return_exceptions=True)
    rec = (await store.get(RID)).record
    assert rec.status == "ready"
    assert rec.result is not None and rec.result.componentStates == {c: "installed" for c in BOOTSTRAP_KIT}
    done = [a for a in await store.audit_list(RID) if a.action == "phase1-done"]
    assert len(done) == 1 and done[0].operator == "holder-b"
    assert await store.leases() == {}
