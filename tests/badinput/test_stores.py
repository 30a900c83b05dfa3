"""Bad SQLite store files (issue 6, item 5; issue 2 "a store path that is a non-SQLite file"):
every command fails with one line naming the file, and the file is byte-for-byte unchanged.

The corpus is made at run time (binary files): a text file, a SQLite header followed by garbage,
a SQLite database of another program, a catalyst-tui store from a future schema, a real store
truncated to half its pages, and a directory named in a ``sqlite://`` URL.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Callable

import pytest

from ..reliability.support import first_unsafe, make_record, seed, snapshot

RID = "5701e5701e5701e5"


def _text(p: Path) -> None:
    p.write_text("this is not a database\n")


def _header_garbage(p: Path) -> None:
    p.write_bytes(b"SQLite format 3\x00" + bytes((i * 37 + 11) % 256 for i in range(8192)))


def _other_program(p: Path) -> None:
    db = sqlite3.connect(p)
    db.execute("CREATE TABLE bookmarks (url TEXT)")
    db.execute("INSERT INTO bookmarks VALUES ('https://example.org')")
    db.commit()
    db.close()


def _future_schema(p: Path) -> None:
    seed(f"sqlite://{p}", [make_record(RID)])
    db = sqlite3.connect(p)
    db.execute("UPDATE catalyst_tui_schema SET version = 99")
    db.commit()
    db.close()


def _truncated(p: Path) -> None:
    seed(f"sqlite://{p}", [make_record(f"{RID[:-2]}{i:02d}") for i in range(30)])
    size = p.stat().st_size
    with open(p, "r+b") as fh:
        fh.truncate(size // 2)


def _directory(p: Path) -> None:
    p.mkdir()
    (p / "keep").write_text("x")


CORPUS: dict[str, tuple[Callable[[Path], None], str]] = {
    "text": (_text, "not a catalyst-tui SQLite store (file is not a database)"),
    "header-garbage": (_header_garbage, "not a catalyst-tui SQLite store"),
    "other-program": (_other_program, "not a catalyst-tui SQLite store (a SQLite database with other tables)"),
    "future-schema": (_future_schema, "schema version 99 is not supported"),
    "truncated": (_truncated, ""),
    "directory": (_directory, "it is a directory; use catalyst-dir://"),
}


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_bad_store_file(cli, tmp_path: Path, name: str) -> None:
    make, reason = CORPUS[name]
    path = tmp_path / f"{name}.db"
    make(path)
    url = f"sqlite://{path}"
    before = snapshot(path)
    commands = [
        ["list"],
        ["list", "--json"],
        ["show", RID],
        ["events", RID],
        ["audit"],
        ["rehydrate"],
        ["rehydrate", "--dry-run"],
        ["patch-status", RID, "--to", "failed", "--reason", "bad store"],
        ["export", f"catalyst-dir://{tmp_path / 'exported'}"],
        ["import", f"catalyst-dir://{tmp_path / 'empty-source'}"],
    ]
    (tmp_path / "empty-source").mkdir()
    for args in commands:
        r = cli(url, *args)
        assert r.code == 1, (args, r.code, r.err)
        assert r.out == "", (args, r.out)
        assert r.err.count("\n") == 1 and r.err.startswith("catalyst-tui: "), (args, r.err)
        assert first_unsafe(r.err[:-1]) is None
        assert str(path) in r.err, (args, r.err)
        assert reason in r.err, (args, r.err)
        if name == "truncated":
            assert "malformed" in r.err or "not a catalyst-tui SQLite store" in r.err, (args, r.err)
        assert snapshot(path) == before, f"{args} changed the store file"
    assert not (tmp_path / "exported").exists() or os.listdir(tmp_path / "exported") == []
