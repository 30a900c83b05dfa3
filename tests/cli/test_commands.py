"""The command line in-process (``main([...])``) against real SQLite files on tmp_path."""

from __future__ import annotations

import json
from pathlib import Path

import jwt
import pytest
from jwt.algorithms import RSAAlgorithm

from catalyst_tui.cli import main as cli_main
from catalyst_tui.domain.record import to_catalyst_json
from catalyst_tui.domain.restart import ORPHAN_ERROR
from catalyst_tui.service.fleet import LIST_JSON_KEYS

from .conftest import (
    FAILED,
    HOSTILE,
    READY,
    RESUMABLE,
    STALE,
    TOFU,
    audit_entries,
    dump_store,
    get_record,
)

ESC = "\x1b"


def assert_inert(text: str) -> None:
    for bad in ("\x1b", "\x07", "\x9b", "\u202e"):
        assert bad not in text, repr(bad)


# --- list ----------------------------------------------------------------------------------------

def test_list_json_exact_keys_nulls_and_attention_order(cli, db):
    r = cli(db, "list", "--json")
    assert r.code == 0, r.err
    rows = json.loads(r.out)
    assert all(tuple(row) == LIST_JSON_KEYS for row in rows)
    by_id = {row["id"]: row for row in rows}
    assert [row["id"] for row in rows] == [FAILED, HOSTILE, STALE, TOFU, READY, RESUMABLE]
    failed = by_id[FAILED]
    assert failed["error"] == "Phase 1 finished with 1 failed component(s); see ComponentStates"
    assert (failed["componentsInstalled"], failed["componentsTotal"]) == (1, 2)
    assert failed["finishedAt"] == "2026-05-04T09:40:00Z"
    stale = by_id[STALE]
    assert stale["stale"] is True and stale["finishedAt"] is None and stale["error"] is None
    assert stale["handoverFiredAt"] is None
    assert by_id[TOFU]["stale"] is False and by_id[TOFU]["componentsTotal"] == 0
    assert by_id[READY]["orgName"] == "Acme Telecom" and by_id[READY]["region"] == "fsn1"
    # Control characters in JSON are escapes, never raw bytes.
    assert_inert(r.out)
    assert by_id[HOSTILE]["orgName"] == "Evil\x1b[31mCorp\x9b2J"


def test_list_human_table_is_inert_and_readable_without_colour(cli, db):
    r = cli(db, "list")
    assert r.code == 0
    assert_inert(r.out)
    assert "\\x1b[31m" in r.out and "\\x9b" in r.out  # shown, not applied
    lines = r.out.splitlines()
    assert lines[0].split()[:3] == ["STATUS", "ID", "FQDN"]
    stale_line = next(line for line in lines if STALE in line)
    assert "⚠ phase1-watching (stale)" in stale_line and "stale" in stale_line.split()
    assert any(line.startswith("✘ failed") for line in lines)
    assert "1/2" in next(line for line in lines if FAILED in line)


def test_list_filter_and_attention(cli, db):
    r = cli(db, "list", "--json", "--attention")
    assert {row["id"] for row in json.loads(r.out)} == {FAILED, HOSTILE, STALE}
    r = cli(db, "list", "--json", "--filter", "D000.OMANI")
    assert [row["id"] for row in json.loads(r.out)] == [READY]


def test_list_empty_store(cli, tmp_path):
    url = f"sqlite://{tmp_path / 'empty.db'}"
    from .conftest import run, _seed

    run(_seed(url, []))
    r = cli(url, "list", "--json")
    assert r.code == 0 and json.loads(r.out) == []
    assert cli(url, "list").out.strip() == "no records"


def test_global_options_after_the_command(cli, db):
    r = cli(None, "list", "--json", "--store", db)
    assert r.code == 0 and len(json.loads(r.out)) == 6


def test_store_from_env(cli, db, monkeypatch):
    monkeypatch.setenv("CATALYST_TUI_STORE", db)
    r = cli(None, "list", "--json")
    assert r.code == 0 and len(json.loads(r.out)) == 6


# --- show / events ---------------------------------------------------------------------------

