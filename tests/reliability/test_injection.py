"""Terminal injection, command-line part (issue 6, item 6).

Records on both backends carry Rich markup (``[bold red]x[/]``, ``[@click=app.quit]``), ANSI CSI
and OSC sequences (``ESC[2J``, OSC 52 clipboard write, OSC 0 title), 8-bit C1 controls (U+009B
CSI, U+009D OSC), C0 controls, DEL, bidi overrides and isolates and the Unicode separators in
every displayed field: org name, FQDN, region, owner, error, status, event messages, HelmRelease
(component event) messages and component names, result fields, unknown keys, the record id
itself and a record file name; the operator name and reason come in through ``--operator`` and
``--reason``.

* Human output (``list``, ``show``, ``events``, ``audit``, ``rehydrate``, ``patch-status``, every
  error line) is inert: no ESC, no C0 but newline and tab, no C1, no bidi control reaches stdout or
  stderr (tab and newline are layout, not controls); markup is printed literally (the command line never renders Rich markup).
* ``--json`` output is JSON: it parses and carries the original text; the encoder escapes ESC and
  the other C0 controls. The commands printing through ``json_text`` escape C1 and bidi too.
* ``show --json`` prints catalyst-api's bytes (issue 2), in which Go leaves U+0080-U+009F and the
  bidi controls raw. On a terminal that is an 8-bit CSI/OSC; a test under a real pseudo-terminal
  checks that nothing a terminal acts on is written when stdout is a terminal.
"""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import time
from pathlib import Path

import pytest

from .support import BACKENDS, PYTHON, REPO, base_record, clean_env, first_unsafe, seed, store_url, write_catalyst_file
from catalyst_tui.domain.record import Record

MARKUP = "[bold red]x[/] [@click=app.quit]quit[/]"
P = (
    f"Org {MARKUP} \x1b[2J\x1b[31mred\x1b]52;c;ZXZpbA==\x07 \x1b]0;title\x1b\\ \x9b2J \x9d0;t\x9c "
    "\x00\x07\x08\r\x0b\x0c\x7f \u202eevil\u202c \u2066iso\u2069 \u2028sep\tTab\nnext"
)
RID = "1a1e000000000001"
UNKNOWN_STATUS_RID = "1a1e000000000002"
ESC_ID = "\x1b[2J\x1b]52;c;ZXZpbA==\x07id"


def hostile_records() -> list[Record]:
    events = [
        {"time": "2026-05-04T09:00:02Z", "phase": "tofu", "level": "warn", "message": P},
        {"time": "2026-05-04T09:08:02Z", "phase": "component", "level": "error", "message": P,
         "component": P, "state": "failed"},
        {"time": "2026-05-04T09:08:03Z", "phase": "component", "level": "info", "message": P,
         "component": "cilium", "state": "installed"},
        {"time": "2026-05-04T09:31:12Z", "phase": "handover-ready", "level": "info", "message": P},
        {"time": "2026-05-04T09:31:13Z", "phase": P, "level": P, "message": "phase and level hostile"},
    ]
    main = base_record(
        RID, "failed", error=P + "\nsecond line " + P, ownerEmail=P, events=events,
        finishedAt="2026-05-04T09:40:00Z",
        request={"orgName": P, "orgEmail": P, "sovereignFQDN": "acme" + P, "region": P, "hetznerToken": "<redacted>",
                 "futureField": P},
        result={"sovereignFQDN": P, "controlPlaneIP": P, "kubeconfigPath": "/var/lib/catalyst/kubeconfigs/" + P,
                "phase1Outcome": P, "phase1Substate": P, "handoverURL": "https://console.x/auth/handover?token=" + P},
    )
    main[P] = P  # an unknown key from a "newer build"
    unknown = base_record(UNKNOWN_STATUS_RID, "\x1b[2J\x9b31mpwned\u202e", request={"orgName": "plain"})
    esc = base_record(ESC_ID, "ready", request={"orgName": P})
    return [Record.model_validate(main), Record.model_validate(unknown), Record.model_validate(esc)]


