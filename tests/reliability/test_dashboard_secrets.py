"""Secrets, dashboard part (issue 6, item 7).

Canaries:

* a hand-edited record (``ready``, handover-able) holds a canary in **every** credential field of
  the request and in an unknown secret-looking key (catalyst-api itself stores ``<redacted>``);
* a live Sovereign's kubeconfig carries a bearer-token canary, and the simulated cluster really
  accepts that token (the real watcher authenticates with it), until the token is rotated and the
  watch shows its 401;
* two more Sovereigns have broken kubeconfigs from the bad-input corpus whose exec-plugin args,
  env and token hold another canary (their errors are on the screen);
* the handover private key is the dashboard's own signer's.

The operator visits every screen the dashboard can show (fleet, detail, JSON view, audit log,
help, the handover dialog before and after minting, the patch dialog); the rendered frames
(compositor text and SVG screenshot text) contain no credential canary, no kubeconfig canary and no
piece of the private key. The handover URL is shown once, in the handover dialog only: it carries a
JWT (checked to be a JWT signed by that key, not the key) and it is on no other frame afterwards.
Every log record emitted while the app and its supervisor ran (captured at DEBUG) is free of them
too. The committed snapshot SVGs under ``tests/ui/__snapshots__`` hold no secret of the fleet they
were made from.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from pathlib import Path
from typing import Any

from catalyst_tui.domain.outcome import Phase1Config
from catalyst_tui.domain.record import CREDENTIAL_FIELDS, REDACTED, Record
from catalyst_tui.domain.statuses import BOOTSTRAP_KIT
from catalyst_tui.kube.simulator import KubeSimulator, helmrelease, set_ready
from catalyst_tui.kube.watcher import WatchConfig
from catalyst_tui.service.supervisor import Supervisor
from catalyst_tui.store.sqlite import SQLiteStore
from catalyst_tui.ui.modals.handover import HandoverModal
from catalyst_tui.ui.modals.json_view import JsonViewModal
from catalyst_tui.ui.modals.patch_status import PatchStatusModal
from catalyst_tui.ui.screens.audit import AuditScreen
from catalyst_tui.ui.screens.detail import DetailScreen
from catalyst_tui.ui.screens.fleet import FleetScreen
from catalyst_tui.ui.screens.help import HelpScreen
from catalyst_tui.ui.widgets.fleet_table import FleetTable

from .dashboard_support import MeasuredApp, finished, press, screen_render, settle, seed_sqlite, sovereign, svg_text, ui_config

REPO = Path(__file__).resolve().parents[2]
BADINPUT = REPO / "tests" / "badinput" / "data"
SNAPSHOTS = REPO / "tests" / "ui" / "__snapshots__"

CANARY = {f: f"CANARY-{f}-d45b0a" for f in CREDENTIAL_FIELDS}
FUTURE_SECRET = "CANARY-futureWebhookSecret-d45b0a"
CREDENTIALS = [*CANARY.values(), FUTURE_SECRET]
KUBE_TOKEN = "CANARY-kube-bearer-d45b0a"
BAD_KUBE_CANARY = "CANARY-kube-token-5c0f1e"  # tests/badinput/data/kubeconfigs.json "canary"

HAND = "5ec0d00000000001"    # ready, plaintext credentials (hand-edited), handover-able
LIVE = "5ec0d00000000002"    # phase1-watching, watched live with the canary token
EXEC = "5ec0d00000000003"    # phase1-watching, exec plugin not installed (canary in args/env)
WRONG = "5ec0d00000000004"   # phase1-watching, user entry of the wrong type (canary token)


def key_material(pem: Path) -> list[str]:
    body = "".join(ln for ln in pem.read_text().splitlines() if ln and not ln.startswith("-----"))
    return [body[i:i + 40] for i in range(0, len(body) - 40, 40)]


def records(kdir: Path) -> list[Record]:
    hand = finished(HAND, "acme")
    hand = hand.model_copy(update={
        "request": hand.request.model_copy(update={**CANARY, "futureWebhookSecret": FUTURE_SECRET}),
        "ownerEmail": "owner@acme.example",
    })
    assert all(getattr(hand.request, f, None) == v or hand.request.model_dump().get(f) == v for f, v in CANARY.items())
    return [
        hand,
        sovereign(LIVE, "live", kubeconfig=kdir / f"{LIVE}.yaml"),
        sovereign(EXEC, "execplugin", kubeconfig=kdir / f"{EXEC}.yaml"),
        sovereign(WRONG, "wrongtype", kubeconfig=kdir / f"{WRONG}.yaml"),
    ]


class Frames:
    """Every frame the operator saw, as text (compositor and SVG)."""

    def __init__(self, app: MeasuredApp) -> None:
        self.app = app
        self.seen: list[tuple[str, str]] = []

    async def take(self, what: str, *, svg: bool = False) -> str:
        await settle(self.app)
        text = screen_render(self.app).text
        if svg:  # the SVG screenshot renders the same frame (slower): taken on a few screens
            text += "\n" + svg_text(self.app.export_screenshot())
        self.seen.append((what, text))
        return text

    def containing(self, secret: str, *, pieces: int = 0) -> list[str]:
        """Frames showing ``secret`` (or, with ``pieces``, any of its ``pieces``-character chunks:
        a wrapped URL is cut across lines)."""
        needles = [secret] if not pieces else [secret[i:i + pieces] for i in range(0, len(secret) - pieces + 1, pieces)]
        return [what for what, text in self.seen if any(n in text for n in needles)]


async def until(pilot: Any, cond: Any, what: str, timeout: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        if loop.time() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.05)
    await pilot.pause()


async def test_no_secret_on_any_screen_or_log_line(tmp_path: Path, caplog: Any) -> None:
    caplog.set_level(logging.DEBUG)
    kdir = tmp_path / "kubeconfigs"
    key = tmp_path / "handover" / "key.pem"
    async with KubeSimulator(speed=40.0) as sim:
        sim.add_cluster(LIVE, token=KUBE_TOKEN)
        sim.write_kubeconfig(LIVE, kdir / f"{LIVE}.yaml")
        assert KUBE_TOKEN in (kdir / f"{LIVE}.yaml").read_text()
        c = sim.cluster(LIVE)
        for comp in BOOTSTRAP_KIT[:5]:
            c.apply(set_ready(helmrelease(f"bp-{comp}"), "True", "InstallSucceeded", "Helm install succeeded"))
        for rid, name in ((EXEC, "exec-plugin-not-installed.yaml"), (WRONG, "user-wrong-type.yaml")):
            (kdir / f"{rid}.yaml").write_text((BADINPUT / "kubeconfigs" / name).read_text())
            os.chmod(kdir / f"{rid}.yaml", 0o600)
        db = tmp_path / "fleet.db"
        await seed_sqlite(db, records(kdir))
        store = SQLiteStore(db)

        def signer() -> Any:
            from catalyst_tui.handover.keys import HandoverSigner

            return HandoverSigner.load_or_generate(key)

        sup = Supervisor(store, holder="alice@secrets", kubeconfigs_dir=str(kdir), signer=signer,
                         phase1=Phase1Config(late_poll_timeout=600, watch_timeout=600, first_seen_timeout=600),
                         watch=WatchConfig(timeout_seconds=2, connect_timeout=1.0, read_grace=0.5, backoff_initial=0.05,
                                           backoff_max=0.3, error_retry=0.3),
                         lease_ttl=3.0, flush_interval=0.1, tick_interval=0.05)
        app = MeasuredApp(store, supervisor=sup, operator="alice", config=ui_config(), signer=signer,
                          kubeconfigs_dir=str(kdir), store_label="sqlite:///secrets.db")
        frames = Frames(app)
        url = ""
        async with app.run_test(size=(160, 45), notifications=True) as pilot:
            await until(pilot, lambda: app.fleet.loaded and isinstance(app.screen, FleetScreen)
                        and app.screen.query_one(FleetTable).row_count == 4, "the fleet")
            st = app.supervisor.statuses
            await until(pilot, lambda: LIVE in st() and st()[LIVE].synced, "the live watch (with the canary token)")
            await until(pilot, lambda: all(r in st() and st()[r].phase.value == "error" for r in (EXEC, WRONG)),
                        "the broken kubeconfigs' errors")
            # The token is rotated: the watch with the canary token gets 401 and says so.
            c.rotate_token()
            await until(pilot, lambda: st()[LIVE].phase.value == "error", "the 401")
            await pilot.pause(0.3)
            await frames.take("fleet with the watcher errors", svg=True)

            for rid in (LIVE, EXEC, WRONG, HAND):
                app.open_detail(rid)
                await until(pilot, lambda: isinstance(app.screen, DetailScreen) and app.screen.record is not None, f"detail {rid}")
                await frames.take(f"detail {rid}")
                await press(app, "y", lambda: isinstance(app.screen, JsonViewModal) and app.screen.query_one("#json-text").display,
                            "the JSON view")
                await frames.take(f"JSON view {rid}", svg=rid == HAND)
                json_text = app.screen.query_one("#json-text").text
                frames.seen.append((f"JSON text {rid}", json_text))  # all of it, not only the visible part
                await press(app, "escape", lambda: isinstance(app.screen, DetailScreen), "back")
                await press(app, "escape", lambda: isinstance(app.screen, FleetScreen), "back to the fleet")

            # Handover of the hand-edited record: the checks, then the URL, shown once.
            table = app.screen.query_one(FleetTable)
            table.move_cursor(row=table.get_row_index(HAND), animate=False)
            await press(app, "h", lambda: isinstance(app.screen, HandoverModal) and app.screen.record is not None, "handover checks")
            await frames.take("handover checks")
            await press(app, "ctrl+s", lambda: isinstance(app.screen, HandoverModal) and app.screen.url is not None, "the URL")
            url = app.screen.url or ""
            await until(pilot, lambda: "auth/handover?token=" in screen_render(app).text, "the URL on the screen")
            await frames.take("handover URL (shown once)", svg=True)
            assert app.screen.query_one("#handover-url").text == url
            await press(app, "escape", lambda: isinstance(app.screen, FleetScreen), "back to the fleet")
            await pilot.pause(0.3)
            await frames.take("fleet after the handover")
            app.open_detail(HAND)
            await until(pilot, lambda: isinstance(app.screen, DetailScreen) and app.screen.record is not None
                        and app.screen.record.result is not None and app.screen.record.result.handoverFiredAt, "the detail")
            await frames.take("detail after the handover (event log)")
            await press(app, "y", lambda: isinstance(app.screen, JsonViewModal) and app.screen.query_one("#json-text").display, "JSON")
            frames.seen.append(("JSON text after the handover", app.screen.query_one("#json-text").text))
            await press(app, "escape", lambda: isinstance(app.screen, DetailScreen), "back")
            await press(app, "p", lambda: isinstance(app.screen, PatchStatusModal) and app.screen.version is not None, "patch")
            await frames.take("patch dialog")
            await press(app, "escape", lambda: isinstance(app.screen, DetailScreen), "back")
            await press(app, "escape", lambda: isinstance(app.screen, FleetScreen), "the fleet")
            await press(app, "a", lambda: isinstance(app.screen, AuditScreen) and app.screen.loaded, "the audit log")
            await frames.take("audit log")
            await press(app, "escape", lambda: isinstance(app.screen, FleetScreen), "the fleet")
            await press(app, "question_mark", lambda: isinstance(app.screen, HelpScreen), "help")
            await frames.take("help")
            await press(app, "escape", lambda: isinstance(app.screen, FleetScreen), "the fleet")

    assert url.startswith("https://console.acme.omani.works/auth/handover?token=")
    token = url.split("?token=", 1)[1]
    material = key_material(key)
    assert material and "PRIVATE KEY" in key.read_text()

    # 1. The URL was on the screen once, in the handover dialog, and on no other frame.
    assert frames.containing(token, pieces=16) == ["handover URL (shown once)"], frames.containing(token, pieces=16)
    #    ... and it is a JWT signed with the key, not the key.
    import jwt

    from catalyst_tui.handover.keys import HandoverSigner

    claims = jwt.decode(token, HandoverSigner.load_or_generate(key)._key.public_key(), algorithms=["RS256"],
                        audience="https://console.acme.omani.works")
    assert claims["deployment_id"] == HAND

    # 2. No credential canary, kubeconfig canary or piece of the private key on any frame (the JSON
    #    view's credentials: test_json_view_does_not_show_plaintext_credentials).
    leaks = {secret: frames.containing(secret) for secret in [*CREDENTIALS, KUBE_TOKEN, BAD_KUBE_CANARY, *material, "PRIVATE KEY"]}
    leaks = {s: [w for w in where if not (s in CREDENTIALS and w.startswith("JSON"))] for s, where in leaks.items()}
    assert {s: w for s, w in leaks.items() if w} == {}
    #    ... while the frames did show what they had to (the test looked at the right screens).
    shown = "\n".join(text for _w, text in frames.seen)
    assert "401 Unauthorized" in shown and "exec plugin 'catalyst-tui-test-no-such-credential-plugin' is not installed" in shown
    assert REDACTED in shown and '"hetznerToken"' in shown and "token=<hidden>" in shown

    # 3. No log record (DEBUG and up, every logger) carries any of them.
    leaked: dict[str, set[str]] = {}
    for r in caplog.records:
        line = r.getMessage()
        for secret in [*CREDENTIALS, KUBE_TOKEN, BAD_KUBE_CANARY, token, *material, "PRIVATE KEY"]:
            if secret in line:
                leaked.setdefault(f"{r.name}:{r.levelname}", set()).add(secret[:28])
    assert leaked == {}, f"log records carry secrets: {leaked}"

    # 4. The store: credentials are as they were (the dashboard never rewrote them), the audit has no token.
    async with SQLiteStore(db, read_only=True) as ro:
        hand = (await ro.get(HAND)).record
        audit = await ro.audit_list()
    assert {f: hand.request.model_dump().get(f) for f in CREDENTIAL_FIELDS} == CANARY
    blob = "\n".join(str(a.to_json()) for a in audit)
    assert "handover" in blob
    for secret in [token, KUBE_TOKEN, BAD_KUBE_CANARY, *CREDENTIALS, *material]:
        assert secret not in blob


def test_committed_snapshots_hold_no_secret_of_their_fleet() -> None:
    """The SVG snapshots under tests/ui/__snapshots__ are committed and reviewed as images: they
    must not show a credential, a handover token or key material of the records they render."""
    from tests.ui import fleet

    secrets: set[str] = {KUBE_TOKEN, BAD_KUBE_CANARY, *CREDENTIALS, "PRIVATE KEY", "BEGIN RSA", "BEGIN PRIVATE"}
    for rec in fleet.fleet_records():
        req = rec.request.model_dump()
        secrets |= {str(req[f]) for f in CREDENTIAL_FIELDS if req.get(f) not in (None, "", REDACTED)}
        if rec.result is not None and rec.result.handoverURL and "token=" in rec.result.handoverURL:
            secrets.add(rec.result.handoverURL.split("token=", 1)[1])
        for ev in rec.event_list():
            secrets |= set(re.findall(r"token=([^&\s\"']+)", ev.message))
    assert any("SECRET" in s for s in secrets)  # the fleet's handover tokens are among them
    svgs = sorted(SNAPSHOTS.rglob("*.svg"))
    assert len(svgs) >= 10, svgs
    jwt_like = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.")
    for svg in svgs:
        raw = svg.read_text(encoding="utf-8")
        text = svg_text(raw)
        for secret in secrets:
            assert secret not in raw and secret not in text, f"{svg.name} shows {secret[:20]}…"
        assert not jwt_like.search(text), f"{svg.name} shows a JWT"


async def test_json_view_does_not_show_plaintext_credentials(tmp_path: Path) -> None:
    """The JSON view (``y``) shows the whole record. A hand-edited record with plaintext credentials
    (catalyst-api stores ``<redacted>``) must not put them on the screen: like the CLI's human
    ``show``, the view says ``<redacted>`` for every credential field and secret-looking key."""
    kdir = tmp_path / "kubeconfigs"
    db = tmp_path / "fleet.db"
    await seed_sqlite(db, records(kdir)[:1])
    app = MeasuredApp(SQLiteStore(db), operator="alice", config=ui_config(), kubeconfigs_dir=str(kdir),
                      store_label="sqlite:///secrets.db")
    async with app.run_test(size=(160, 45)) as pilot:
        await until(pilot, lambda: app.fleet.loaded and isinstance(app.screen, FleetScreen)
                    and app.screen.query_one(FleetTable).row_count == 1, "the fleet")
        await press(app, "y", lambda: isinstance(app.screen, JsonViewModal) and app.screen.query_one("#json-text").display,
                    "the JSON view")
        text = app.screen.query_one("#json-text").text + screen_render(app).text
    assert f'"orgName": "Acme"' in text
    shown = [c for c in CREDENTIALS if c in text]
    assert shown == [], f"the JSON view shows plaintext credentials: {shown}"


async def test_sqlite_store_debug_log_carries_no_record_contents(tmp_path: Path, caplog: Any) -> None:
    """With DEBUG logging on (an operator debugging, Textual's devtools handler), the SQLite store
    must not log the records it writes: aiosqlite logs every operation with its SQL parameters at
    DEBUG, i.e. whole records (plaintext credentials of a hand-edited record, handover URLs with
    their tokens)."""
    caplog.set_level(logging.DEBUG)
    db = tmp_path / "debug.db"
    rec = records(tmp_path)[0]
    url = "https://console.acme.omani.works/auth/handover?token=eyJhbGciOiJSUzI1NiJ9.CANARYTOKENd45b0a.sig"
    async with SQLiteStore(db) as store:
        await store.create(rec)
        current = await store.get(HAND)
        after = current.record.model_copy(deep=True)
        assert after.result is not None
        after.result.handoverURL = url
        await store.replace(after, current.version)
        await store.get(HAND)
    leaked = {f"{r.name}:{r.levelname}" for r in caplog.records
              if any(s in r.getMessage() for s in [*CREDENTIALS, "CANARYTOKENd45b0a"])}
    assert leaked == set(), f"log records carry record contents (credentials, handover token): {leaked}"