def test_show_json_is_catalyst_api_bytes(cli, db):
    r = cli(db, "show", READY, "--json")
    assert r.code == 0
    assert r.out == to_catalyst_json(get_record(db, READY))
    assert r.out.endswith("}\n") and '"hetznerToken": "<redacted>"' in r.out


def test_show_human_never_shows_secrets(cli, db):
    r = cli(db, "show", HOSTILE)
    assert r.code == 0
    assert "plaintext-oops-secret" not in r.out
    assert "hetznerToken:" in r.out and "<redacted>" in r.out
    assert_inert(r.out)
    assert "\\x1b]52;" in r.out  # the OSC 52 attempt is visible as text
    assert "status:" in r.out and "✘ failed" in r.out


def test_show_human_hides_handover_token_and_states_restart_decision(cli, db, tmp_path):
    key = tmp_path / "key.pem"
    assert cli(db, "--handover-key", str(key), "handover", READY).code == 0
    r = cli(db, "show", READY)
    assert "token=<hidden>" in r.out and "eyJ" not in r.out
    assert "restart:" in r.out and "not resumed: Phase 1 already finished" in r.out
    r = cli(db, "show", STALE)
    assert "stale" in r.out and "not resumed: no kubeconfig" in r.out
    r = cli(db, "show", RESUMABLE)
    assert "resumed: kubeconfig at" in r.out


def test_events_human_and_json(cli, db):
    r = cli(db, "events", READY)
    assert r.code == 0
    lines = r.out.splitlines()
    assert len(lines) == 3 and "cilium=installed" in lines[0] and "Helm install succeeded" in lines[0]
    r = cli(db, "events", READY, "--json")
    evs = json.loads(r.out)
    assert evs[0] == {"time": "2026-05-04T09:08:02Z", "phase": "component", "level": "info",
                      "message": "Helm install succeeded", "component": "cilium", "state": "installed"}
    r = cli(db, "events", HOSTILE)
    assert_inert(r.out)
    assert "\\x1b]0;title\\x07hello" in r.out
    r = cli(db, "events", "0000000000000000")
    assert r.code == 3 and r.err.count("\n") == 1 and "0000000000000000" in r.err


def test_new_events_handles_the_cap():
    new = cli_main.new_events
    a = [{"i": i} for i in range(10)]
    assert new(a, a + [{"i": 10}]) == [{"i": 10}]
    assert new(a, a) == []
    capped = a[3:] + [{"i": 10}, {"i": 11}]
    assert new(a, capped) == [{"i": 10}, {"i": 11}]
    assert new([], a) == a


# --- rehydrate -----------------------------------------------------------------------------------

def test_rehydrate_dry_run_writes_nothing(cli, db):
    before = dump_store(db)
    r = cli(db, "rehydrate", "--dry-run", "--json")
    assert r.code == 0
    rows = json.loads(r.out)
    assert all(tuple(row) == ("id", "before", "after", "resume", "reason") for row in rows)
    by_id = {row["id"]: row for row in rows}
    assert by_id[TOFU]["before"] == "tofu-applying" and by_id[TOFU]["after"] == "failed"
    assert by_id[RESUMABLE]["resume"] is True and by_id[RESUMABLE]["after"] == "phase1-watching"
    assert by_id[STALE]["resume"] is False and "no kubeconfig" in by_id[STALE]["reason"]
    assert dump_store(db) == before


def test_rehydrate_persists_and_audits(cli, db):
    r = cli(db, "--operator", "carol", "rehydrate")
    assert r.code == 0, r.err
    assert "written" in r.out
    tofu = get_record(db, TOFU)
    assert tofu.status == "failed" and tofu.error == ORPHAN_ERROR.format(id=TOFU) and tofu.finished is not None
    resumed = get_record(db, RESUMABLE)
    assert resumed.status == "phase1-watching" and resumed.result.kubeconfigPath.endswith(f"{RESUMABLE}.yaml")
    assert get_record(db, STALE).status == "phase1-watching"
    entries = audit_entries(db)
    assert {(e["record_id"], e["action"], e["status_before"], e["status_after"], e["operator"]) for e in entries} == {
        (TOFU, "rehydrate", "tofu-applying", "failed", "carol"),
        (RESUMABLE, "rehydrate", "ready", "phase1-watching", "carol"),
    }
    assert all(e["reason"] for e in entries)
    # A second pass changes nothing more.
    state = dump_store(db)
    assert cli(db, "rehydrate").code == 0
    assert dump_store(db) == state


