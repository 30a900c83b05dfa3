"""Every mutating key path through Pilot: confirmed, audited, refused in --read-only, and the
conflict created for real (the record changes between opening the dialog and confirming)."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Button, Input, Select, Static, TextArea

from catalyst_tui.domain.record import Event
from catalyst_tui.store.sqlite import SQLiteStore
from catalyst_tui.ui.modals.confirm import ConfirmModal, MessageModal
from catalyst_tui.ui.modals.handover import HandoverModal
from catalyst_tui.ui.modals.json_view import JsonViewModal
from catalyst_tui.ui.modals.patch_status import PatchStatusModal
from catalyst_tui.ui.screens.detail import DetailScreen
from catalyst_tui.ui.widgets.fleet_table import FleetTable

from . import fleet
from .conftest import fleet_loaded, wait_for


async def read(db: Path, rid: str):  # noqa: ANN201
    store = SQLiteStore(db, read_only=True)
    await store.open()
    try:
        return await store.get(rid), await store.audit_list(rid)
    finally:
        await store.close()


async def select_row(pilot, rid: str) -> None:  # noqa: ANN001
    table = pilot.app.screen.query_one(FleetTable)
    table.move_cursor(row=table.get_row_index(rid), animate=False)
    await pilot.pause()
    assert table.selected_id() == rid


def static_text(screen, selector: str) -> str:  # noqa: ANN001
    return str(screen.query_one(selector, Static).render())


async def open_patch(pilot, rid: str) -> PatchStatusModal:  # noqa: ANN001
    await select_row(pilot, rid)
    await pilot.press("p")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, PatchStatusModal) and pilot.app.screen.version is not None,
                   what="the patch dialog to read the record")
    await pilot.pause()
    return pilot.app.screen


async def test_patch_status_writes_audits_and_shows_consequences(make_app, fleet_db: Path) -> None:
    app = make_app()
    async with app.run_test(size=(110, 30)) as pilot:
        await fleet_loaded(pilot, rows=9)
        modal = await open_patch(pilot, fleet.READY_NOT_FIRED)
        # ready -> phase1-watching with a kubeconfig present: a watch can attach, no stale warning;
        # failed would be resumed by catalyst-api (phase1FinishedAt is set, so nothing is resumed).
        modal.query_one("#patch-target", Select).value = "failed"
        await pilot.pause()
        preview = static_text(modal, "#patch-preview")
        assert "Before" in preview and "ready" in preview and "failed" in preview
        assert "Consequences: none known" in preview
        modal.query_one("#patch-reason", Input).value = "operator request"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, PatchStatusModal), what="the dialog to close")
        versioned, audit = await read(fleet_db, fleet.READY_NOT_FIRED)
        assert versioned.record.status == "failed"
        assert versioned.record.event_list()[-1].phase == "operator"
        assert [(a.action, a.operator, a.status_before, a.status_after, a.reason) for a in audit] == [
            ("patch-status", "alice", "ready", "failed", "operator request")
        ]
        table = app.screen.query_one(FleetTable)
        await wait_for(pilot, lambda: "failed" in table.get_cell(fleet.READY_NOT_FIRED, "status").plain, what="the row to update")


async def test_patch_preview_warns_and_a_patch_needs_a_reason(make_app, fleet_db: Path) -> None:
    app = make_app()
    async with app.run_test(size=(110, 30)) as pilot:
        await fleet_loaded(pilot, rows=9)
        modal = await open_patch(pilot, fleet.WATCHING)
        # phase1-watching with a kubeconfig, no phase1FinishedAt: patched to ready, the next
        # catalyst-api restart resumes it.
        assert modal.target() == "ready"
        assert "resumes the watch" in static_text(modal, "#patch-preview")
        await pilot.press("escape")
        await pilot.pause()
        modal = await open_patch(pilot, fleet.ABANDONED)
        modal.query_one("#patch-target", Select).value = "phase1-watching"
        await pilot.pause()
        assert "no watcher can attach" in static_text(modal, "#patch-preview")
        # Without a reason nothing is written.
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "Type a reason" in static_text(modal, "#patch-outcome"), what="the reason error")
        assert isinstance(app.screen, PatchStatusModal)
        await pilot.press("escape")
        await pilot.pause()
    versioned, audit = await read(fleet_db, fleet.ABANDONED)
    assert versioned.record.status == "failed" and audit == []


async def test_patch_conflict_is_shown_and_nothing_is_written(make_app, fleet_db: Path) -> None:
    app = make_app()
    async with app.run_test(size=(110, 30)) as pilot:
        await fleet_loaded(pilot, rows=9)
        modal = await open_patch(pilot, fleet.WATCHING)
        modal.query_one("#patch-reason", Input).value = "watch is stuck"
        # Meanwhile the watcher (another writer) appends an event: the record moves to a new version.
        other = SQLiteStore(fleet_db)
        await other.open()
        try:
            ev = Event.make("component", "info", "Helm install succeeded", at=fleet.NOW, component="openbao", state="installed")
            new_version = await other.append_events(fleet.WATCHING, [ev])
        finally:
            await other.close()
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: modal.conflicted, what="the conflict")
        await pilot.pause()
        outcome = static_text(modal, "#patch-outcome")
        assert "Conflict: nothing was written" in outcome
        assert "changed since it was read" in outcome
        assert modal.query_one("#patch-apply", Button).disabled
        assert f"(version {new_version})" in static_text(modal, "#patch-current")
        versioned, audit = await read(fleet_db, fleet.WATCHING)
        assert versioned.record.status == "phase1-watching" and versioned.version == new_version
        assert audit == []
        # Reload reads the record as it is now; then the patch goes through.
        await pilot.click("#patch-reload")
        await wait_for(pilot, lambda: not modal.conflicted and modal.version == new_version, what="the reload")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, PatchStatusModal), what="the dialog to close")
    versioned, audit = await read(fleet_db, fleet.WATCHING)
    assert versioned.record.status == "ready"
    assert [a.action for a in audit] == ["patch-status"]


async def test_read_only_refuses_every_mutating_key(make_app, fleet_db: Path) -> None:
    from catalyst_tui.ui import keymap

    mutating = {s.key for s in keymap.specs("fleet") if s.mutating}
    assert mutating == {"p", "h", "w", "x", "t"}
    app = make_app(read_only=True)
    async with app.run_test(size=(120, 36)) as pilot:
        await fleet_loaded(pilot, rows=9)
        await select_row(pilot, fleet.READY_NOT_FIRED)
        for key in sorted(mutating):
            await pilot.press(key)
            await wait_for(pilot, lambda: isinstance(app.screen, MessageModal), what=f"the refusal of {key}")
            body = str(app.screen.query_one(".dialog-body", Static).render())
            assert "--read-only" in body and "nothing was written" in body
            await pilot.press("escape")
            await pilot.pause()
            assert app.screen.__class__.__name__ == "FleetScreen"
    versioned, audit = await read(fleet_db, fleet.READY_NOT_FIRED)
    assert versioned.version == "1" and audit == []


async def test_read_only_still_views_json_with_tokens_masked(make_app) -> None:
    app = make_app(read_only=True)
    async with app.run_test(size=(120, 36)) as pilot:
        await fleet_loaded(pilot, rows=9)
        await select_row(pilot, fleet.READY_FIRED)
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(app.screen, JsonViewModal) and app.screen.query_one(TextArea).display,
                       what="the JSON view")
        text = app.screen.query_one(TextArea).text
        assert f'"id": "{fleet.READY_FIRED}"' in text
        assert "token=<hidden>" in text and "SECRET" not in text
        assert '"hetznerToken": "<redacted>"' in text
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen.__class__.__name__ == "FleetScreen"


async def test_handover_issues_a_url_once_and_copies_it(make_app, fleet_db: Path) -> None:
    app = make_app()
    async with app.run_test(size=(110, 30)) as pilot:
        await fleet_loaded(pilot, rows=9)
        await select_row(pilot, fleet.READY_NOT_FIRED)
        await pilot.press("h")
        await wait_for(pilot, lambda: isinstance(app.screen, HandoverModal) and app.screen.record is not None, what="the checks")
        modal = app.screen
        checks = static_text(modal, "#handover-checks")
        assert "components installed: 11/11" in checks and "bruce@wayne.example" in checks
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: modal.url is not None, what="the URL")
        url = modal.url
        assert url.startswith("https://console.wayne.omani.works/auth/handover?token=")
        assert app.clipboard == url
        assert modal.query_one("#handover-url", TextArea).text == url
        assert "copied to the clipboard" in static_text(modal, "#handover-outcome")
        await pilot.press("escape")
        await pilot.pause()
        assert modal.url is None
    versioned, audit = await read(fleet_db, fleet.READY_NOT_FIRED)
    assert versioned.record.result.handoverFiredAt
    assert versioned.record.event_list()[-1].phase == "handover-ready"
    assert [(a.action, a.operator) for a in audit] == [("handover", "alice")]
    assert all("token=" not in str(a.to_json()) for a in audit)


async def test_handover_reissue_and_refusal_by_preconditions(make_app, fleet_db: Path) -> None:
    app = make_app()
    async with app.run_test(size=(110, 30)) as pilot:
        await fleet_loaded(pilot, rows=9)
        await select_row(pilot, fleet.WATCHING)
        await pilot.press("h")
        await wait_for(pilot, lambda: isinstance(app.screen, HandoverModal) and app.screen.record is not None, what="the checks")
        modal = app.screen
        checks = static_text(modal, "#handover-checks")
        assert "Handover is not possible" in checks and "not ready" in checks and "7/11" in checks
        assert not modal.query_one("#handover-issue", Button).display
        await pilot.press("ctrl+s")  # nothing to issue
        await pilot.press("escape")
        await pilot.pause()
        await select_row(pilot, fleet.READY_FIRED)
        await pilot.press("h")
        await wait_for(pilot, lambda: isinstance(app.screen, HandoverModal) and app.screen.record is not None, what="the checks")
        modal = app.screen
        assert "already fired" in static_text(modal, "#handover-checks")
        assert "Reissue" in str(modal.query_one("#handover-issue", Button).label)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: modal.url is not None, what="the reissued URL")
        assert "(reissued)" in static_text(modal, "#handover-outcome")
    _, audit = await read(fleet_db, fleet.WATCHING)
    assert audit == []
    _, audit = await read(fleet_db, fleet.READY_FIRED)
    assert [a.action for a in audit] == ["handover-reissue"]


async def test_handover_conflict_writes_nothing(make_app, fleet_db: Path) -> None:
    app = make_app()
    async with app.run_test(size=(110, 30)) as pilot:
        await fleet_loaded(pilot, rows=9)
        await select_row(pilot, fleet.READY_NOT_FIRED)
        await pilot.press("h")
        await wait_for(pilot, lambda: isinstance(app.screen, HandoverModal) and app.screen.record is not None, what="the checks")
        modal = app.screen
        other = SQLiteStore(fleet_db)
        await other.open()
        try:
            await other.append_events(fleet.READY_NOT_FIRED, [Event.make("operator", "info", "note", at=fleet.NOW)])
        finally:
            await other.close()
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "Conflict" in static_text(modal, "#handover-outcome"), what="the conflict")
        assert modal.url is None and app.clipboard == ""
    versioned, audit = await read(fleet_db, fleet.READY_NOT_FIRED)
    assert versioned.record.result.handoverFiredAt is None and audit == []


async def test_watcher_keys_without_a_supervisor_say_why(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await fleet_loaded(pilot, rows=9)
        await select_row(pilot, fleet.WATCHING)
        for key in ("w", "x", "t"):
            await pilot.press(key)
            await wait_for(pilot, lambda: isinstance(app.screen, MessageModal), what="the message")
            assert "without watchers" in str(app.screen.query_one(".dialog-body", Static).render())
            await pilot.press("escape")
            await pilot.pause()
        # The confirmation the watcher actions use: y confirms, n and escape cancel.
        results: list[bool] = []
        for key in ("y", "n", "escape"):
            app.push_screen(ConfirmModal("Reattach", "sure?"), results.append)
            await pilot.pause()
            await pilot.press(key)
            await pilot.pause()
        assert results == [True, False, False]


async def test_record_actions_from_the_detail_screen(make_app, fleet_db: Path) -> None:
    app = make_app()
    async with app.run_test(size=(110, 30)) as pilot:
        await fleet_loaded(pilot, rows=9)
        await select_row(pilot, fleet.ABANDONED)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen) and app.screen.record is not None, what="detail")
        await pilot.press("p")
        await wait_for(pilot, lambda: isinstance(app.screen, PatchStatusModal) and app.screen.version is not None, what="patch")
        await pilot.press(*"ok")
        await pilot.press("enter")  # enter in the reason field applies
        await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen), what="back on the detail")
        await wait_for(pilot, lambda: app.screen.record is not None and app.screen.record.status == "ready", what="detail reload")
        await pilot.press("A")
        await wait_for(pilot, lambda: app.screen.__class__.__name__ == "AuditScreen" and app.screen.loaded, what="record audit")
        assert len(app.screen.entries) == 1 and app.screen.entries[0].record_id == fleet.ABANDONED
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, DetailScreen)




async def test_json_view_masks_plaintext_credentials_of_a_hand_edited_record(make_app, tmp_path: Path) -> None:
    """catalyst-api stores ``<redacted>``; a record edited by hand may hold the plaintext. The
    JSON view never shows it (``catalyst-tui show --json`` keeps the stored bytes)."""
    from catalyst_tui.domain.record import Record, record_to_dict

    data = record_to_dict(fleet.fleet_records()[6])  # READY_NOT_FIRED
    data["request"].update(hetznerToken="PLAINTEXT-hcloud-0001", dynadotSecret="PLAINTEXT-dynadot-0002")
    hand_edited = Record.model_validate(data)
    db = tmp_path / "plaintext.db"
    await fleet.seed(db, [hand_edited])
    app = make_app(db=db)
    async with app.run_test(size=(120, 36)) as pilot:
        await fleet_loaded(pilot, rows=1)
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(app.screen, JsonViewModal) and app.screen.query_one(TextArea).display,
                       what="the JSON view")
        text = app.screen.query_one(TextArea).text
        assert "PLAINTEXT" not in text and '"hetznerToken": "<redacted>"' in text
        assert "credentials shown as <redacted>" in str(app.screen.query_one("#json-state").render())
