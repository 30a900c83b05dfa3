"""``list --json`` through the C encoder, and fleet rows that stat only where it matters (perf, issue 5)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from catalyst_tui.cli.main import json_array_text, json_text, terminal_safe_json
from catalyst_tui.kube.state import WatcherStatus, WatchPhase
from catalyst_tui.service.fleet import build_row, build_rows
from catalyst_tui.store.base import Summary

from .conftest import HOSTILE, STALE


def summ(rid: str, status: str, **kw) -> Summary:
    return Summary(id=rid, status=status, version="v1", **kw)


def test_list_json_is_one_row_per_line_and_the_same_value(cli, db) -> None:
    r = cli(db, "list", "--json")
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    rows = json.loads(r.out)
    assert lines[0] == "[" and lines[-1] == "]" and len(lines) == len(rows) + 2
    assert [json.loads(line.strip().rstrip(",")) for line in lines[1:-1]] == rows
    assert json.loads(json_text(rows)) == rows  # what the pretty encoder gave before: the same value
    hostile = next(row for row in rows if row["id"] == HOSTILE)
    assert hostile["orgName"] == "Evil\x1b[31mCorp\x9b2J"
    assert "\\u009b" in r.out and "\x9b" not in r.out and "\x1b" not in r.out


def test_json_array_text_escapes_like_json_text() -> None:
    items = [{"a": "plain"}, {"b": "c1 \x9b2J bidi \u202e sep \u2028 del \x7f"}, {"n": 1, "t": True, "z": None}]
    text = json_array_text(items)
    assert json.loads(text) == items
    for raw in ("\x9b", "\u202e", "\u2028", "\x7f"):
        assert raw not in text
    assert json_array_text([]) == "[]" == json_text([])
    assert terminal_safe_json('{"x": "ascii only"}') == '{"x": "ascii only"}'
    assert terminal_safe_json('"\x7f"') == '"\\u007f"'


def test_the_resume_decision_is_computed_only_where_it_decides_stale(tmp_path: Path) -> None:
    kdir = tmp_path / "kc"
    kdir.mkdir()
    stats: list[str] = []

    def stat(path: str) -> object:
        stats.append(path)
        raise FileNotFoundError(2, "No such file or directory")

    sums = [summ("ready1", "ready"), summ("adopted1", "adopted"), summ("failed1", "failed"),
            summ("watch1", "phase1-watching"), summ("live1", "phase1-watching")]
    rows = {r.id: r for r in build_rows(sums, kubeconfigs_dir=str(kdir), stat=stat,
                                         watchers={"live1": WatcherStatus("live1", phase=WatchPhase.WATCHING)})}
    assert stats == [f"{kdir}/watch1.yaml"]  # only the phase1-watching row without a live watcher
    assert rows["watch1"].stale and not rows["live1"].stale
    stats.clear()
    decision = rows["adopted1"].resume  # computed on first use…
    assert not decision.resume and stats == [f"{kdir}/adopted1.yaml"]
    assert rows["adopted1"].resume is decision and len(stats) == 1  # …once
    assert rows["live1"].resume.reason.startswith("no kubeconfig")
    # the lazy part is not compared: equal rows stay equal whether or not it was computed
    again = build_row(summ("adopted1", "adopted"), kubeconfigs_dir=str(kdir), stat=stat)
    assert again == rows["adopted1"]


def test_stale_row_from_the_cli_fixture_still_reads_stale(cli, db) -> None:
    rows = json.loads(cli(db, "list", "--json").out)
    assert next(row for row in rows if row["id"] == STALE)["stale"] is True


def test_rows_are_built_with_every_field_and_equal_the_dataclass_constructor(tmp_path: Path) -> None:
    """build_row fills the frozen FleetRow's __dict__ directly (start-up speed): every field, the
    same values and equality as the dataclass constructor."""
    import dataclasses

    from catalyst_tui.service.fleet import FleetRow

    s = summ("r1", "ready", sovereignFQDN="a.example", orgName="Org", region="fsn1", startedAt="2026-01-02T03:04:05Z",
             finishedAt="0001-01-01T00:00:00Z", error="\nboom\nmore", component_states={"a": "installed", "b": "pending"},
             handoverFiredAt="2026-01-02T04:00:00Z", events_count=3, last_event_time="2026-01-02T03:30:00Z")
    row = build_row(s, kubeconfigs_dir=str(tmp_path))
    names = [f.name for f in dataclasses.fields(FleetRow)]
    assert sorted(vars(row)) == sorted(names)
    again = FleetRow(**{n: getattr(row, n) for n in names})
    assert again == row and hash(again) == hash(row) and repr(again) == repr(row)
    assert (row.started, row.finished, row.error, row.installed, row.total) == ("2026-01-02T03:04:05Z", None, "boom", 1, 2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        row.status = "failed"  # type: ignore[misc]


@pytest.mark.parametrize("status", ["phase1-watching", "ready", "provisioning", "failed"])
@pytest.mark.parametrize("kubeconfig", ["", "recorded", "missing"])
@pytest.mark.parametrize("finished", [None, "2026-01-02T03:04:05Z"])
@pytest.mark.parametrize("conventional", [False, True])
def test_the_gate_view_decides_like_the_record_model(tmp_path: Path, status: str, kubeconfig: str,
                                                     finished: str | None, conventional: bool) -> None:
    """Rows decide 'stale' from a GateView of the summary (no pydantic model); the decision is the
    one the restart rules give for the light Record."""
    from catalyst_tui.domain.restart import resume_decision
    from catalyst_tui.service.fleet import GateView, light_record

    kdir = tmp_path / "kc"
    kdir.mkdir()
    recorded = tmp_path / "recorded.yaml"
    recorded.write_text("x")
    if conventional:
        (kdir / "r1.yaml").write_text("x")
    path = {"": "", "recorded": str(recorded), "missing": str(tmp_path / "nope.yaml")}[kubeconfig]
    s = summ("r1", status, kubeconfigPath=path, phase1FinishedAt=finished)
    assert resume_decision(GateView.of(s), kubeconfigs_dir=str(kdir)) == resume_decision(light_record(s), kubeconfigs_dir=str(kdir))
    assert build_row(s, kubeconfigs_dir=str(kdir)).resume == resume_decision(light_record(s), kubeconfigs_dir=str(kdir))
