"""The handover key and token (§5.2): verified the way a Sovereign does, with the public JWK only."""

from __future__ import annotations

import base64
import json
import os
import pickle
import stat
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from catalyst_tui.handover.keys import (
    DEFAULT_TTL_SECONDS,
    ENV_ISSUER,
    ENV_KEY_PATH,
    ENV_TTL,
    HandoverKeyError,
    HandoverSigner,
    InvalidFQDN,
    _create_exclusive,
    default_key_path,
    jwk_path_for,
)

from .support import AUDIENCE, FQDN, ISSUER


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _public_key_from_file(jwk_file: Path) -> jwt.PyJWK:
    """What a Sovereign has: the JWK file, nothing else."""
    return jwt.PyJWK(json.loads(jwk_file.read_text()))


def _verify(token: str, key: jwt.PyJWK, **kw: object) -> dict:
    return jwt.decode(
        token, key, algorithms=["RS256"], audience=AUDIENCE, issuer=ISSUER,
        options={"require": ["exp", "iat", "iss", "aud", "jti"]}, **kw,
    )


def _now() -> datetime:
    return datetime.now(timezone.utc)


# --- minting and verifying ----------------------------------------------------------------------

def test_minted_token_verifies_with_the_public_jwk_only(signer: HandoverSigner) -> None:
    assert signer.jwk_path is not None
    key = _public_key_from_file(signer.jwk_path)
    minted = signer.mint(fqdn=FQDN, email="ops@acme.example", deployment_id="3f9c2a7e1b8d4c60", now=_now())

    claims = _verify(minted.token, key)

    assert set(claims) == {
        "iss", "aud", "sub", "email", "email_verified", "sovereign_fqdn", "deployment_id", "role", "jti", "iat", "exp",
    }
    assert claims["iss"] == "https://console.openova.io"
    assert claims["aud"] == ["https://console.acme.omani.works"]
    assert claims["sub"] == claims["email"] == "ops@acme.example"
    assert claims["email_verified"] is True
    assert claims["sovereign_fqdn"] == FQDN
    assert claims["deployment_id"] == "3f9c2a7e1b8d4c60"
    assert claims["role"] == "sovereign-admin"
    assert claims["exp"] - claims["iat"] == 300 == DEFAULT_TTL_SECONDS
    assert uuid.UUID(claims["jti"]).version == 4 and str(uuid.UUID(claims["jti"])) == claims["jti"]
    assert claims["jti"] == minted.jti
    assert int(minted.issued_at.timestamp()) == claims["iat"]
    assert int(minted.expires_at.timestamp()) == claims["exp"]

    header = jwt.get_unverified_header(minted.token)
    assert header["alg"] == "RS256"
    assert header["kid"] == signer.kid == key.key_id


def test_url_carries_the_token_for_the_sovereign_console(signer: HandoverSigner) -> None:
    minted = signer.mint(fqdn=FQDN, email="ops@acme.example", deployment_id="d1", now=_now())
    parts = urlsplit(minted.url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "console.acme.omani.works", "/auth/handover")
    assert parse_qs(parts.query) == {"token": [minted.token]}
    assert minted.url == f"https://console.{FQDN}/auth/handover?token={minted.token}"  # JWT chars need no escaping


def test_every_mint_has_a_fresh_jti(signer: HandoverSigner) -> None:
    now = _now()
    a = signer.mint(fqdn=FQDN, email="a@x.example", deployment_id="d", now=now)
    b = signer.mint(fqdn=FQDN, email="a@x.example", deployment_id="d", now=now)
    assert a.jti != b.jti and a.token != b.token


