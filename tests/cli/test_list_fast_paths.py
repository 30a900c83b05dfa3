"""``list --json`` through the C encoder, and fleet rows that stat only where it matters (perf, issue 5)."""

from __future__ import annotations

import json
from pathlib import Path

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
