"""Store URLs pick the right backend; bad schemes are one-line usage errors."""

from __future__ import annotations

import os
import stat

import pytest

from catalyst_tui.store import InvalidStoreURL
from catalyst_tui.store.urls import default_store_url, open_store, resolve_store_url


def test_url_forms(tmp_path, monkeypatch):
    monkeypatch.delenv("CATALYST_TUI_STORE", raising=False)
    assert resolve_store_url("sqlite:///abs/path.db") == ("sqlite", __import__("pathlib").Path("/abs/path.db"))
    assert resolve_store_url("sqlite:////abs/path.db")[1].as_posix() == "/abs/path.db"
    assert resolve_store_url("catalyst-dir:///var/lib/catalyst/deployments")[0] == "catalyst-dir"
    assert resolve_store_url(str(tmp_path)) == ("catalyst-dir", tmp_path)
    assert resolve_store_url(str(tmp_path / "x.db")) == ("sqlite", tmp_path / "x.db")
    assert resolve_store_url(None)[0] == "sqlite"
    assert default_store_url().startswith("sqlite:///") and default_store_url().endswith("/catalyst-tui/catalyst.db")
    monkeypatch.setenv("CATALYST_TUI_STORE", f"catalyst-dir://{tmp_path}")
    assert resolve_store_url(None) == ("catalyst-dir", tmp_path)
    assert open_store(None).kind == "catalyst-dir"


@pytest.mark.parametrize(
    "url, message",
    [
        ("postgres://db/x", "postgres://db/x: unknown store URL scheme 'postgres'"),
        ("sqlite://host/x.db", "sqlite://host/x.db: invalid store URL: unexpected host 'host'"),
        ("sqlite://", "sqlite://: invalid store URL: no path"),
        ("", "(empty): invalid store URL: empty"),
    ],
)
def test_bad_urls(url, message):
    with pytest.raises(InvalidStoreURL) as exc:
        open_store(url)
    assert str(exc.value).startswith(message)
    assert "\n" not in str(exc.value) and exc.value.exit_code == 2


async def test_new_sqlite_store_is_0600_in_a_0700_dir(tmp_path):
    db = tmp_path / "new" / "deeper" / "catalyst.db"
    async with open_store(f"sqlite://{db}") as s:
        assert s.kind == "sqlite"
    assert stat.S_IMODE(os.stat(db).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(db.parent).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(db.parent.parent).st_mode) == 0o700
