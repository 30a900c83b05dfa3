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
