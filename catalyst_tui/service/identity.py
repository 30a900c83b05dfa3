"""Who is acting: the operator name written to the audit trail.

Resolution order (issue 2): ``--operator NAME``, else ``CATALYST_OPERATOR``, else the login user,
plus ``@<client address>`` from ``SSH_CONNECTION`` (its first field) when the session came in over
ssh, e.g. ``alice@203.0.113.7``. Control characters are removed (the name ends up in audit files
and on operators' terminals) and the result is bounded in length; an empty result falls back to
``"unknown"``.
"""

from __future__ import annotations

import getpass
import os
import re
from typing import Mapping

OPERATOR_ENV = "CATALYST_OPERATOR"
MAX_OPERATOR_LEN = 200
UNKNOWN = "unknown"

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def clean_operator(name: str) -> str:
    """Drop control characters, collapse whitespace, bound the length."""
    text = _CONTROL.sub("", name)
    text = " ".join(text.split())
    return text[:MAX_OPERATOR_LEN]


def login_user(env: Mapping[str, str] | None = None) -> str:
    """The login user, robust when there is no passwd entry (containers run as uid 65534)."""
    env = os.environ if env is None else env
    try:
        name = getpass.getuser()
    except Exception:  # noqa: BLE001 - getpass raises OSError/KeyError/ImportError without a passwd entry
        name = ""
    if not name:
        for key in ("USER", "LOGNAME", "USERNAME"):
            if env.get(key):
                name = env[key]
                break
    if not name:
        try:
            name = f"uid{os.getuid()}"
        except AttributeError:  # pragma: no cover - non-POSIX
            name = UNKNOWN
    return name


def ssh_client_address(env: Mapping[str, str] | None = None) -> str:
    """First field of ``SSH_CONNECTION`` ("client-ip client-port server-ip server-port")."""
    env = os.environ if env is None else env
    fields = (env.get("SSH_CONNECTION") or "").split()
    return fields[0] if fields else ""


def resolve_operator(explicit: str | None = None, env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    for candidate in (explicit, env.get(OPERATOR_ENV)):
        if candidate is not None:
            cleaned = clean_operator(candidate)
            if cleaned:
                return cleaned
    user = clean_operator(login_user(env)) or UNKNOWN
    addr = clean_operator(ssh_client_address(env))
    return f"{user}@{addr}" if addr else user
