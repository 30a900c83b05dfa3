"""Helpers for the reliability and bad-input suites (issue 6): real stores on tmp_path, real
processes, byte snapshots of what is on disk.

Nothing here mocks the code under test: records go through ``open_store`` (SQLite or the
catalyst-api directory), the CLI through ``catalyst_tui.cli.main.main`` (in-process) or
``python -m catalyst_tui`` (a real process).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from catalyst_tui.domain.record import Record, loads_record, to_catalyst_json
from catalyst_tui.store.urls import open_store

from tests.storedump import dump_store, get_record, run  # noqa: F401  (shared helpers)

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable

#: Environment variables the tool reads; cleared so a developer's shell never leaks into a test.
TOOL_ENV = (
    "CATALYST_TUI_STORE",
    "CATALYST_OPERATOR",
    "SSH_CONNECTION",
    "CATALYST_KUBECONFIGS_DIR",
    "CATALYST_HANDOVER_KEY_PATH",
    "CATALYST_HANDOVER_JWT_ISSUER",
    "CATALYST_HANDOVER_JWT_TTL_SECONDS",
    "CATALYST_TUI_DEBUG",
)

BACKENDS = ("sqlite", "dir")

#: What a terminal would act on: C0 controls except newline and tab, DEL, C1 controls (8-bit
#: CSI/OSC...), bidi overrides/isolates and the Unicode line/paragraph separators.
UNSAFE_FOR_TERMINAL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def first_unsafe(text: str) -> str | None:
    """``None`` when ``text`` is inert on a terminal, else a description of the first offender."""
    m = UNSAFE_FOR_TERMINAL.search(text)
    if m is None:
        return None
    start = max(0, m.start() - 30)
    return f"U+{ord(m.group(0)):04X} at {m.start()}: {text[start:m.start() + 10]!r}"


def store_url(tmp_path: Path, backend: str, name: str = "store") -> str:
    if backend == "sqlite":
        return f"sqlite://{tmp_path / (name + '.db')}"
    return f"catalyst-dir://{tmp_path / name}"


def store_path(url: str) -> Path:
    """The file (SQLite) or directory (catalyst-dir) a store URL of :func:`store_url` names."""
    return Path(url.split("://", 1)[1])


def base_record(rid: str, status: str = "phase1-watching", **top: Any) -> dict[str, Any]:
    """A record dict as catalyst-api writes it, with unknown keys from a newer build at two depths."""
    data: dict[str, Any] = {
        "id": rid,
        "status": status,
        "request": {
            "orgName": "Acme Telecom",
            "orgEmail": "ops@acme.example",
            "sovereignFQDN": f"{rid[:6]}.omani.works",
            "sovereignDomainMode": "pool",
            "region": "fsn1",
            "hetznerToken": "<redacted>",
            "dynadotKey": "<redacted>",
            "futureRequestKey": {"nested": [1, {"deep": True}]},
        },
        "result": {
            "sovereignFQDN": f"{rid[:6]}.omani.works",
            "controlPlaneIP": "203.0.113.10",
            "loadBalancerIP": "203.0.113.20",
            "consoleURL": f"https://console.{rid[:6]}.omani.works",
            "gitopsRepoURL": f"https://gitea.{rid[:6]}.omani.works",
        },
        "startedAt": "2026-05-04T09:00:01.482913377Z",
        "finishedAt": "0001-01-01T00:00:00Z",
        "events": [
            {"time": "2026-05-04T09:07:40Z", "phase": "flux-bootstrap", "level": "info",
             "message": "Cloud-init has bootstrapped Flux"},
        ],
        "futureTopKey": ["x", {"y": None}],
    }
    data.update(top)
    return data


def make_record(rid: str, status: str = "phase1-watching", **top: Any) -> Record:
    return Record.model_validate(base_record(rid, status, **top))


async def _seed(url: str, records: Iterable[Record]) -> None:
    async with open_store(url) as store:
        for rec in records:
            await store.create(rec)


def seed(url: str, records: Iterable[Record]) -> None:
    run(_seed(url, list(records)))


def write_catalyst_file(directory: Path, data: dict[str, Any] | Record) -> Path:
    """Write one record file the way catalyst-api does (bytes of ``to_catalyst_json``, mode 0600)."""
    rec = data if isinstance(data, Record) else Record.model_validate(data)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{rec.id}.json"
    path.write_text(to_catalyst_json(rec), encoding="utf-8")
    os.chmod(path, 0o600)
    return path


def audit_list(url: str, rid: str | None = None) -> list[Any]:
    async def go() -> list[Any]:
        async with open_store(url, read_only=True) as store:
            return await store.audit_list(rid)

    return run(go())


def snapshot(path: Path) -> dict[str, tuple[str, int]]:
    """Every entry under ``path`` (or the file itself, plus SQLite's ``-wal``/``-shm`` siblings):
    content digest (or symlink target / "dir") and mode. Comparing two snapshots is the byte-level
    "the store is unchanged" check."""
    out: dict[str, tuple[str, int]] = {}
    if path.is_dir():
        entries = [Path(dp) / n for dp, dns, fns in os.walk(path) for n in dns + fns]
        base = path
    else:
        entries = [p for p in (path, Path(str(path) + "-wal"), Path(str(path) + "-shm"), Path(str(path) + "-journal"))
                   if os.path.lexists(p)]
        base = path.parent
    for p in sorted(entries):
        st = os.lstat(p)
        rel = str(p.relative_to(base))
        if p.is_symlink():
            out[rel] = ("-> " + os.readlink(p), st.st_mode)
        elif p.is_dir():
            out[rel] = ("dir", st.st_mode)
        elif p.is_file():
            out[rel] = (hashlib.sha256(p.read_bytes()).hexdigest(), st.st_mode)
        else:
            out[rel] = ("special", st.st_mode)
    return out


def all_bytes_under(*roots: Path) -> bytes:
    """Concatenated bytes of every regular file under the roots (for "the canary is nowhere")."""
    chunks = []
    for root in roots:
        if root.is_file():
            chunks.append(root.read_bytes())
            continue
        for dp, _dns, fns in os.walk(root):
            for n in fns:
                p = Path(dp) / n
                if p.is_file() and not p.is_symlink():
                    chunks.append(p.read_bytes())
    return b"\n".join(chunks)


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in TOOL_ENV}
    env.setdefault("PYTHONPATH", str(REPO))
    env.update(extra)
    return env


@dataclass
class Proc:
    code: int
    out: str
    err: str


def cli_process(args: list[str], *, env: dict[str, str] | None = None, umask: int | None = None,
                timeout: float = 60, stdin: str | None = None) -> Proc:
    """``python -m catalyst_tui ARGS`` as a real process (bytes decoded with surrogateescape so any
    byte that reaches stdout is still visible to the assertions)."""

    def pre() -> None:
        if umask is not None:
            os.umask(umask)

    proc = subprocess.run(
        [PYTHON, "-m", "catalyst_tui", *args],
        cwd=REPO,
        env=env if env is not None else clean_env(),
        input=(stdin or "").encode(),
        capture_output=True,
        timeout=timeout,
        preexec_fn=pre if umask is not None else None,
    )
    return Proc(proc.returncode, proc.stdout.decode("utf-8", "surrogateescape"),
                proc.stderr.decode("utf-8", "surrogateescape"))


_MANY = r"""
import contextlib, io, json, os, sys
os.umask(int(sys.argv[1]))
from catalyst_tui.cli.main import main
results = []
for argv in json.loads(sys.argv[2]):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    results.append([code, out.getvalue(), err.getvalue()])
sys.__stdout__.write(json.dumps(results))
"""


def cli_many(argvs: list[list[str]], *, env: dict[str, str] | None = None, umask: int = 0o022,
             timeout: float = 120) -> list[Proc]:
    """Several command lines, one after the other, in ONE real process (``main(argv)`` each, as the
    console script calls it) with the given umask: the cheap way to run many real commands."""
    proc = subprocess.run([PYTHON, "-c", _MANY, str(umask), json.dumps(argvs)], cwd=REPO,
                          env=env if env is not None else clean_env(), capture_output=True, timeout=timeout)
    assert proc.returncode == 0 and proc.stderr == b"", proc.stderr.decode(errors="replace")
    return [Proc(code, out, err) for code, out, err in json.loads(proc.stdout)]


def sqlite_integrity(path: Path) -> str:
    import sqlite3

    db = sqlite3.connect(str(path))
    try:
        rows = db.execute("PRAGMA integrity_check").fetchall()
    finally:
        db.close()
    return "; ".join(str(r[0]) for r in rows)


def parse_file(path: Path) -> Record:
    return loads_record(path.read_bytes(), source=str(path))


def json_lines(text: str) -> list[Any]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]