# --- patch-status ------------------------------------------------------------------------------

def test_patch_status_appends_operator_event_and_audit(cli, db):
    r = cli(db, "--operator", "alice", "patch-status", STALE, "--to", "ready", "--reason", "ticket 42: manual workaround",
            "--expect", "phase1-watching")
    assert r.code == 0, r.err
    assert f"{STALE}: status phase1-watching → ready (by alice)" in r.out
    rec = get_record(db, STALE)
    assert rec.status == "ready"
    last = rec.events[-1]
    assert (last.phase, last.level) == ("operator", "warn")
    assert "alice" in last.message and "phase1-watching → ready" in last.message and "ticket 42" in last.message
    (entry,) = audit_entries(db)
    assert entry["operator"] == "alice" and entry["action"] == "patch-status"
    assert (entry["status_before"], entry["status_after"], entry["reason"]) == ("phase1-watching", "ready", "ticket 42: manual workaround")


def test_patch_ready_that_a_restart_would_resume_warns(cli, db, kdir):
    r = cli(db, "patch-status", RESUMABLE, "--to", "failed", "--reason", "x")
    assert r.code == 0
    assert "warning:" in r.err and "flips it back to phase1-watching" in r.err
    r = cli(db, "patch-status", READY, "--to", "failed", "--reason", "x")
    assert r.code == 0 and r.err == ""


def test_patch_expect_mismatch_conflicts_and_changes_nothing(cli, db):
    before = dump_store(db)
    r = cli(db, "patch-status", READY, "--to", "failed", "--reason", "x", "--expect", "phase1-watching")
    assert r.code == 4
    assert r.err == f"catalyst-tui: {READY}: status is 'ready', expected 'phase1-watching'; nothing written\n"
    assert dump_store(db) == before


@pytest.mark.parametrize(
    "args,needle",
    [
        (["patch-status", READY, "--to", "bogus", "--reason", "x"], "unknown status 'bogus'"),
        (["patch-status", READY, "--to", "ready", "--reason", "   "], "a reason is required"),
        (["patch-status", READY, "--to", "ready", "--reason", ""], "a reason is required"),
        (["patch-status", READY, "--to", "ready", "--reason", "x", "--expect", "nope"], "unknown status 'nope'"),
        (["patch-status", "a/b", "--to", "ready", "--reason", "x"], "'a/b': invalid record id"),
        (["patch-status", "..", "--to", "ready", "--reason", "x"], "'..': invalid record id"),
        (["show", "../../etc/passwd"], "invalid record id"),
        (["events", "a/b"], "invalid record id"),
        (["handover", ".."], "invalid record id"),
        (["export", "/tmp/x", "a/b"], "invalid record id"),
    ],
)
def test_bad_input_is_a_usage_error_and_changes_nothing(cli, db, args, needle):
    before = dump_store(db)
    r = cli(db, *args)
    assert r.code == 2, r.err
    assert needle in r.err and r.err.count("\n") == 1 and r.err.startswith("catalyst-tui: ")
    assert r.out == ""
    assert dump_store(db) == before


@pytest.mark.parametrize(
    "args",
    [
        ["patch-status", READY, "--to"],
        ["patch-status", READY, "--reason", "x"],
        ["no-such-command"],
        ["list", "--bogus"],
        ["show"],
    ],
)
def test_argparse_errors_exit_2(cli, db, args):
    r = cli(db, *args)
    assert r.code == 2 and "error:" in r.err


def test_not_found_exit_3(cli, db):
    before = dump_store(db)
    for args in (["show", "0000000000000000"], ["patch-status", "0000000000000000", "--to", "ready", "--reason", "x"],
                 ["handover", "0000000000000000"]):
        r = cli(db, *args)
        assert r.code == 3 and "0000000000000000" in r.err and r.err.count("\n") == 1
    assert dump_store(db) == before


