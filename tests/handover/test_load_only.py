"""The sidecar mode: never generate a handover key that no Sovereign would accept."""

from __future__ import annotations

import pytest

from catalyst_tui.handover.keys import ENV_KEY_LOAD_ONLY, HandoverKeyError, HandoverSigner


def test_load_only_refuses_to_generate(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_KEY_LOAD_ONLY, "1")
    path = tmp_path / "keys" / "handover-key.pem"
    with pytest.raises(HandoverKeyError) as info:
        HandoverSigner.load_or_generate(path)
    assert "forbids generating" in str(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "keys").exists(), "nothing created"


def test_load_only_still_loads_an_existing_key(tmp_path, monkeypatch):
    path = tmp_path / "handover-key.pem"
    first = HandoverSigner.load_or_generate(path, load_only=False)
    monkeypatch.setenv(ENV_KEY_LOAD_ONLY, "true")
    again = HandoverSigner.load_or_generate(path)
    assert again.kid == first.kid and not again.generated


def test_explicit_argument_wins_over_env(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_KEY_LOAD_ONLY, "1")
    assert HandoverSigner.load_or_generate(tmp_path / "k.pem", load_only=False).generated
