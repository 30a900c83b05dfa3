"""Bad kubeconfigs (issue 6, item 5) through ``catalyst_tui.kube.kubeconfig.load_configuration``:
one clear line each (naming the file and the reason, with a machine-readable ``kind``), never
the token, inert on a terminal, and the file untouched (``persist_config=False``).

Every corpus file's credential is the canary of ``data/kubeconfigs.json``. A closed port or an
API server that goes away is the watcher's business (tests/kube), not the loader's.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest

from ..reliability.support import first_unsafe, snapshot

kubeconfig = pytest.importorskip("catalyst_tui.kube.kubeconfig")

DATA = Path(__file__).parent / "data"
MANIFEST = json.loads((DATA / "kubeconfigs.json").read_text())
CANARY = MANIFEST["canary"]

#: Bugs reported under docs/TEAM.md "Requests"; strict xfail until fixed.
KNOWN: dict[str, str] = {}


def _load_error(path: Path) -> "kubeconfig.KubeconfigError":
    with pytest.raises(kubeconfig.KubeconfigError) as info:
        asyncio.run(kubeconfig.load_configuration(str(path), exec_timeout=10))
    return info.value


def _check_message(exc: Exception, path: Path, kind: str, needle: str) -> None:
    msg = str(exc)
    assert exc.kind == kind, (exc.kind, msg)
    assert msg.startswith(f"kubeconfig {path}: "), msg
    assert needle in msg, msg
    assert "\n" not in msg and first_unsafe(msg) is None, msg
    assert CANARY not in msg and len(msg) <= len(str(path)) + 300, msg
    assert "Traceback" not in msg


@pytest.mark.parametrize("name", [
    pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=KNOWN[n])) if n in KNOWN else n
    for n in sorted(MANIFEST["expect"])
])
def test_bad_kubeconfig(tmp_path: Path, name: str) -> None:
    kind, needle = MANIFEST["expect"][name]
    path = tmp_path / "kubeconfigs" / name
    path.parent.mkdir()
    shutil.copyfile(DATA / "kubeconfigs" / name, path)
    before = snapshot(path.parent)
    _check_message(_load_error(path), path, kind, needle)
    assert snapshot(path.parent) == before


def test_missing_file_and_directory(tmp_path: Path) -> None:
    _check_message(_load_error(tmp_path / "gone.yaml"), tmp_path / "gone.yaml", "missing", "no such file")
    d = tmp_path / "dir.yaml"
    d.mkdir()
    _check_message(_load_error(d), d, "unreadable", "is a directory")


def test_oversized_kubeconfig(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    with open(path, "wb") as fh:
        fh.write(f"users:\n- name: a\n  user:\n    token: {CANARY}\n".encode())
        fh.truncate(5 * 1024 * 1024)
    _check_message(_load_error(path), path, "invalid", "larger than 4 MiB")