# --- read-only ---------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "args",
    [
        ["patch-status", READY, "--to", "failed", "--reason", "x"],
        ["rehydrate"],
        ["handover", READY],
        ["import", "/nonexistent-src"],
        ["export", "/nonexistent-dest"],
    ],
)
def test_read_only_refuses_every_mutation(cli, db, tmp_path, args):
    before = dump_store(db)
    key = tmp_path / "ro-key.pem"
    r = cli(db, "--read-only", "--handover-key", str(key), *args)
    assert r.code == 5, r.err
    assert "read-only" in r.err and r.err.count("\n") == 1
    assert dump_store(db) == before
    assert not key.exists()


def test_read_only_still_reads(cli, db):
    assert cli(db, "--read-only", "list", "--json").code == 0
    assert cli(db, "--read-only", "rehydrate", "--dry-run").code == 0
    assert cli(db, "--read-only", "audit").code == 0


# --- audit identity ----------------------------------------------------------------------------

def _patch(cli, db, *pre: str) -> dict:
    assert cli(db, *pre, "patch-status", FAILED, "--to", "failed", "--reason", "identity check").code == 0
    return audit_entries(db)[-1]


def test_audit_operator_flag_env_and_ssh(cli, db, monkeypatch):
    assert _patch(cli, db)["operator"] == "tester"
    monkeypatch.setenv("SSH_CONNECTION", "203.0.113.7 51234 10.0.0.5 22")
    assert _patch(cli, db)["operator"] == "tester@203.0.113.7"
    monkeypatch.setenv("CATALYST_OPERATOR", "bob")
    assert _patch(cli, db)["operator"] == "bob"
    assert _patch(cli, db, "--operator", "alice")["operator"] == "alice"
    monkeypatch.setenv("CATALYST_OPERATOR", "mallory\x1b[2J")
    assert _patch(cli, db)["operator"] == "mallory[2J"


def test_audit_command_human_and_json(cli, db):
    _patch(cli, db, "--operator", "alice")
    r = cli(db, "audit", "--json")
    (entry,) = json.loads(r.out)
    assert set(entry) == {"time", "operator", "action", "record_id", "status_before", "status_after", "reason", "detail"}
    r = cli(db, "audit")
    assert "alice" in r.out and "patch-status" in r.out and FAILED in r.out
    r = cli(db, "audit", READY, "--json")
    assert json.loads(r.out) == []


# --- handover ----------------------------------------------------------------------------------

def test_handover_prints_url_once_and_verifies(cli, db, tmp_path):
    key = tmp_path / "keys" / "handover.pem"
    r = cli(db, "--operator", "alice", "--handover-key", str(key), "handover", READY)
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    assert len(lines) == 1 and lines[0].startswith("https://console.d000.omani.works/auth/handover?token=")
    token = lines[0].split("token=", 1)[1]
    assert token not in r.err
    jwk = json.loads(Path(str(key) + ".jwk").read_text())
    claims = jwt.decode(token, RSAAlgorithm.from_jwk(jwk), algorithms=["RS256"],
                        audience="https://console.d000.omani.works", issuer="https://console.openova.io")
    assert claims["deployment_id"] == READY and claims["jti"] and claims["exp"] - claims["iat"] == 300
    rec = get_record(db, READY)
    assert rec.result.handoverFiredAt and rec.result.handoverURL == lines[0]
    assert rec.events[-1].phase == "handover-ready"
    entry = audit_entries(db)[-1]
    assert (entry["action"], entry["operator"], entry["record_id"]) == ("handover", "alice", READY)
    assert token not in json.dumps(entry)

    # Already fired: refused without --reissue, fresh token with it.
    before = dump_store(db)
    r2 = cli(db, "--handover-key", str(key), "handover", READY)
    assert r2.code == 5 and "--reissue" in r2.err and r2.out == ""
    assert dump_store(db) == before
    r3 = cli(db, "--handover-key", str(key), "handover", READY, "--reissue")
    assert r3.code == 0 and r3.out.strip() != lines[0]
    assert audit_entries(db)[-1]["action"] == "handover-reissue"


