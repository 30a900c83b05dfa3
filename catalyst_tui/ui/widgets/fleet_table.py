"""The fleet table: one row per Sovereign, keyed by record id, updated in place.

Nothing here ever clears the table: a poll changes the cells that differ (``update_cell``), adds
and removes rows by key, and re-orders rows without re-creating them, so the cursor stays on its
Sovereign and nothing flickers.
"""

from __future__ import annotations

from datetime import datetime
from typing import Iterable

from rich.text import Text
from textual._two_way_dict import TwoWayDict
from textual.widgets import DataTable
from textual.widgets.data_table import RowKey

from ...domain import statuses
from ...kube.state import WatchPhase
from ...service.fleet import WATCHER_NONE, WATCHER_STALE, FleetRow
from ..text import ago, bar, duration, safe

#: (key, label, width). Widths are fixed so a live update never shifts the columns.
COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("status", "Status", 20),
    ("fqdn", "FQDN", 26),
    ("progress", "Progress", 12),
    ("watcher", "Watcher", 16),
    ("last_event", "Last event", 12),
    ("elapsed", "Elapsed", 8),
    ("org", "Org", 18),
    ("region", "Region", 6),
    ("handover", "Handover", 10),
    ("error", "Error", 60),
)
COLUMN_KEYS = tuple(c[0] for c in COLUMNS)

#: Column -> the service's sort key name (service.fleet.SORT_KEYS).
SORT_BY = {
    "status": "status",
    "fqdn": "fqdn",
    "progress": "progress",
    "watcher": "watcher",
    "last_event": "last_event",
    "elapsed": "started",
    "org": "org",
    "region": "region",
    "handover": "handover",
    "error": "error",
}
#: The order ``s`` cycles through.
SORT_CYCLE = ("attention",) + tuple(SORT_BY)


def _watcher_style(row: FleetRow) -> str:
    if row.watcher == WATCHER_STALE:
        return "bold yellow"
    if row.watcher == WATCHER_NONE:
        return "dim"
    if row.watcher.startswith("held by"):
        return "cyan"
    return {
        WatchPhase.WATCHING: "green",
        WatchPhase.CONNECTING: "cyan",
        WatchPhase.RECONNECTING: "bold yellow",
        WatchPhase.ERROR: "bold red",
        WatchPhase.DONE: "dim",
    }.get(row.watcher_phase, "")


def elapsed_seconds(row: FleetRow, now: datetime) -> float | None:
    start = row.started_at
    if start is None:
        return None
    end = row.finished_at or now
    return (end - start).total_seconds()


def render_time_cells(row: FleetRow, now: datetime) -> dict[str, Text]:
    last = ago(row.last_event_at, now)
    if row.watcher_phase in (WatchPhase.RECONNECTING, WatchPhase.ERROR) or row.stale:
        last_style = "yellow"
    else:
        last_style = "" if row.last_event_at else "dim"
    return {
        "last_event": Text(last, style=last_style, no_wrap=True),
        "elapsed": Text(duration(elapsed_seconds(row, now)), style="" if row.started_at else "dim", no_wrap=True),
    }


def render_cells(row: FleetRow, now: datetime, *, ascii_only: bool = False) -> dict[str, Text]:
    style = row.style
    glyph = style.ascii if ascii_only else style.glyph
    status = Text(no_wrap=True, overflow="ellipsis")
    status.append(glyph + " ", style=f"bold {style.colour}")
    status.append_text(safe(row.status, style.colour))
    if row.total:
        progress = Text(f"{row.installed:>2}/{row.total:<2} ", no_wrap=True)
        done = row.installed == row.total
        progress.append(bar(row.installed, row.total, 6, ascii_only=ascii_only), style="green" if done else "cyan")
    else:
        progress = Text("—", style="dim")
    watcher = safe(row.watcher, _watcher_style(row))
    if row.handover_fired_at:
        handover = Text(("+" if ascii_only else "✔") + " fired", style="green", no_wrap=True)
    elif row.status == statuses.READY:
        handover = Text("not fired", style="yellow", no_wrap=True)
    elif row.status == statuses.ADOPTED:
        handover = Text("adopted", style="magenta", no_wrap=True)
    else:
        handover = Text("—", style="dim")
    cells = {
        "status": status,
        "fqdn": safe(row.fqdn or "—", "bold" if row.fqdn else "dim"),
        "progress": progress,
        "watcher": watcher,
        "org": safe(row.org or "—", "" if row.org else "dim"),
        "region": safe(row.region or "—", "" if row.region else "dim"),
        "handover": handover,
        "error": safe(row.error, "red"),
    }
    cells.update(render_time_cells(row, now))
    return cells