def _b64(obj: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def test_tampered_tokens_fail(signer: HandoverSigner) -> None:
    key = jwt.PyJWK(signer.public_jwk)
    minted = signer.mint(fqdn=FQDN, email="ops@acme.example", deployment_id="d", now=_now())
    header, payload, sig = minted.token.split(".")

    claims = jwt.decode(minted.token, options={"verify_signature": False})
    claims["email"] = claims["sub"] = "attacker@evil.example"
    forged = f"{header}.{_b64(claims)}.{sig}"
    with pytest.raises(jwt.InvalidSignatureError):
        _verify(forged, key)

    flipped = sig[:-2] + ("A" if sig[-2] != "A" else "B") + sig[-1]
    with pytest.raises(jwt.InvalidSignatureError):
        _verify(f"{header}.{payload}.{flipped}", key)

    # A header rewritten to another algorithm is refused (algorithms are pinned to RS256).
    hs_header = _b64({"alg": "HS256", "typ": "JWT"})
    with pytest.raises(jwt.InvalidTokenError):
        _verify(f"{hs_header}.{payload}.{sig}", key)


def test_token_is_bound_to_its_sovereign_and_expires(signer: HandoverSigner) -> None:
    key = jwt.PyJWK(signer.public_jwk)
    other = signer.mint(fqdn="other.omani.works", email="ops@acme.example", deployment_id="d", now=_now())
    with pytest.raises(jwt.InvalidAudienceError):
        _verify(other.token, key)

    stale = signer.mint(fqdn=FQDN, email="ops@acme.example", deployment_id="d", now=_now() - timedelta(minutes=6))
    with pytest.raises(jwt.ExpiredSignatureError):
        _verify(stale.token, key)


def test_issuer_and_ttl_from_environment(signer: HandoverSigner, monkeypatch: pytest.MonkeyPatch) -> None:
    key = jwt.PyJWK(signer.public_jwk)
    monkeypatch.setenv(ENV_ISSUER, "https://console.example.test")
    monkeypatch.setenv(ENV_TTL, "120")
    minted = signer.mint(fqdn=FQDN, email="ops@acme.example", deployment_id="d", now=_now())
    claims = jwt.decode(minted.token, key, algorithms=["RS256"], audience=AUDIENCE, issuer="https://console.example.test")
    assert claims["exp"] - claims["iat"] == 120
    assert minted.expires_at - minted.issued_at == timedelta(seconds=120)

    explicit = signer.mint(fqdn=FQDN, email="o@x.example", deployment_id="d", now=_now(), ttl_seconds=60, issuer="https://i.test")
    claims = jwt.decode(explicit.token, key, algorithms=["RS256"], audience=AUDIENCE, issuer="https://i.test")
    assert claims["exp"] - claims["iat"] == 60

    for bad in ("soon", "0", "-5", ""):
        monkeypatch.setenv(ENV_TTL, bad)
        minted = signer.mint(fqdn=FQDN, email="o@x.example", deployment_id="d", now=_now())
        assert minted.expires_at - minted.issued_at == timedelta(seconds=300), bad


def test_naive_now_is_utc_and_fraction_is_dropped(signer: HandoverSigner) -> None:
    naive = datetime(2026, 5, 4, 9, 31, 12, 999999)
    minted = signer.mint(fqdn=FQDN, email="o@x.example", deployment_id="d", now=naive)
    assert minted.issued_at == datetime(2026, 5, 4, 9, 31, 12, tzinfo=timezone.utc)
    claims = jwt.decode(minted.token, options={"verify_signature": False})
    assert claims["iat"] == int(datetime(2026, 5, 4, 9, 31, 12, tzinfo=timezone.utc).timestamp())


@pytest.mark.parametrize("fqdn", ["", "evil.example/x?", "a b.example", "acme.example:8443", "user@host.example", "-bad.example"])
def test_mint_refuses_a_fqdn_that_is_not_a_dns_name(signer: HandoverSigner, fqdn: str) -> None:
    with pytest.raises(InvalidFQDN) as err:
        signer.mint(fqdn=fqdn, email="o@x.example", deployment_id="d", now=_now())
    assert "\n" not in str(err.value)


def test_mint_refuses_empty_email(signer: HandoverSigner) -> None:
    with pytest.raises(ValueError):
        signer.mint(fqdn=FQDN, email="", deployment_id="d", now=_now())


# --- the key files ------------------------------------------------------------------------------

def test_key_generated_when_absent_with_modes_and_reloaded(tmp_path: Path) -> None:
    path = tmp_path / "state" / "handover" / "handover-key.pem"
    old_umask = os.umask(0)  # the modes must not depend on the umask
    try:
        signer = HandoverSigner.load_or_generate(path)
    finally:
        os.umask(old_umask)

    assert signer.generated is True
    assert _mode(path) == 0o600
    assert _mode(path.parent) == 0o700
    jwk_file = jwk_path_for(path)
    assert jwk_file == tmp_path / "state" / "handover" / "handover-key.pem.jwk" == signer.jwk_path
    assert _mode(jwk_file) == 0o644
    assert sorted(os.listdir(path.parent)) == ["handover-key.pem", "handover-key.pem.jwk"]  # no temp files left

    assert b"PRIVATE KEY-----" in path.read_bytes()
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(loaded, rsa.RSAPrivateKey) and loaded.key_size == 2048

    jwk_doc = json.loads(jwk_file.read_text())
    assert jwk_doc == signer.public_jwk
    assert jwk_doc["kty"] == "RSA" and jwk_doc["use"] == "sig" and jwk_doc["alg"] == "RS256" and jwk_doc["kid"]
    assert not {"d", "p", "q", "dp", "dq", "qi"} & set(jwk_doc)  # public members only

    again = HandoverSigner.load_or_generate(path)
    assert again.generated is False
    assert again.kid == signer.kid
    assert again.public_jwk == signer.public_jwk
    assert again.notes == ()

    # A token from the first instance verifies with the JWK the second one would publish.
    minted = signer.mint(fqdn=FQDN, email="o@x.example", deployment_id="d", now=_now())
    _verify(minted.token, _public_key_from_file(jwk_file))


def test_exclusive_create_never_replaces_a_key_another_process_wrote(tmp_path: Path) -> None:
    target = tmp_path / "k.pem"
    target.write_bytes(b"theirs")
    assert _create_exclusive(target, b"ours", 0o600) is False
    assert target.read_bytes() == b"theirs"
    assert os.listdir(tmp_path) == ["k.pem"]  # the temporary file is gone
    fresh = tmp_path / "fresh.pem"
    assert _create_exclusive(fresh, b"ours", 0o600) is True
    assert fresh.read_bytes() == b"ours" and _mode(fresh) == 0o600
    assert sorted(os.listdir(tmp_path)) == ["fresh.pem", "k.pem"]


def test_jwk_mode_is_exact_under_a_strict_umask(tmp_path: Path) -> None:
    path = tmp_path / "k.pem"
    old_umask = os.umask(0o077)
    try:
        HandoverSigner.load_or_generate(path)
    finally:
        os.umask(old_umask)
    assert _mode(path) == 0o600
    assert _mode(jwk_path_for(path)) == 0o644


def test_existing_key_gets_its_missing_or_stale_jwk_written(key_file: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    jwk_file = jwk_path_for(key_file)
    assert not jwk_file.exists()
    signer = HandoverSigner.load_or_generate(key_file)
    assert signer.generated is False
    assert json.loads(jwk_file.read_text()) == signer.public_jwk
    assert _mode(jwk_file) == 0o644

    jwk_file.write_text('{"kty": "RSA", "n": "stale", "e": "AQAB"}')
    HandoverSigner.load_or_generate(key_file)
    assert json.loads(jwk_file.read_text()) == signer.public_jwk
    assert key_file.read_bytes() == rsa_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def test_a_world_readable_key_loads_with_a_note(key_file: Path) -> None:
    key_file.chmod(0o644)
    signer = HandoverSigner.load_or_generate(key_file)
    assert len(signer.notes) == 1 and "0644" in signer.notes[0] and "PRIVATE" not in signer.notes[0]
    assert _mode(key_file) == 0o644  # reported, not silently changed


def _bad_key_contents(rsa_key: rsa.RSAPrivateKey) -> dict[str, bytes]:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    pem = serialization.Encoding.PEM
    pkcs8 = serialization.PrivateFormat.PKCS8
    good = rsa_key.private_bytes(pem, pkcs8, serialization.NoEncryption())
    return {
        "garbage": b"this is not a key\n",
        "empty": b"",
        "binary": bytes(range(256)),
        "truncated": good[: len(good) // 2],
        "public key only": rsa_key.public_key().public_bytes(pem, serialization.PublicFormat.SubjectPublicKeyInfo),
        "ec key": ec.generate_private_key(ec.SECP256R1()).private_bytes(pem, pkcs8, serialization.NoEncryption()),
        "rsa-1024": small.private_bytes(pem, pkcs8, serialization.NoEncryption()),
        "encrypted": rsa_key.private_bytes(pem, pkcs8, serialization.BestAvailableEncryption(b"hunter2")),
    }


def test_bad_key_files_give_a_clean_error_and_are_left_untouched(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    expected = {
        "garbage": "not a PEM RSA private key",
        "empty": "not a PEM RSA private key",
        "binary": "not a PEM RSA private key",
        "truncated": "not a PEM RSA private key",
        "public key only": "not a PEM RSA private key",
        "ec key": "not RSA",
        "rsa-1024": "RSA-1024",
        "encrypted": "passphrase-protected",
    }
    for name, content in _bad_key_contents(rsa_key).items():
        path = tmp_path / name.replace(" ", "-") / "key.pem"
        path.parent.mkdir()
        path.write_bytes(content)
        path.chmod(0o600)
        before = os.stat(path)
        with pytest.raises(HandoverKeyError) as err:
            HandoverSigner.load_or_generate(path)
        message = str(err.value)
        assert expected[name] in message, (name, message)
        assert str(path) in message
        assert "\n" not in message
        assert "PRIVATE KEY" not in message and "PRIVATE KEY" not in repr(err.value)
        assert err.value.__cause__ is None  # no chained parser error in a traceback
        assert err.value.__suppress_context__ or err.value.__context__ is None
        assert path.read_bytes() == content, name
        after = os.stat(path)
        assert (after.st_mtime_ns, after.st_mode, after.st_ino) == (before.st_mtime_ns, before.st_mode, before.st_ino)
        assert os.listdir(path.parent) == ["key.pem"], name  # no JWK, no temp file


def test_directory_in_place_of_key_file(tmp_path: Path) -> None:
    path = tmp_path / "key.pem"
    path.mkdir()
    with pytest.raises(HandoverKeyError, match="is a directory"):
        HandoverSigner.load_or_generate(path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_key_file(key_file: Path) -> None:
    key_file.chmod(0o000)
    try:
        with pytest.raises(HandoverKeyError, match="cannot read") as err:
            HandoverSigner.load_or_generate(key_file)
        assert "\n" not in str(err.value)
    finally:
        key_file.chmod(0o600)


def test_key_path_under_a_file(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    with pytest.raises(HandoverKeyError, match="Not a directory") as err:
        HandoverSigner.load_or_generate(blocker / "handover" / "key.pem")
    assert "\n" not in str(err.value)
    assert blocker.read_text() == "x"


def test_signer_refuses_small_or_non_rsa_keys() -> None:
    with pytest.raises(HandoverKeyError, match="RSA-1024"):
        HandoverSigner(rsa.generate_private_key(public_exponent=65537, key_size=1024))
    with pytest.raises(HandoverKeyError, match="RSA"):
        HandoverSigner(ec.generate_private_key(ec.SECP256R1()))  # type: ignore[arg-type]


def test_default_key_path(monkeypatch: pytest.MonkeyPatch, key_file: Path) -> None:
    from platformdirs import user_data_dir

    assert default_key_path() == Path(user_data_dir("catalyst-tui")) / "handover" / "handover-key.pem"
    monkeypatch.setenv(ENV_KEY_PATH, str(key_file))
    assert default_key_path() == key_file
    signer = HandoverSigner.load_or_generate()
    assert signer.path == key_file and not signer.generated


# --- secrets stay secret ------------------------------------------------------------------------

def test_no_key_material_or_token_in_repr(signer: HandoverSigner, rsa_key: rsa.RSAPrivateKey, key_file: Path) -> None:
    d_value = jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key, as_dict=True)["d"]
    minted = signer.mint(fqdn=FQDN, email="o@x.example", deployment_id="d", now=_now())
    for text in (str(signer), repr(signer), repr(minted), str(minted), json.dumps(signer.public_jwk)):
        assert "PRIVATE KEY" not in text
        assert d_value not in text
        assert minted.token not in text
        assert minted.token.split(".")[2] not in text
    assert signer.kid in repr(signer) and str(key_file) in repr(signer)
    with pytest.raises(TypeError):
        pickle.dumps(signer)
