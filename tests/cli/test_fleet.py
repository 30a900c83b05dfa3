"""service/fleet.py: rows from summaries, the attention order, filter, counts, glyphs."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from catalyst_tui.domain import statuses
from catalyst_tui.domain.components import Derived
from catalyst_tui.domain.statuses import ComponentState
from catalyst_tui.kube.state import WatcherStatus, WatchPhase
from catalyst_tui.service.fleet import (
    LIST_JSON_KEYS,
    STATUS_STYLES,
    attention_rank,
    build_row,
    build_rows,
    filter_rows,
    needs_attention,
    sort_rows,
    status_counts,
    status_style,
)
from catalyst_tui.store.base import Summary


def summ(rid: str, status: str, **kw) -> Summary:
    return Summary(id=rid, status=status, version="v1", **kw)


@pytest.fixture
def kdir(tmp_path: Path) -> Path:
    d = tmp_path / "kubeconfigs"
    d.mkdir()
    return d


def test_row_fields_and_json_shape(kdir: Path):
    s = summ(
        "a1", "ready", sovereignFQDN="acme.omani.works", orgName="Acme", region="fsn1",
        startedAt="2026-05-04T09:00:01.482913377Z", finishedAt=None, error="boom\nsecond line",
        component_states={"cilium": "installed", "flux": "failed"}, phase1FinishedAt="2026-05-04T09:31:12Z",
        handoverFiredAt="2026-05-04T09:31:13Z", last_event_time="2026-05-04T09:31:13Z",
    )
    row = build_row(s, kubeconfigs_dir=str(kdir))
    assert (row.installed, row.total, row.progress) == (1, 2, "1/2")
    assert row.error == "boom"
    assert not row.stale and row.watcher == "none"
    assert row.last_event_at == datetime(2026, 5, 4, 9, 31, 13, tzinfo=timezone.utc)
    js = row.to_json()
    assert tuple(js) == LIST_JSON_KEYS
    assert js["finishedAt"] is None and js["error"] == "boom" and js["handoverFiredAt"] == "2026-05-04T09:31:13Z"
    assert row.status_text() == "✔ ready"


def test_go_zero_time_and_empty_fields_are_null(kdir: Path):
    row = build_row(summ("b", "pending", startedAt="0001-01-01T00:00:00Z"), kubeconfigs_dir=str(kdir))
    js = row.to_json()
    assert js["startedAt"] is None and js["sovereignFQDN"] is None and js["error"] is None
    assert js["componentsTotal"] == 0


def test_stale_when_phase1_watching_cannot_resume(kdir: Path):
    row = build_row(summ("s1", "phase1-watching"), kubeconfigs_dir=str(kdir))
    assert row.stale and row.watcher == "stale" and "no kubeconfig" in row.resume.reason
    assert row.status_text() == "⚠ phase1-watching (stale)"
    (kdir / "s2.yaml").write_text("apiVersion: v1\n")
    row2 = build_row(summ("s2", "phase1-watching"), kubeconfigs_dir=str(kdir))
    assert not row2.stale and row2.resume.resume


def test_live_watcher_label_progress_and_last_event(kdir: Path):
    (kdir / "w.yaml").write_text("x")
    w = WatcherStatus("w", phase=WatchPhase.RECONNECTING, reason="connection refused",
                      last_event_at=datetime(2026, 5, 4, 12, 0, tzinfo=timezone.utc))
    w.components["cilium"] = Derived("cilium", ComponentState.INSTALLED, "", "", "", ())
    w.components["flux"] = Derived("flux", ComponentState.INSTALLING, "", "", "", ())
    row = build_row(summ("w", "phase1-watching", component_states={"cilium": "installing"},
                         last_event_time="2026-05-04T09:00:00Z"), kubeconfigs_dir=str(kdir), watcher=w)
    assert row.watcher == "reconnecting: connection refused"
    assert (row.installed, row.total) == (1, 2)
    assert row.last_event_at == datetime(2026, 5, 4, 12, 0, tzinfo=timezone.utc)
    assert attention_rank(row) == 2 and needs_attention(row)


def test_default_order(kdir: Path):
    (kdir / "watch.yaml").write_text("x")
    (kdir / "trouble.yaml").write_text("x")
    trouble = WatcherStatus("trouble", phase=WatchPhase.ERROR, reason="401")
    sums = [
        summ("other", "wiped"), summ("adopted", "adopted"), summ("ready", "ready"),
        summ("p0", "tofu-applying"), summ("watch", "phase1-watching"),
        summ("trouble", "phase1-watching"), summ("stale", "phase1-watching"),
        summ("failed", "failed"), summ("weird", "exploding"),
    ]
    rows = build_rows(sums, kubeconfigs_dir=str(kdir), watchers={"trouble": trouble})
    assert [r.id for r in rows] == ["failed", "stale", "trouble", "watch", "p0", "ready", "adopted", "other", "weird"]
    unknown = next(r for r in rows if r.id == "weird")
    assert needs_attention(unknown) and status_style(unknown.status).glyph == "?"
    assert [r.id for r in filter_rows(rows, "", attention_only=True)] == ["failed", "stale", "trouble", "weird"]


def test_ties_newest_started_first(kdir: Path):
    rows = build_rows([
        summ("old", "failed", startedAt="2026-05-01T00:00:00Z"),
        summ("new", "failed", startedAt="2026-05-03T00:00:00Z"),
        summ("none", "failed"),
    ], kubeconfigs_dir=str(kdir))
    assert [r.id for r in rows] == ["new", "old", "none"]


def test_sort_by_column_missing_last(kdir: Path):
    rows = build_rows([
        summ("a", "ready", orgName="beta"), summ("b", "ready", orgName="Alpha"), summ("c", "ready"),
    ], kubeconfigs_dir=str(kdir))
    assert [r.id for r in sort_rows(rows, "org")] == ["b", "a", "c"]
    assert [r.id for r in sort_rows(rows, "org", descending=True)] == ["a", "b", "c"]
    with pytest.raises(ValueError):
        sort_rows(rows, "nope")


def test_filter_case_insensitive_over_fields(kdir: Path):
    rows = build_rows([
        summ("abc123", "ready", sovereignFQDN="acme.omani.works", orgName="Acme Telecom", region="fsn1"),
        summ("def456", "failed", error="Phase 1 finished with 2 failed component(s)", region="NBG1"),
    ], kubeconfigs_dir=str(kdir))
    assert [r.id for r in filter_rows(rows, "TELECOM")] == ["abc123"]
    assert [r.id for r in filter_rows(rows, "nbg1")] == ["def456"]
    assert [r.id for r in filter_rows(rows, "component(s)")] == ["def456"]
    assert [r.id for r in filter_rows(rows, "ABC1")] == ["abc123"]
    assert [r.id for r in filter_rows(rows, "fail")] == ["def456"]
    assert len(filter_rows(rows, "  ")) == 2


def test_status_counts_order(kdir: Path):
    rows = build_rows([summ(str(i), s) for i, s in enumerate(["ready", "failed", "ready", "zzz", "pending"])],
                      kubeconfigs_dir=str(kdir))
    assert list(status_counts(rows).items()) == [("pending", 1), ("ready", 2), ("failed", 1), ("zzz", 1)]


def test_every_known_status_has_a_distinct_symbol():
    assert set(STATUS_STYLES) == set(statuses.KNOWN_STATUSES)
    glyphs = [st.glyph for st in STATUS_STYLES.values()]
    assert len(set(glyphs)) == len(glyphs)
