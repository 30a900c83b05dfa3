"""service/identity.py and service/text.py."""

from __future__ import annotations

import getpass

import pytest

from catalyst_tui.service.identity import clean_operator, login_user, resolve_operator, ssh_client_address
from catalyst_tui.service.text import first_line, sanitize, truncate


def test_operator_resolution_order():
    env = {"CATALYST_OPERATOR": "bob", "SSH_CONNECTION": "203.0.113.7 5000 10.0.0.1 22", "LOGNAME": "carol"}
    assert resolve_operator("alice", env) == "alice"
    assert resolve_operator(None, env) == "bob"
    env.pop("CATALYST_OPERATOR")
    assert resolve_operator(None, env).endswith("@203.0.113.7")
    assert ssh_client_address(env) == "203.0.113.7"
    assert ssh_client_address({"SSH_CONNECTION": "  "}) == ""
    # Empty or control-only explicit values fall through to the next source.
    assert resolve_operator("\x1b\x07", {"CATALYST_OPERATOR": "bob"}) == "bob"


def test_operator_is_cleaned():
    assert clean_operator("ali\x1b[31mce\n  x") == "ali[31mce x"
    assert clean_operator("a" * 500) == "a" * 200
    assert resolve_operator(None, {"CATALYST_OPERATOR": "e\u202eve"}) == "eve"


def test_login_user_survives_getpass_failure(monkeypatch):
    def boom() -> str:
        raise OSError("no passwd entry for uid 65534")

    monkeypatch.setattr(getpass, "getuser", boom)
    assert login_user({"USER": "svc"}) == "svc"
    assert login_user({}).startswith("uid")
    assert resolve_operator(None, {"SSH_CONNECTION": "198.51.100.9 1 2 3"}).endswith("@198.51.100.9")


@pytest.mark.parametrize(
    "raw,shown",
    [
        ("plain text — Zürich", "plain text — Zürich"),
        ("\x1b[31mred", "\\x1b[31mred"),
        ("\x1b]52;c;aGk=\x07", "\\x1b]52;c;aGk=\\x07"),
        ("csi\x9b2J", "csi\\x9b2J"),
        ("a\nb\tc\rd", "a\\x0ab\\x09c\\x0dd"),
        ("del\x7f", "del\\x7f"),
        ("bidi\u202eevil\u2066", "bidi\\u202eevil\\u2066"),
        ("nul\x00", "nul\\x00"),
    ],
)
def test_sanitize_makes_controls_visible_and_inert(raw, shown):
    assert sanitize(raw) == shown


def test_sanitize_keep_newlines_and_non_strings():
    assert sanitize("a\nb\tc\x1b", keep_newlines=True) == "a\nb\tc\\x1b"
    assert sanitize(None) == "" and sanitize(7) == "7"


def test_first_line_and_truncate():
    assert first_line("\n  first \nsecond") == "first"
    assert first_line("") == "" and first_line(None) == ""
    assert truncate("abcdef", 4) == "abc…" and truncate("abc", 4) == "abc" and truncate("abc", 0) == ""
