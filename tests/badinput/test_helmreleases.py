"""Bad HelmRelease objects (issue 6, item 5) through ``catalyst_tui.domain.components.derive``:
no status, conditions of the wrong type, a 100 KB message, hostile text. ``derive`` never raises,
returns exactly what ``data/helmreleases.json`` says, keeps messages bounded; and the component
events built from the results print as one inert line each on the command line.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from catalyst_tui.domain.components import MAX_MESSAGE, Derived, derive
from catalyst_tui.domain.record import Event
from catalyst_tui.domain.statuses import ComponentState

from ..reliability.support import first_unsafe, make_record, seed

DATA = Path(__file__).parent / "data"
MANIFEST = json.loads((DATA / "helmreleases.json").read_text())["expect"]
BOUND = MAX_MESSAGE + 64  # the cut marker "… [N more characters]"


def _load(name: str) -> dict:
    return json.loads((DATA / "helmreleases" / name).read_text())


def _check(d: Derived | None, expect: dict | None) -> None:
    if expect is None:
        assert d is None
        return
    assert isinstance(d, Derived)
    assert isinstance(d.state, ComponentState)
    assert (d.component, d.state.value) == (expect["component"], expect["state"])
    for key in ("message", "reason"):
        if key in expect:
            assert getattr(d, key) == expect[key]
    if "depends_on" in expect:
        assert list(d.depends_on) == expect["depends_on"]
    for text in (d.reason, d.message, d.last_transition, d.event_message):
        assert isinstance(text, str) and len(text) <= BOUND
    assert d.level in ("info", "warn", "error")


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_derive_bad_helmrelease(name: str) -> None:
    _check(derive(_load(name)), MANIFEST[name])


def test_100_kb_message_is_cut() -> None:
    line = "Error: UPGRADE FAILED: post-upgrade hooks failed: job failed: BackoffLimitExceeded\n"
    message = (line * (100_000 // len(line) + 1))[:100_000]
    hr = _load("no-status.json")
    hr["status"] = {"conditions": [{"type": "Ready", "status": "False", "reason": "UpgradeFailed", "message": message}]}
    d = derive(hr)
    assert d is not None and d.state is ComponentState.FAILED and d.level == "error"
    assert len(d.message) <= BOUND and d.message.startswith(line)
    assert d.message.endswith(f"… [{100_000 - MAX_MESSAGE} more characters]")


def test_component_events_from_bad_helmreleases_print_inert(cli, tmp_path: Path) -> None:
    """What the watcher writes for these objects (one ``component`` event each, §1.4) reads back
    and prints one line per event, inert and bounded."""
    now = datetime(2026, 5, 4, 9, 8, 2, tzinfo=timezone.utc)
    events = []
    objs = [_load(n) for n in sorted(MANIFEST)]
    big = _load("no-status.json")
    big["status"] = {"conditions": [{"type": "Ready", "status": "False", "reason": "InstallFailed",
                                     "message": "\x1b[31m" + "x" * 100_000}]}
    for obj in [*objs, big]:
        d = derive(obj)
        if d is None:
            continue
        events.append(Event.make("component", d.level, d.event_message, at=now, component=d.component,
                                 state=d.state.value))
    rid = "4e1e4e1e4e1e4e1e"
    url = f"sqlite://{tmp_path / 'hr.db'}"
    seed(url, [make_record(rid, events=[e.model_dump(exclude_unset=True) for e in events])])
    r = cli(url, "events", rid)
    assert r.code == 0 and r.err == ""
    lines = r.out.splitlines()
    assert len(lines) == len(events)
    for line in lines:
        assert first_unsafe(line) is None, first_unsafe(line)
        assert len(line) <= 4 * BOUND  # escapes make a cut message at most ~4x longer
    assert "[bold red]x[/] [@click=app.quit]q[/]" in r.out  # markup shown literally
    r = cli(url, "show", rid)
    assert r.code == 0 and first_unsafe(r.out.replace("\n", "")) is None
    r = cli(url, "events", rid, "--json")
    assert [e["message"] for e in json.loads(r.out)] == [e.message for e in events]
