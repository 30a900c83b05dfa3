"""The fleet: every Sovereign, most urgent first, live."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.reactive import reactive
from textual.screen import Screen
from textual.actions import SkipAction
from textual.widgets import Footer, Input, Static

from ...service.fleet import WATCHER_NONE, FleetRow, filter_rows
from .. import keymap
from ..fleet_state import gc_paused
from ..messages import FleetChanged
from ..text import safe, update_if_changed
from ..widgets.bars import StatePanel, TitleBar, counts_line
from ..widgets.filter_input import FilterInput
from ..widgets.fleet_table import SORT_BY, SORT_CYCLE, FleetTable
from .common import RecordActions

if TYPE_CHECKING:
    from ..app import CatalystApp

SORT_LABELS = {
    "attention": "attention",
    "status": "status",
    "fqdn": "FQDN",
    "progress": "progress",
    "watcher": "watcher",
    "last_event": "updated",
    "elapsed": "elapsed (start time)",
    "org": "org",
    "region": "region",
    "handover": "handover",
    "error": "error",
}


class FleetScreen(RecordActions, Screen):
    SCOPE = "fleet"
    BINDINGS = keymap.bindings("fleet")
    AUTO_FOCUS = "FleetTable"

    filter_text: reactive[str] = reactive("", init=False)
    attention_only: reactive[bool] = reactive(False, init=False)
    sort_by: reactive[str] = reactive("attention", init=False)
    sort_desc: reactive[bool] = reactive(False, init=False)

    @property
    def capp(self) -> "CatalystApp":
        return cast("CatalystApp", self.app)

    def compose(self) -> ComposeResult:
        yield TitleBar("Fleet")
        yield Static(id="counts")
        yield Static(id="view-state")
        yield FilterInput(
            placeholder="filter: id, status, FQDN, org, region, error  (enter: done, escape: clear)", id="filter",
            on_done=self.filter_done, on_cancel=self.action_clear_filter,
        )
        yield StatePanel(id="store-banner")
        yield StatePanel(id="fleet-state")
        yield FleetTable(ascii_only=self.capp.config.ascii, id="fleet")
        yield Static(id="selection")
        yield Footer()

    @property
    def table(self) -> FleetTable:
        return self.query_one(FleetTable)

    def on_mount(self) -> None:
        self.app.tune(self)  # type: ignore[attr-defined]
        self.query_one("#filter", Input).display = False
        self.refresh_view()

    def current_record_id(self) -> str | None:
        return self.table.selected_id()

    # --- data --------------------------------------------------------------------------------
    @on(FleetChanged)
    def _fleet_changed(self, message: FleetChanged) -> None:
        delta = message.delta
        if delta.changed or delta.removed or delta.error_changed or delta.completed or not self.table.row_count:
            fleet = self.capp.fleet
            if (not (delta.error_changed or delta.completed) and self.table.row_count
                    and self._shown_generation == fleet.generation):
                # Drawn already: the screen mounted after that poll (at start-up the first poll
                # can end before the screen mounts; redrawing 10,000 rows again costs ~30 ms).
                self.table.tick(self.capp.now())
                return
            # Only the rows of this delta need comparing if it is the very next state after the
            # one on screen; after a skipped or coalesced one, every row is compared.
            follows = delta.generation == fleet.generation == self._shown_generation + 1
            self.refresh_view(changed=delta.changed if follows else None)
        else:
            self.table.tick(self.capp.now())

    def refresh_view(self, changed: frozenset[str] | None = None) -> None:
        with gc_paused():  # 10,000 sort keys and row lists: no cycles among them
            self._refresh_view(changed)

    def _refresh_view(self, changed: frozenset[str] | None) -> None:
        app = self.capp
        fleet = app.fleet
        table = self.table
        state = self.query_one("#fleet-state", StatePanel)
        banner = self.query_one("#store-banner", StatePanel)
        now = app.now()
        rows = fleet.ordered(self.sort_by, self.sort_desc) if fleet is not None else []
        shown = filter_rows(rows, self.filter_text, attention_only=self.attention_only) if (
            self.filter_text or self.attention_only) else rows
        table.sync(shown, now, changed=changed if changed is not None and not self._view_dirty else None,
                   follow=app.services_settled)
        self._view_dirty = False
        self._shown_generation = fleet.generation if fleet is not None else -1
        counts = fleet.counts() if fleet is not None else (0, {}, 0)
        # Only the head of the fleet is read yet (start-up, fleet.poll_head): counts, "N of M",
        # "nothing matches" and "no Sovereigns" would not be true of the fleet; say it is loading.
        partial = fleet is not None and fleet.partial and not fleet.loaded
        update_if_changed(self.query_one("#counts", Static), counts_line(*counts, ascii_only=app.config.ascii, loading=partial))
        update_if_changed(self.query_one("#view-state", Static), self._view_state_text(len(shown), len(rows), loading=partial))
        # states: error opening / reading the store, loading, empty, nothing matches
        if app.services_error is not None:
            state.show_error(Text.assemble(("Cannot open the store: ", "bold"), safe(app.services_error), "\nPress q to quit."))
            banner.hide()
        elif fleet is None or not (fleet.loaded or partial):
            if fleet is not None and fleet.error:
                state.show_error(Text.assemble(("Cannot read the store: ", "bold"), safe(fleet.error), "\nRetrying every second."))
            else:
                state.show_loading(f"records from {app.store_label}")
            banner.hide()
        else:
            if fleet.error:
                banner.show_error(
                    Text.assemble(("Store unavailable: ", "bold"), safe(fleet.error), " — showing the last rows read; retrying."),
                    banner=True,
                )
            elif fleet.load_errors:
                first = fleet.load_errors[0]
                n = len(fleet.load_errors)
                banner.show_error(
                    Text.assemble(
                        (f"{n} record{'s' if n != 1 else ''} could not be read: ", "bold"),
                        safe(first.path), ": ", safe(first.reason), (" (and more)" if n > 1 else ""),
                    ),
                    banner=True,
                )
            else:
                banner.hide()
            if partial and not shown:
                state.show_loading(f"the rest of the fleet ({fleet.total} Sovereigns)" if fleet.total else "the fleet")
            elif not rows:
                state.show_empty(
                    "No Sovereigns in this store yet.\n"
                    "Records appear here as soon as they are written (by catalyst-api on its volume, or "
                    "by `catalyst-tui import`). Try `catalyst-tui demo` for a simulated fleet."
                )
            elif not shown:
                what = []
                if self.filter_text:
                    what.append("the filter")
                if self.attention_only:
                    what.append("'faults only'")
                state.show_empty(
                    Text.assemble(
                        "No Sovereign matches ", " and ".join(what), ". ",
                        ("escape clears the filter; f shows everything." if self.attention_only else "escape clears the filter."),
                    )
                )
            else:
                state.hide()
        table.display = bool(shown)
        self.query_one("#selection", Static).display = bool(shown)
        self._show_selection()

    _view_dirty = True
    #: The FleetState.generation the table shows (-1: not drawn yet).
    _shown_generation = -1

    def _view_state_text(self, shown: int, total: int, *, loading: bool = False) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis", style="dim")
        arrow = "↓" if self.sort_desc else "↑"
        text.append(f"sort: {SORT_LABELS[self.sort_by]} {arrow}")
        if self.filter_text:
            text.append("  │  filter: ")
            text.append_text(safe(self.filter_text, "bold"))
        if self.attention_only:
            text.append("  │  ")
            text.append("faults only", style="bold")
        if loading:
            if shown != total:
                text.append(f"  │  {shown} shown so far")
        elif shown != total:
            text.append(f"  │  {shown} of {total} shown")
        return text

    # --- view state --------------------------------------------------------------------------
    def _restate(self) -> None:
        self._view_dirty = True
        self.refresh_view()

    def watch_filter_text(self) -> None:
        self._restate()

    def watch_attention_only(self) -> None:
        self._restate()

    def watch_sort_by(self) -> None:
        self._restate()

    def watch_sort_desc(self) -> None:
        self._restate()

    # --- actions -----------------------------------------------------------------------------
    def action_open_detail(self) -> None:
        rid = self.current_record_id()
        if rid is not None:
            self.capp.open_detail(rid)

    @on(FleetTable.RowSelected, "#fleet")
    def _row_selected(self, event: FleetTable.RowSelected) -> None:
        event.stop()
        self.action_open_detail()

    @on(FleetTable.RowHighlighted, "#fleet")
    def _row_highlighted(self, event: FleetTable.RowHighlighted) -> None:
        event.stop()
        self._show_selection()

    def _show_selection(self) -> None:
        """The line under the table: what the narrow columns cut of the selected row."""
        rid = self.table.selected_id()
        row = self.table.row_for(rid) if rid is not None else None
        update_if_changed(self.query_one("#selection", Static), selection_text(row) if row is not None else Text(""))

    # Keys typed in one go (``/cedar``, see widgets/filter_input.py): ``/`` is a priority binding,
    # run by the app before it dispatches the next key, and the focus moves synchronously
    # (``Screen.set_focus``); ``Widget.focus()`` would defer the move behind the keys already
    # delivered, which sent "a" to the audit key and "r" to refresh.
    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        if self.focused is box:
            raise SkipAction()  # a "/" typed in the filter is text
        box.display = True
        self.set_focus(box)

    def action_clear_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.value = ""
        box.display = False
        self.filter_text = ""
        self.set_focus(self.table)

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        # The box's value now, not the event's: a Changed handled after enter/escape applied the
        # final text must not bring back an earlier prefix.
        self.filter_text = event.input.value

    def filter_done(self, value: str) -> None:
        """enter in the filter: apply the text now and give the keys back to the table."""
        self.filter_text = value
        if not value:
            self.query_one("#filter", Input).display = False
        self.set_focus(self.table)

    def action_toggle_attention(self) -> None:
        self.attention_only = not self.attention_only

    def action_cycle_sort(self) -> None:
        i = SORT_CYCLE.index(self.sort_by)
        self.sort_by = SORT_CYCLE[(i + 1) % len(SORT_CYCLE)]

    def action_reverse_sort(self) -> None:
        self.sort_desc = not self.sort_desc

    @on(FleetTable.HeaderSelected, "#fleet")
    def _header_selected(self, event: FleetTable.HeaderSelected) -> None:
        key = event.column_key
        if key not in SORT_BY:
            return
        if self.sort_by == key:
            self.sort_desc = not self.sort_desc
        else:
            self.sort_by = key


def selection_text(row: FleetRow) -> Text:
    """``▸ acme.omani.works │ error: … │ watcher: reconnecting: … │ Acme Telecom · fsn1 · <id>``:
    the selected row's texts in full, most telling first (the table cuts them at 80-120 columns)."""
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append("▸ ", style="dim")
    text.append_text(safe(row.fqdn or row.id, "bold"))
    if row.error:
        text.append("  │  error: ", style="dim")
        text.append_text(safe(row.error, "red"))
    if row.watcher not in (WATCHER_NONE, "watching"):
        text.append("  │  watcher: ", style="dim")
        text.append_text(safe(row.watcher))
    details = [safe(v) for v in (row.org, row.region) if v] + [safe(row.id, "dim")]
    text.append("  │  ", style="dim")
    text.append_text(Text(" · ", style="dim").join(details))
    return text
