"""Alongside catalyst-api (issue 6, item 3): catalyst-api rewrites the record file after every
event while a dashboard-like reader reads and an operator patches.

Processes: :mod:`fake_catalyst_api` (catalyst-api's ``store.Save`` exactly: ``.<id>.*.json.tmp``,
write in pieces, fsync, rename; in-memory state authoritative, never re-reads),
:mod:`dir_reader` (change token, ``list_summaries``, ``get`` and a raw read, in a loop), and the
test itself as the operator (``service.actions.patch_status`` and the real ``patch-status``
command line).

What must hold:

* the reader never sees a torn or half-written file, never a temp file as a record, never a gap
  in catalyst-api's events (a crashed catalyst-api's leftover temp file is there from the start);
* a patch based on a version that catalyst-api has since replaced gets ``Conflict`` and writes
  nothing (deterministic: the test waits until the file changed before patching);
* a free-running patch either succeeds, warning that a running catalyst-api will overwrite it
  (catalyst-api's in-memory state wins at its next event: that is catalyst-api's behaviour, so
  the operator is told, never left to find out), or gets ``Conflict``;
* the one window nobody can close without a lock catalyst-api does not take (catalyst-api renames
  between our compare and our rename, catalyst_dir.py's docstring and §9.6) shows up, if at all,
  as the reader seeing catalyst-api's last event missing from a file that ends in our operator
  event; it is counted and bounded, and catalyst-api's next write restores the event;
* once catalyst-api is down, a patch sticks and the file is still what catalyst-api reads.

``--soak`` (or ``CATALYST_TUI_SOAK=1``) runs twenty times as many patches.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import threading
import time
from pathlib import Path

from catalyst_tui.service import actions
from catalyst_tui.store.base import Conflict
from catalyst_tui.store.catalyst_dir import version_of
from catalyst_tui.store.urls import open_store

from .dir_reader import api_events, contiguous
from .fake_catalyst_api import go_json
from .support import PYTHON, REPO, base_record, clean_env, parse_file, write_catalyst_file

RID = "a1a1a1a1a1a1a1a1"
INTERVAL = 0.004


class Lines:
    """Reads a child's stdout lines in a thread (so its pipe never fills)."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._pump, args=(proc,), daemon=True)
        self._thread.start()

    def _pump(self, proc: subprocess.Popen) -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            self.lines.append(raw.decode().strip())

    def writes(self) -> int:
        ws = [ln for ln in self.lines if ln.startswith("W ")]
        return int(ws[-1][2:]) if ws else 0

    def wait_for(self, pred, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not pred():
            assert time.monotonic() < deadline, self.lines[-3:]
            time.sleep(0.005)

    def join(self) -> None:
        self._thread.join(30)


def test_reader_never_sees_a_torn_file_and_stale_patches_conflict(tmp_path: Path, kdir: Path, cli, soak: bool) -> None:
    scale = 20 if soak else 1
    d = tmp_path / "deployments"
    write_catalyst_file(d, base_record(RID, "phase1-watching"))
    # A crashed catalyst-api's half-written temp file, and its write probe.
    (d / f".{RID}.123456789.json.tmp").write_text('{\n  "id": "' + RID + '",\n  "status": "rea')
    (d / ".write-probe").write_text("")
    url = f"catalyst-dir://{d}"
    api_stop, reader_stop = tmp_path / "api.stop", tmp_path / "reader.stop"

    api = subprocess.Popen([PYTHON, "-m", "tests.reliability.fake_catalyst_api", str(d), RID, str(INTERVAL), str(api_stop)],
                           cwd=REPO, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    reader = subprocess.Popen([PYTHON, "-m", "tests.reliability.dir_reader", url, RID, str(reader_stop)],
                              cwd=REPO, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    api_lines = Lines(api)
    try:
        api_lines.wait_for(lambda: api_lines.writes() >= 30)
        stale_conflicts, free = asyncio.run(_operator(url, d, kdir, 10 * scale, 20 * scale))
        # A few patches through the real command line too, while catalyst-api keeps writing.
        cli_codes = []
        for i in range(8):
            r = cli(url, "--operator", "op-cli", "patch-status", RID, "--to", "ready", "--reason", f"cli-{i}")
            cli_codes.append(r.code)
            assert r.code in (0, 4), r.err
            if r.code == 0:
                assert "catalyst-api still writing this record will overwrite the patch" in r.err
            else:
                assert r.err.count("\n") == 1 and RID in r.err and "changed underneath" in r.err, r.err
    finally:
        api_stop.touch()
        api.wait(60)
        api_lines.join()  # the pump thread owns stdout; stderr is read here
        assert api.stderr is not None and api.stdout is not None
        api_err = api.stderr.read()
        api.stderr.close()
        api.stdout.close()
        reader_stop.touch()
        reader_out, reader_err = reader.communicate(timeout=60)

    assert api.returncode == 0 and api_err == b"", api_err.decode()
    assert reader.returncode == 0 and reader_err == b"", reader_err.decode()
    report = json.loads(reader_out)
    assert report["reads"] >= 20, report
    assert report["problems"] == [], report["problems"]
    won = sum(1 for ok in free if ok) + cli_codes.count(0)
    # The unclosable window (see the module doc): only ever one of catalyst-api's events, only
    # ever under our operator event, never more often than our patches succeeded.
    assert all(op and before - after == 1 for before, after, op in report["regressions"]), report["regressions"]
    assert len(report["regressions"]) <= won
    assert stale_conflicts == 10 * scale

    # catalyst-api's last write is on disk, complete: its in-memory record won, as it does.
    last = api_lines.writes()
    assert api_lines.lines[-1] == "END"
    final = parse_file(d / f"{RID}.json")
    ks = api_events([e.model_dump() for e in final.event_list()])
    assert contiguous(ks) and ks[-1] == last and (ks[0] == 1 or len(ks) == 10_000)

    # catalyst-api is down now: a patch sticks, and the file is still catalyst-api's format.
    r = cli(url, "--operator", "op-cli", "patch-status", RID, "--to", "ready", "--reason", "after catalyst-api stopped",
            "--expect", final.status)
    assert r.code == 0, r.err
    raw = (d / f"{RID}.json").read_bytes()
    data = json.loads(raw)
    assert go_json(data) == raw  # what catalyst-api's LoadAll reads, and would write back identically
    assert data["status"] == "ready"
    assert api_events(data["events"]) in (ks, ks[1:])  # the 10,000 cap may drop the oldest
    assert data["events"][-1]["phase"] == "operator" and "after catalyst-api stopped" in data["events"][-1]["message"]
    assert (d / f".{RID}.123456789.json.tmp").exists()  # catalyst-api's leftovers are not ours to touch


async def _operator(url: str, d: Path, kdir: Path, stale: int, free_running: int) -> tuple[int, list[bool]]:
    path = d / f"{RID}.json"
    stale_conflicts = 0
    free: list[bool] = []
    async with open_store(url) as store:
        # Deterministic: read, let catalyst-api write, then patch from what was read.
        for i in range(stale):
            current = await store.get(RID)
            deadline = time.monotonic() + 30
            while version_of(path.read_bytes()) == current.version:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.001)
            try:
                await actions.patch_status(store, RID, "ready", f"stale-{i}", operator="op", expected_version=current.version,
                                           kubeconfigs_dir=str(kdir))
            except Conflict as exc:
                assert RID in str(exc) and "\n" not in str(exc)
                stale_conflicts += 1
            rec = current.record
            rec.status = "failed"
            try:
                await store.replace(rec, current.version)
                raise AssertionError("a replace from a stale version succeeded")
            except Conflict:
                pass
            assert b"stale-" not in path.read_bytes()
        # Free-running: whatever the timing, success-with-warning or Conflict, nothing else.
        for i in range(free_running):
            try:
                res = await actions.patch_status(store, RID, "ready", f"free-{i}", operator="op", kubeconfigs_dir=str(kdir))
            except Conflict:
                free.append(False)
            else:
                free.append(True)
                assert any("catalyst-api still writing this record will overwrite the patch" in w for w in res.warnings)
                assert contiguous(api_events([e.model_dump() for e in res.after.event_list()]))
            await asyncio.sleep(0.002 * (i % 3))
    return stale_conflicts, free
