"""Store URLs: which backend a ``--store`` value (or ``CATALYST_TUI_STORE``) means.

=============================================  ==============================================
``sqlite:///abs/path.db``                      SQLite file at ``/abs/path.db``
``sqlite:relative.db``                         SQLite file relative to the working directory
``catalyst-dir:///var/lib/catalyst/deployments``  the catalyst-api volume (created 0700 if
                                               missing, unless read-only)
``/some/existing/dir``                         catalyst-dir (a plain path naming a directory)
``/some/file.db`` (existing or not)            SQLite
``None``                                       ``$CATALYST_TUI_STORE``, else the default SQLite
                                               file ``<user data dir>/catalyst.db``
=============================================  ==============================================

``open_store`` only builds the store; the caller opens it with ``async with``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import unquote

from .base import InvalidStoreURL, RecordStore

ENV_STORE = "CATALYST_TUI_STORE"
APP_NAME = "catalyst-tui"
DEFAULT_DB_NAME = "catalyst.db"

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):(.*)$", re.S)


def default_store_path() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir(APP_NAME)) / DEFAULT_DB_NAME


def default_store_url() -> str:
    return f"sqlite://{default_store_path()}"


def _shown(url: str) -> str:
    return url if len(url) <= 120 else url[:117] + "..."


def _url_path(url: str, scheme: str, rest: str) -> Path:
    if rest.startswith("//"):
        rest = rest[2:]
        if rest and not rest.startswith("/"):
            host = rest.split("/", 1)[0]
            raise InvalidStoreURL(
                f"{_shown(url)}: invalid store URL: unexpected host {host!r} (use {scheme}:///absolute/path)"
            )
    path = unquote(rest)
    while path.startswith("//"):
        path = path[1:]
    if not path:
        raise InvalidStoreURL(f"{_shown(url)}: invalid store URL: no path (use {scheme}:///absolute/path)")
    if "\x00" in path:
        raise InvalidStoreURL(f"{_shown(url)}: invalid store URL: NUL in path")
    return Path(os.path.expanduser(path))


def resolve_store_url(url: str | None) -> tuple[str, Path]:
    """``(kind, path)`` for a store URL or path; kind is "sqlite" or "catalyst-dir"."""
    if url is None:
        url = os.environ.get(ENV_STORE) or None
    if url is None:
        return "sqlite", default_store_path()
    if not isinstance(url, str) or not url.strip():
        raise InvalidStoreURL("(empty): invalid store URL: empty (use sqlite:///PATH, catalyst-dir:///DIR or a path)")
    m = _SCHEME.match(url)
    # A single letter before ':' would be a Windows drive; on POSIX treat "c:foo" as a scheme too.
    if m and not url.startswith(("/", ".", "~")):
        scheme, rest = m.group(1).lower(), m.group(2)
        if scheme == "sqlite":
            return "sqlite", _url_path(url, scheme, rest)
        if scheme in ("catalyst-dir", "catalyst_dir", "dir"):
            return "catalyst-dir", _url_path(url, "catalyst-dir", rest)
        raise InvalidStoreURL(
            f"{_shown(url)}: unknown store URL scheme {scheme!r} (use sqlite:///PATH, catalyst-dir:///DIR or a path)"
        )
    if "\x00" in url:
        raise InvalidStoreURL(f"{_shown(url)!r}: invalid store path: NUL in path")
    path = Path(os.path.expanduser(url))
    if path.is_dir():
        return "catalyst-dir", path
    if url.endswith("/"):
        raise InvalidStoreURL(f"{_shown(url)}: no such directory (use catalyst-dir://{path} to create one)")
    return "sqlite", path


def open_store(url: str | None, *, read_only: bool = False) -> RecordStore:
    """Build (not open) the store named by ``url``; see the module doc for the URL forms.

    ``read_only=True`` makes every mutation raise :class:`Refused` and never creates files.
    """
    kind, path = resolve_store_url(url)
    if kind == "sqlite":
        from .sqlite import SQLiteStore

        return SQLiteStore(path, read_only=read_only)
    from .catalyst_dir import CatalystDirStore

    return CatalystDirStore(path, read_only=read_only)


def reopen_store(store: RecordStore) -> RecordStore | None:
    """A second, independent (not opened) store on the same file or directory, with the same
    settings: what a component on another thread or event loop uses. None for a store this
    function does not know (the caller shares the original on its own loop instead)."""
    # Only the store's own backend is imported (the directory backend imports pydantic: a SQLite
    # dashboard must not pay for it before its first paint).
    module = type(store).__module__
    if module == f"{__package__}.sqlite":
        from .sqlite import SQLiteStore

        if type(store) is SQLiteStore:
            return SQLiteStore(store.path, read_only=store.read_only, busy_timeout=store.busy_timeout,
                               event_cap=store.event_cap)
    elif module == f"{__package__}.catalyst_dir":
        from .catalyst_dir import CatalystDirStore

        if type(store) is CatalystDirStore:
            return CatalystDirStore(store.dir, read_only=store.read_only, max_record_bytes=store.max_record_bytes,
                                    lock_timeout=store.lock_timeout, event_cap=store.event_cap)
    return None
