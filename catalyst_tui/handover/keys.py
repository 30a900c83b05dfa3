"""The handover signing key and token minting (domain reference §5.2).

catalyst-api's ``handoverjwt.LoadOrGenerate`` ported: an RSA-2048 key pair that signs short-lived
RS256 JWTs which a new Sovereign's console accepts at ``/auth/handover``.

File layout (the choice is ours; catalyst-api only fixes the modes):

* the private key is a PEM file at the configured path (mode 0600, written as PKCS#1
  ``RSA PRIVATE KEY``, the form Go's ``x509.MarshalPKCS1PrivateKey`` writes; PKCS#8 is read too);
* the public key is a JWK written beside it as ``<path>.jwk`` (mode 0644), i.e. the key path with
  ``.jwk`` *appended*, so two keys in one directory never share a JWK file. It carries ``kid``
  (the RFC 7638 SHA-256 thumbprint, so the same key always has the same kid), ``use: "sig"`` and
  ``alg: "RS256"``. This is the file to hand to a Sovereign's
  ``CATALYST_HANDOVER_JWT_PUBLIC_KEY_PATH``.

Secrets: the private key lives only in a private attribute; ``repr``/``str`` of the signer, of a
:class:`MintedToken` and of every error here never include key material or a token.
"""

from __future__ import annotations

from ..fsutil import make_private_dirs, write_file_atomic

import base64
import hashlib
import json
import os
import re
import stat
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jwt
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

ALGORITHM = "RS256"
KEY_SIZE = 2048
MIN_KEY_SIZE = 2048
#: ``handoverjwt.DefaultTTL``: five minutes.
DEFAULT_TTL_SECONDS = 300
DEFAULT_ISSUER = "https://console.openova.io"
ROLE = "sovereign-admin"

ENV_KEY_PATH = "CATALYST_HANDOVER_KEY_PATH"
ENV_ISSUER = "CATALYST_HANDOVER_JWT_ISSUER"
ENV_TTL = "CATALYST_HANDOVER_JWT_TTL_SECONDS"
#: "1"/"true": never generate a key, only load one (the catalyst-api sidecar: a key of our own would
#: mint URLs that no Sovereign accepts, since cloud-init installed catalyst-api's public JWK there).
ENV_KEY_LOAD_ONLY = "CATALYST_HANDOVER_KEY_LOAD_ONLY"


def load_only_from_env(env: "os._Environ[str] | dict[str, str] | None" = None) -> bool:
    value = (os.environ if env is None else env).get(ENV_KEY_LOAD_ONLY, "").strip().lower()
    return value in ("1", "t", "true", "yes", "on")

PRIVATE_KEY_MODE = 0o600
PUBLIC_JWK_MODE = 0o644
KEY_DIR_MODE = 0o700
JWK_SUFFIX = ".jwk"

#: A key file larger than this is not a PEM RSA key; refuse before parsing.
_MAX_KEY_FILE_BYTES = 1 << 20

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_FQDN_RE = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*$")


class HandoverKeyError(Exception):
    """The handover key cannot be read, parsed, generated or written. ``str()`` is one line."""


class InvalidFQDN(ValueError):
    """The Sovereign FQDN is not a plain DNS name, so no handover URL can be built from it."""


def default_key_path() -> Path:
    """``CATALYST_HANDOVER_KEY_PATH``, else ``<user data dir>/handover/handover-key.pem``."""
    env = os.environ.get(ENV_KEY_PATH, "").strip()
    if env:
        return Path(env).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("catalyst-tui")) / "handover" / "handover-key.pem"


def jwk_path_for(key_path: str | os.PathLike[str]) -> Path:
    """Where the public JWK of the key at ``key_path`` lives: the same name with ``.jwk`` appended."""
    p = Path(key_path)
    return p.with_name(p.name + JWK_SUFFIX)


def resolve_issuer(issuer: str | None = None) -> str:
    """An explicit issuer, else ``CATALYST_HANDOVER_JWT_ISSUER``, else ``https://console.openova.io``."""
    if issuer:
        return issuer
    return os.environ.get(ENV_ISSUER, "").strip() or DEFAULT_ISSUER


