"""The audit log: every operator action, oldest first, the newest selected."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from ...domain.record import parse_time
from ...store.base import AuditEntry, StoreError
from .. import keymap
from ..messages import FleetChanged
from ..text import safe, short_time
from ..widgets.bars import StatePanel, TitleBar
from .common import CoalescedLoads

if TYPE_CHECKING:
    from ..app import CatalystApp

COLUMNS = (("time", "Time", 20), ("operator", "Operator", 16), ("action", "Action", 16),
           ("record", "Sovereign", 24), ("change", "Status change", 32), ("reason", "Reason", 60))


def entry_cells(entry: AuditEntry, fqdn: str = "") -> list[Text]:
    before, after = entry.status_before, entry.status_after
    if before == after:
        change = safe(before or "—", "dim")
    else:
        change = Text.assemble(safe(before or "—"), " → ", safe(after or "—", "bold"))
    return [
        Text(short_time(parse_time(entry.time)) if parse_time(entry.time) else entry.time[:20], no_wrap=True),
        safe(entry.operator, "cyan"),
        safe(entry.action, "bold"),
        safe(fqdn or entry.record_id),
        change,
        safe(entry.reason),
    ]


class AuditScreen(CoalescedLoads, Screen):
    SCOPE = "audit"
    BINDINGS = keymap.bindings("audit")
    AUTO_FOCUS = "#audit-table"

    def __init__(self, record_id: str | None = None) -> None:
        super().__init__()
        self.record_id = record_id
        self.entries: list[AuditEntry] = []
        self.loaded = False

    def compose(self) -> ComposeResult:
        where = "Audit log" if self.record_id is None else f"Audit log of {self.record_id}"
        yield TitleBar(where)
        yield StatePanel(id="audit-state")
        table = DataTable(cursor_type="row", id="audit-table")
        for key, label, width in COLUMNS:
            table.add_column(label, key=key, width=width)
        yield table
        yield Static(id="audit-detail")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#audit-state", StatePanel).show_loading("the audit log")
        self.query_one("#audit-table").display = False
        self.request_load()

    @on(FleetChanged)
    def _changed(self, message: FleetChanged) -> None:
        if message.delta.changed or message.delta.removed:
            self.request_load()

    async def _load(self) -> None:
        app = cast("CatalystApp", self.app)
        state = self.query_one("#audit-state", StatePanel)
        table = self.query_one("#audit-table", DataTable)
        try:
            entries = await app.store.audit_list(self.record_id)
        except StoreError as exc:
            state.show_error(Text.assemble(("Cannot read the audit log: ", "bold"), safe(str(exc))), banner=self.loaded)
            return
        first = not self.loaded
        self.loaded = True
        # Append-only: add the entries we have not shown yet.
        for i in range(len(self.entries), len(entries)):
            row = app.fleet.rows.get(entries[i].record_id)
            table.add_row(*entry_cells(entries[i], row.fqdn if row is not None else ""), key=str(i))
        self.entries = entries
        if not entries:
            state.show_empty(
                "No operator actions recorded yet.\n"
                "Every status patch, handover, watcher reattach/stop and take-over is written here with the "
                "operator's name and reason."
            )
            table.display = False
            return
        state.hide()
        table.display = True
        if first:
            table.move_cursor(row=len(entries) - 1, animate=False)
        self._show_detail(table.cursor_row)

    @on(DataTable.RowHighlighted, "#audit-table")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail(event.cursor_row)

    def _show_detail(self, index: int) -> None:
        detail = self.query_one("#audit-detail", Static)
        if not (0 <= index < len(self.entries)):
            detail.update("")
            return
        entry = self.entries[index]
        text = Text.assemble(("record: ", "bold"), safe(entry.record_id), ("  reason: ", "bold"), safe(entry.reason))
        if entry.detail:
            text.append("\ndetail: ", style="bold")
            text.append_text(safe(json.dumps(entry.detail, ensure_ascii=False, sort_keys=True)))
        detail.update(text)

    def action_back(self) -> None:
        self.app.pop_screen()