def test_handover_refused_unless_ready_or_adopted(cli, db, tmp_path, monkeypatch):
    key = tmp_path / "env-key.pem"
    monkeypatch.setenv("CATALYST_HANDOVER_KEY_PATH", str(key))
    before = dump_store(db)
    for rid in (FAILED, STALE, TOFU):
        r = cli(db, "handover", rid)
        assert r.code == 5 and rid in r.err and "not ready or adopted" in r.err and r.out == ""
    assert dump_store(db) == before
    assert not key.exists()  # a refused handover never generates a key
    assert cli(db, "handover", READY).code == 0 and key.exists()


def test_handover_unreadable_key_is_one_line(cli, db, tmp_path):
    key = tmp_path / "bad.pem"
    key.write_text("not a key")
    before = dump_store(db)
    r = cli(db, "--handover-key", str(key), "handover", READY)
    assert r.code == 1 and r.err.count("\n") == 1 and r.out == ""
    assert dump_store(db) == before


# --- misc ----------------------------------------------------------------------------------------

def test_help_exits_0(cli):
    r = cli(None, "--help", kubeconfigs=False)
    assert r.code == 0 and "patch-status" in r.out


def test_no_command_prints_help_until_the_dashboard_exists(cli, monkeypatch):
    monkeypatch.setattr(cli_main, "dashboard_available", lambda: False)
    r = cli(None, kubeconfigs=False)
    assert r.code == 0 and "usage: catalyst-tui" in r.out


def test_unusable_store_is_one_line(cli, tmp_path):
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite" * 100)
    r = cli(f"sqlite://{junk}", "list")
    assert r.code == 1 and r.err.count("\n") == 1 and "junk.db" in r.err
    r = cli("bogus://x", "list")
    assert r.code == 2 and r.err.count("\n") == 1


def test_events_human_hides_handover_tokens_json_keeps_them(cli, db, tmp_path):
    r = cli(db, "--handover-key", str(tmp_path / "k.pem"), "handover", READY)
    token = r.out.strip().split("token=", 1)[1]
    human = cli(db, "events", READY).out
    assert token not in human and "token=<hidden>" in human and "handover-ready" in human
    assert token in cli(db, "events", READY, "--json").out


def test_show_human_long_keys_keep_a_space(cli, tmp_path):
    from .conftest import _seed, record, run

    url = f"sqlite://{tmp_path / 'long.db'}"
    run(_seed(url, [record("1234567890abcdef", "ready", request={"objectStorageAccessKey": "AKIAREALSECRET"})]))
    r = cli(url, "show", "1234567890abcdef")
    assert "objectStorageAccessKey: <redacted>" in r.out and "AKIAREALSECRET" not in r.out


# --- watch (wired to service/supervisor.run_watch) ----------------------------------------------

def _small_store(tmp_path) -> str:
    from .conftest import _seed, record, run

    url = f"sqlite://{tmp_path / 'watch.db'}"
    run(_seed(url, [record(TOFU, "tofu-applying"), record(READY, "ready", result={"phase1FinishedAt": "2026-05-04T09:31:12Z"})]))
    return url


def test_watch_without_resumable_records_rehydrates_and_exits_0(cli, tmp_path):
    url = _small_store(tmp_path)
    r = cli(url, "--operator", "wes", "--handover-key", str(tmp_path / "w.pem"), "watch")
    assert r.code == 0, r.err
    assert "watching 0 Sovereign(s)" in r.out and "every resumed watch has ended" in r.out
    assert get_record(url, TOFU).status == "failed"


def test_watch_read_only_writes_nothing(cli, tmp_path):
    url = _small_store(tmp_path)
    before = dump_store(url)
    r = cli(url, "--read-only", "watch")
    assert r.code == 0, r.err
    assert "read-only" in r.out
    assert dump_store(url) == before


def test_every_subcommand_says_whether_it_mutates():
    import argparse

    parser = cli_main.build_parser()
    (subs,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    marks = {name: p._defaults.get("mutating") for name, p in subs.choices.items()}
    assert None not in marks.values(), marks
    assert {n for n, m in marks.items() if m} == {"patch-status", "rehydrate", "handover", "import", "export"}