def resolve_ttl(ttl_seconds: int | None = None) -> int:
    """An explicit TTL, else ``CATALYST_HANDOVER_JWT_TTL_SECONDS`` (a positive integer), else 300.

    A malformed or non-positive environment value falls back to the default, as a bad setting must
    not stop an auto-fire.
    """
    if ttl_seconds is not None:
        if isinstance(ttl_seconds, bool) or not isinstance(ttl_seconds, int) or ttl_seconds <= 0:
            raise ValueError(f"ttl_seconds must be a positive integer, got {ttl_seconds!r}")
        return ttl_seconds
    raw = os.environ.get(ENV_TTL, "").strip()
    if raw:
        try:
            value = int(raw)
        except ValueError:
            return DEFAULT_TTL_SECONDS
        if value > 0:
            return value
    return DEFAULT_TTL_SECONDS


def is_valid_fqdn(fqdn: str) -> bool:
    return bool(_FQDN_RE.match(fqdn))


def handover_url(fqdn: str, token: str) -> str:
    """``https://console.<fqdn>/auth/handover?token=<url-escaped jwt>`` (Go ``url.QueryEscape``)."""
    return f"https://console.{fqdn}/auth/handover?token={quote(token, safe='')}"


def audience_for(fqdn: str) -> str:
    return f"https://console.{fqdn}"


def _as_utc(now: datetime) -> datetime:
    # A naive datetime is taken as UTC, as record.parse_time does; never as local time.
    return now.replace(tzinfo=timezone.utc) if now.tzinfo is None else now.astimezone(timezone.utc)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _thumbprint(public_jwk: dict[str, Any]) -> str:
    """RFC 7638 JWK thumbprint (SHA-256) of an RSA public JWK: the required members, sorted, compact."""
    canonical = json.dumps(
        {"e": public_jwk["e"], "kty": public_jwk["kty"], "n": public_jwk["n"]},
        sort_keys=True,
        separators=(",", ":"),
    )
    return _b64url(hashlib.sha256(canonical.encode("ascii")).digest())


@dataclass(frozen=True)
class MintedToken:
    """A freshly minted handover token. The token and URL are bearer credentials: not in ``repr``."""

    token: str = field(repr=False)
    url: str = field(repr=False)
    jti: str
    issued_at: datetime
    expires_at: datetime


