"""File-system helpers shared by the store, the handover key and the demo (no framework imports)."""

from __future__ import annotations

import os
from pathlib import Path


def make_private_dirs(path: Path) -> None:
    """Create ``path`` and any missing parents, each one 0700 (existing ones are left alone).

    ``os.makedirs(mode=0o700)`` applies the mode to the last level only; intermediate levels
    would get ``0o777 & ~umask``."""
    missing: list[Path] = []
    p = Path(path)
    while not p.exists():
        missing.append(p)
        if p.parent == p:
            break
        p = p.parent
    for d in reversed(missing):
        try:
            os.mkdir(d, 0o700)
        except FileExistsError:
            continue
        os.chmod(d, 0o700)


def write_file_atomic(path: str | os.PathLike[str], text: str, *, mode: int = 0o600) -> Path:
    """Write ``text`` at ``path``: temp file in the same directory, exact ``mode`` whatever the
    umask, fsync, rename (as catalyst-api writes its files). The temp file never outlives a failure."""
    import secrets

    target = Path(path)
    if not target.parent.exists():
        make_private_dirs(target.parent)
    tmp = target.parent / f".{target.name}.{secrets.token_hex(4)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            os.fchmod(fh.fileno(), mode)
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return target