def _same(a: Text, b: Text) -> bool:
    return a.plain == b.plain and a.spans == b.spans and a.style == b.style


class FleetTable(DataTable):
    """DataTable with in-place updates by record id."""

    DEFAULT_CSS = """
    FleetTable { height: 1fr; }
    """

    def __init__(self, *, ascii_only: bool = False, **kwargs) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, **kwargs)
        self.ascii_only = ascii_only
        self._cells: dict[str, dict[str, Text]] = {}
        self._rows: dict[str, FleetRow] = {}
        #: How many times the table was cleared (tests assert it stays 0 after mount).
        self.clear_count = 0
        #: Cell updates made by the last :meth:`sync` / :meth:`tick` (tests read it).
        self.last_cell_updates = 0

    def on_mount(self) -> None:
        for key, label, width in COLUMNS:
            self.add_column(label, key=key, width=width)

    def clear(self, columns: bool = False):  # type: ignore[override]
        self.clear_count += 1
        return super().clear(columns)

    # --- queries ---------------------------------------------------------------------------
    def keys_in_order(self) -> list[str]:
        return [str(rk.value) for rk in self._ordered_row_keys()]

    def _ordered_row_keys(self) -> list[RowKey]:
        return [self._row_locations.get_key(i) for i in range(len(self._row_locations))]

    def selected_id(self) -> str | None:
        if not self.row_count:
            return None
        try:
            row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        except Exception:  # noqa: BLE001 - no valid cursor
            return None
        return str(row_key.value) if row_key.value is not None else None

    def row_for(self, record_id: str) -> FleetRow | None:
        return self._rows.get(record_id)

    # --- updates ---------------------------------------------------------------------------
    def sync(
        self, rows: Iterable[FleetRow], now: datetime, *, changed: Iterable[str] | None = None, follow: bool = True
    ) -> None:
        """Make the table show ``rows`` in this order. ``changed`` limits the cell comparison to
        those ids (plus added ones); ``None`` compares every row. ``follow``: the cursor stays on
        its Sovereign when rows move (False while the dashboard starts: it stays on the top row)."""
        rows = list(rows)
        selected = self.selected_id()
        want = {r.id for r in rows}
        updates = 0
        for rid in [k for k in self._cells if k not in want]:
            self.remove_row(rid)
            del self._cells[rid]
            self._rows.pop(rid, None)
        check = None if changed is None else set(changed)
        for row in rows:
            if row.id not in self._cells:
                cells = render_cells(row, now, ascii_only=self.ascii_only)
                self.add_row(*(cells[k] for k in COLUMN_KEYS), key=row.id)
                self._cells[row.id] = cells
                self._rows[row.id] = row
                updates += len(cells)
            elif check is None or row.id in check:
                self._rows[row.id] = row
                updates += self._update_row(row, render_cells(row, now, ascii_only=self.ascii_only))
        self._reorder([r.id for r in rows])
        if not follow:
            if self.row_count and self.cursor_row != 0:
                self.move_cursor(row=0, animate=False)
        elif selected is not None and selected in self._cells:
            index = self.get_row_index(selected)
            if index != self.cursor_row:
                self.move_cursor(row=index, animate=False)
        self.last_cell_updates = updates

    def tick(self, now: datetime) -> None:
        """The clock moved: refresh the time columns only."""
        updates = 0
        for rid, row in self._rows.items():
            updates += self._update_row(row, render_time_cells(row, now))
        self.last_cell_updates = updates

    def _update_row(self, row: FleetRow, cells: dict[str, Text]) -> int:
        current = self._cells[row.id]
        n = 0
        for key, value in cells.items():
            if not _same(current[key], value):
                self.update_cell(row.id, key, value)
                current[key] = value
                n += 1
        return n

    def _reorder(self, order: list[str]) -> None:
        reorder_rows(self, order)


def reorder_rows(table: DataTable, order: list[str]) -> None:
    """Put the rows of ``table`` in ``order`` (row keys) without re-creating them.

    This is what ``DataTable.sort()`` does internally, with our order instead of a comparison of
    cell values (Textual is pinned, so the private attributes are stable for us).
    """
    current = [str(table._row_locations.get_key(i).value) for i in range(len(table._row_locations))]
    if current == order:
        return
    keys = {rk.value: rk for rk in table.rows}
    table._row_locations = TwoWayDict({keys[rid]: i for i, rid in enumerate(order)})
    table._update_count += 1
    table.refresh()