class HandoverSigner:
    """Signs handover JWTs with one RSA key. Construct with :meth:`load_or_generate`."""

    __slots__ = ("_key", "_public_jwk", "_kid", "path", "generated", "notes")

    def __init__(
        self,
        private_key: rsa.RSAPrivateKey,
        *,
        path: str | os.PathLike[str] | None = None,
        generated: bool = False,
        notes: tuple[str, ...] = (),
    ) -> None:
        if not isinstance(private_key, rsa.RSAPrivateKey):
            raise HandoverKeyError(f"handover key must be an RSA private key, got {type(private_key).__name__}")
        if private_key.key_size < MIN_KEY_SIZE:
            raise HandoverKeyError(
                f"handover key is RSA-{private_key.key_size}; RS256 handover tokens need at least {MIN_KEY_SIZE} bits"
            )
        self._key = private_key
        public = RSAAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
        kid = _thumbprint(public)
        self._kid = kid
        self._public_jwk = {"kty": "RSA", "use": "sig", "alg": ALGORITHM, "kid": kid, "n": public["n"], "e": public["e"]}
        #: The private key file, when the signer came from one.
        self.path: Path | None = Path(path) if path is not None else None
        #: True when :meth:`load_or_generate` created a new key pair on this call.
        self.generated = generated
        #: One-line remarks worth showing the operator (e.g. loose permissions on the key file).
        self.notes = notes

    # --- loading ----------------------------------------------------------------------------
    @classmethod
    def load_or_generate(cls, path: str | os.PathLike[str] | None = None, *, load_only: bool | None = None) -> "HandoverSigner":
        """Read the private PEM at ``path`` (default :func:`default_key_path`); create a pair if absent.

        A present but unusable file raises :class:`HandoverKeyError` and is never modified. With
        ``load_only`` (default: env ``CATALYST_HANDOVER_KEY_LOAD_ONLY``) an absent key is an error.
        """
        key_path = Path(path).expanduser() if path is not None else default_key_path()
        try:
            data = cls._read_key_file(key_path)
        except FileNotFoundError:
            if load_only if load_only is not None else load_only_from_env():
                raise HandoverKeyError(
                    f"handover key {key_path}: not found, and {ENV_KEY_LOAD_ONLY} forbids generating one "
                    "(mount catalyst-api's handover key there)"
                ) from None
            return cls._generate_at(key_path)
        return cls._from_existing(key_path, data)

    @staticmethod
    def _read_key_file(key_path: Path) -> bytes:
        try:
            with open(key_path, "rb") as fh:
                data = fh.read(_MAX_KEY_FILE_BYTES + 1)
        except FileNotFoundError:
            raise
        except IsADirectoryError:
            raise HandoverKeyError(f"handover key {key_path}: is a directory, not a key file") from None
        except OSError as exc:
            raise HandoverKeyError(f"handover key {key_path}: cannot read ({exc.strerror or type(exc).__name__})") from None
        if len(data) > _MAX_KEY_FILE_BYTES:
            raise HandoverKeyError(f"handover key {key_path}: not a PEM RSA private key (file larger than 1 MiB)")
        return data

    @classmethod
    def _from_existing(cls, key_path: Path, data: bytes) -> "HandoverSigner":
        key = _parse_private_pem(key_path, data)
        notes: list[str] = []
        try:
            mode = stat.S_IMODE(os.stat(key_path).st_mode)
        except OSError:
            mode = 0
        if mode & 0o077:
            notes.append(f"handover key {key_path} is readable by others (mode {mode:04o}); chmod 600 it")
        signer = cls(key, path=key_path, generated=False)
        note = signer._ensure_public_jwk_file()
        if note:
            notes.append(note)
        signer.notes = tuple(notes)
        return signer

    @classmethod
    def _generate_at(cls, key_path: Path) -> "HandoverSigner":
        parent = key_path.parent
        if not parent.exists():
            try:
                make_private_dirs(parent)
            except OSError as exc:
                raise HandoverKeyError(
                    f"handover key {key_path}: cannot create directory {parent} ({exc.strerror or type(exc).__name__})"
                ) from None
        key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_SIZE)
        pem = key.private_bytes(
            encoding=serialization.Encoding.PEM,
            format=serialization.PrivateFormat.TraditionalOpenSSL,
            encryption_algorithm=serialization.NoEncryption(),
        )
        try:
            created = _create_exclusive(key_path, pem, PRIVATE_KEY_MODE)
        except OSError as exc:
            raise HandoverKeyError(
                f"handover key {key_path}: cannot write new key ({exc.strerror or type(exc).__name__})"
            ) from None
        if not created:
            # Another process generated the key between our read and our write: use theirs.
            try:
                data = cls._read_key_file(key_path)
            except FileNotFoundError:
                raise HandoverKeyError(f"handover key {key_path}: vanished while being created") from None
            return cls._from_existing(key_path, data)
        signer = cls(key, path=key_path, generated=True)
        try:
            signer._write_public_jwk()
        except OSError as exc:
            raise HandoverKeyError(
                f"handover key {key_path}: cannot write public JWK {jwk_path_for(key_path)} "
                f"({exc.strerror or type(exc).__name__})"
            ) from None
        return signer

    def _write_public_jwk(self) -> None:
        assert self.path is not None
        write_file_atomic(jwk_path_for(self.path), json.dumps(self._public_jwk, indent=2) + "\n", mode=PUBLIC_JWK_MODE)

    def _ensure_public_jwk_file(self) -> str | None:
        """Write ``<path>.jwk`` when it is missing or describes another key; best effort on load."""
        assert self.path is not None
        target = jwk_path_for(self.path)
        try:
            current = json.loads(target.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            current = None
        if current == self._public_jwk:
            return None
        try:
            self._write_public_jwk()
        except OSError as exc:
            return f"public JWK {target} could not be written ({exc.strerror or type(exc).__name__})"
        return None

    # --- public surface ----------------------------------------------------------------------
    @property
    def kid(self) -> str:
        return self._kid

    @property
    def jwk_path(self) -> Path | None:
        return jwk_path_for(self.path) if self.path is not None else None

    @property
    def public_jwk(self) -> dict[str, Any]:
        """The public key as a JWK dict (kty, use, alg, kid, n, e); a copy each call."""
        return dict(self._public_jwk)

    def mint(
        self,
        *,
        fqdn: str,
        email: str,
        deployment_id: str,
        now: datetime,
        ttl_seconds: int | None = None,
        issuer: str | None = None,
    ) -> MintedToken:
        """Mint a handover token with exactly the claims of §5.2 and build its URL.

        ``ttl_seconds`` None means ``CATALYST_HANDOVER_JWT_TTL_SECONDS`` or 300; ``issuer`` None means
        ``CATALYST_HANDOVER_JWT_ISSUER`` or ``https://console.openova.io``.
        """
        if not fqdn:
            raise InvalidFQDN("no Sovereign FQDN")
        if not is_valid_fqdn(fqdn):
            raise InvalidFQDN(f"Sovereign FQDN {fqdn[:80]!r} is not a DNS name")
        if not email:
            raise ValueError("no owner email")
        ttl = resolve_ttl(ttl_seconds)
        issued_at = _as_utc(now).replace(microsecond=0)
        expires_at = issued_at + timedelta(seconds=ttl)
        iat = int(issued_at.timestamp())
        jti = str(uuid.uuid4())
        claims = {
            "iss": resolve_issuer(issuer),
            "aud": [audience_for(fqdn)],
            "sub": email,
            "email": email,
            "email_verified": True,
            "sovereign_fqdn": fqdn,
            "deployment_id": deployment_id,
            "role": ROLE,
            "jti": jti,
            "iat": iat,
            "exp": iat + ttl,
        }
        token = jwt.encode(claims, self._key, algorithm=ALGORITHM, headers={"kid": self._kid})
        return MintedToken(token=token, url=handover_url(fqdn, token), jti=jti, issued_at=issued_at, expires_at=expires_at)

    def __repr__(self) -> str:
        where = f", path={str(self.path)!r}" if self.path is not None else ""
        return f"HandoverSigner(kid={self._kid!r}{where})"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("HandoverSigner holds a private key and cannot be pickled")


def _parse_private_pem(key_path: Path, data: bytes) -> rsa.RSAPrivateKey:
    if b"-----BEGIN" not in data:
        raise HandoverKeyError(f"handover key {key_path}: not a PEM RSA private key")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        # cryptography raises TypeError when the key is encrypted and no password was given.
        raise HandoverKeyError(
            f"handover key {key_path}: is passphrase-protected; catalyst-tui needs an unencrypted PEM RSA key"
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise HandoverKeyError(f"handover key {key_path}: not a PEM RSA private key") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        kind = type(key).__name__.lstrip("_").replace("PrivateKey", "") or "non-RSA"
        raise HandoverKeyError(f"handover key {key_path}: is a {kind} key, not RSA; RS256 needs an RSA key")
    if key.key_size < MIN_KEY_SIZE:
        raise HandoverKeyError(
            f"handover key {key_path}: is RSA-{key.key_size}; RS256 handover tokens need at least {MIN_KEY_SIZE} bits"
        )
    return key


def _create_exclusive(target: Path, data: bytes, mode: int) -> bool:
    """Publish ``data`` at ``target`` with ``mode`` unless ``target`` exists; never world-readable.

    The bytes go to a temporary file opened ``O_CREAT|O_EXCL`` with ``mode`` (so no moment exists
    where the key is readable by others and no reader sees a half-written key), then are linked to
    ``target`` atomically; the link fails if ``target`` appeared meanwhile. Returns False then.
    """
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        try:
            os.fchmod(fd, mode)  # exact mode whatever the umask
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, target)
        except FileExistsError:
            return False
        except OSError:
            # A filesystem without hard links: fall back to an exclusive create of the target.
            try:
                fd2 = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
            except FileExistsError:
                return False
            with os.fdopen(fd2, "wb") as fh:
                os.fchmod(fh.fileno(), mode)
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        return True
    finally:
        try:
            os.unlink(tmp)
        except OSError:
            pass
