"""Shared fixtures: one RSA-2048 key per session (generation costs ~50-200 ms)."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from catalyst_tui.handover.keys import ENV_ISSUER, ENV_KEY_PATH, ENV_TTL, HandoverSigner


@pytest.fixture(scope="session")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (ENV_ISSUER, ENV_KEY_PATH, ENV_TTL):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def key_file(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> Path:
    """The session key as a PEM file with mode 0600, no JWK beside it yet."""
    path = tmp_path / "keys" / "handover-key.pem"
    path.parent.mkdir(mode=0o700)
    path.write_bytes(
        rsa_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    path.chmod(0o600)
    return path


@pytest.fixture
def signer(key_file: Path) -> HandoverSigner:
    return HandoverSigner.load_or_generate(key_file)