@pytest.fixture(params=BACKENDS)
def hostile_store(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    url = store_url(tmp_path, request.param)
    seed(url, hostile_records())
    if request.param == "dir":
        # A bad file whose very name is hostile: its "skipped" line must be inert too.
        (Path(url.split("://", 1)[1]) / "\x1b]52;c;ZXZpbA==\x07\u202e.json").write_text("{broken")
    return url


def assert_inert(text: str, what: str) -> None:
    bad = first_unsafe(text)
    assert bad is None, f"{what}: {bad}"


HUMAN = [
    ["list"],
    ["list", "--attention"],
    ["list", "--filter", "org"],
    ["show", RID],
    ["show", UNKNOWN_STATUS_RID],
    ["show", ESC_ID],
    ["events", RID],
    ["events", ESC_ID],
    ["rehydrate", "--dry-run"],
    ["audit"],
    ["audit", RID],
]


def test_human_output_is_inert_and_markup_literal(cli, hostile_store: str) -> None:
    # Put the operator name and reason into the audit trail and the record first.
    r = cli(hostile_store, "--operator", P, "patch-status", RID, "--to", "failed", "--reason", P)
    assert r.code == 0, r.err
    assert_inert(r.out, "patch-status stdout")
    assert_inert(r.err, "patch-status stderr")
    for args in HUMAN:
        r = cli(hostile_store, *args)
        assert r.code == 0, (args, r.err)
        assert_inert(r.out, f"{args} stdout")
        assert_inert(r.err, f"{args} stderr")
    show = cli(hostile_store, "show", RID).out
    assert MARKUP in show  # shown literally, never rendered
    assert "[@click=app.quit]" in cli(hostile_store, "events", RID).out
    audit = cli(hostile_store, "audit").out
    assert "[bold red]x[/]" in audit  # the operator's name, literally


@pytest.mark.parametrize(
    "args,code",
    [
        (["show", "\x1b[2J\x1b]52;c;ZXZpbA==\x07\u202e-missing"], 3),
        (["patch-status", "\x1b]0;t\x07/..", "--to", "failed", "--reason", "x"], 2),
        (["patch-status", RID, "--to", "\x1b[2Jready", "--reason", "x"], 2),
        (["patch-status", RID, "--to", "ready", "--reason", "x", "--expect", "phase1-watching"], 4),
        (["handover", RID], 5),  # not ready
        (["handover", ESC_ID], 5),  # ready, but the FQDN is not a DNS name
        (["--store", "ftp://\x1b[2J/x", "list"], 2),
    ],
)
def test_error_lines_are_inert(cli, hostile_store: str, tmp_path: Path, args: list[str], code: int) -> None:
    r = cli(hostile_store, "--handover-key", str(tmp_path / "key.pem"), *args)
    assert r.code == code, r.err
    assert r.err.count("\n") == 1, r.err
    assert_inert(r.err, f"{args} stderr")
    assert_inert(r.out, f"{args} stdout")


def test_json_output_parses_and_carries_the_original_text(cli, hostile_store: str) -> None:
    r = cli(hostile_store, "--operator", "op [bold]x[/]", "patch-status", RID, "--to", "failed", "--reason", "why [b]")
    assert r.code == 0

    r = cli(hostile_store, "list", "--json")
    assert_inert(r.out, "list --json")
    rows = {row["id"]: row for row in json.loads(r.out)}
    assert rows[RID]["orgName"] == P and rows[RID]["sovereignFQDN"] == "acme" + P
    assert rows[RID]["region"] == P and rows[RID]["error"] and P.startswith(rows[RID]["error"])  # its first line
    assert rows[UNKNOWN_STATUS_RID]["status"] == "\x1b[2J\x9b31mpwned\u202e"
    assert ESC_ID in rows

    r = cli(hostile_store, "events", RID, "--json")
    assert_inert(r.out, "events --json")
    events = json.loads(r.out)
    assert [e["message"] for e in events[:4]] == [P, P, P, P] and events[1]["component"] == P

    r = cli(hostile_store, "audit", "--json")
    assert_inert(r.out, "audit --json")
    assert [(a["operator"], a["reason"]) for a in json.loads(r.out)] == [("op [bold]x[/]", "why [b]")]

    r = cli(hostile_store, "rehydrate", "--dry-run", "--json")
    assert_inert(r.out, "rehydrate --json")
    assert {row["id"] for row in json.loads(r.out)} == {RID, UNKNOWN_STATUS_RID, ESC_ID}

    r = cli(hostile_store, "show", RID, "--json")
    assert "\x1b" not in r.out and not any(c < " " and c != "\n" for c in r.out)  # Go escapes C0
    data = json.loads(r.out)
    assert data["request"]["orgName"] == P and data[P] == P and data["events"][0]["message"] == P
    assert data["result"]["handoverURL"].endswith(P)


def test_no_escape_byte_reaches_a_real_process_stdout(tmp_path: Path) -> None:
    """The same through ``python -m catalyst_tui`` as bytes: no ESC, no UTF-8-encoded C1."""
    url = store_url(tmp_path, "sqlite")
    seed(url, hostile_records())
    for args in (["show", RID], ["show", "missing\x1b[2J"]):
        proc = subprocess.run([PYTHON, "-m", "catalyst_tui", "--store", url, *args], cwd=REPO, env=clean_env(),
                              capture_output=True, timeout=60)
        for stream in (proc.stdout, proc.stderr):
            assert b"\x1b" not in stream and b"\x07" not in stream, (args, stream[:200])
            assert not any(b"\xc2" + bytes([c]) in stream for c in range(0x80, 0xA0)), args
            assert "\u202e".encode() not in stream, args


def _run_on_pty(args: list[str]) -> bytes:
    """Run the CLI with stdout and stderr on a pseudo-terminal (what an operator's shell is)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([PYTHON, "-m", "catalyst_tui", *args], cwd=REPO, env=clean_env(),
                            stdin=subprocess.DEVNULL, stdout=slave, stderr=slave)
    os.close(slave)
    chunks = []
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not data:
                    break
                chunks.append(data)
            elif proc.poll() is not None:
                break
    finally:
        os.close(master)
        proc.wait(10)
    return b"".join(chunks)


@pytest.mark.parametrize("backend", BACKENDS)
def test_show_json_on_a_terminal_writes_nothing_a_terminal_acts_on(tmp_path: Path, backend: str) -> None:
    url = store_url(tmp_path, backend)
    if backend == "dir":
        write_catalyst_file(Path(url.split("://", 1)[1]), hostile_records()[0])
    else:
        seed(url, hostile_records()[:1])
    for args, marker in ((["show", RID, "--json"], RID), (["events", RID], "phase and level hostile")):
        out = _run_on_pty(["--store", url, *args]).decode("utf-8", "surrogateescape")
        out = out.replace("\r\n", "\n")  # the terminal's own newline translation
        assert marker in out, out[:300]  # it really printed the record
        assert_inert(out, f"{args} on a terminal")
        if "--json" in args:
            assert json.loads(out)["request"]["orgName"] == P  # escaped, still the same JSON data
