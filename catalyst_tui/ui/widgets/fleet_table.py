"""The fleet table: one row per Sovereign, keyed by record id, rendered only where it is seen.

A fleet has thousands of rows; a terminal shows forty. Like Toolong's log view, this is a
``ScrollView`` with the line API: :meth:`FleetTable.sync` only records the rows and their order
(plain Python lists and dicts, no per-row widgets or ``Text`` objects), and :meth:`render_line`
builds the few lines on screen, with an LRU cache of rendered lines. Consequences:

* start-up costs what the rows cost, not what 100,000 measured cells cost (the DataTable this
  replaces measured every cell of every new row although every column has a known width);
* the one-second clock (:meth:`tick`) looks only at the rows in view and repaints a line only when
  its "updated … ago" / elapsed text actually changed; rows out of view are rendered with the
  current time when they scroll in;
* a changed row invalidates its own cached line, nothing else; the table is never cleared and
  rebuilt, so the cursor stays on its Sovereign and nothing flickers.

Column widths depend on the terminal width only (never on the data, so a live update never
shifts the columns): :func:`layout_columns` narrows the wide columns and drops the low-priority
ones on small terminals, and the Error column, last, takes the rest.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Iterable, Sequence

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual._two_way_dict import TwoWayDict
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ...domain import statuses
from ...kube.state import WatchPhase
from ...service.fleet import WATCHER_NONE, WATCHER_STALE, FleetRow
from .. import keymap
from ..text import ago, bar, duration, safe

if TYPE_CHECKING:
    from textual.widgets import DataTable  # the components table's; the fleet screen needs none


# --- columns and layout ------------------------------------------------------------------------

@dataclass(frozen=True)
class Column:
    key: str
    label: str
    #: Narrowest readable width, and the width it grows to when there is room.
    min: int
    ideal: int
    #: Dropped on narrow terminals in this order (1 first); 0 = never dropped.
    drop: int = 0


#: In the issue's order; the Error column is last and takes what the others leave.
COLUMNS: tuple[Column, ...] = (
    Column("status", "Status", 17, 20),           # "◐ phase1-watching"; "flux-bootstrapping" cut by one
    Column("fqdn", "FQDN", 18, 30),
    Column("org", "Org", 10, 24, drop=3),
    Column("region", "Region", 6, 6, drop=1),
    Column("progress", "Progress", 8, 12, drop=6),  # "11/11" and a bar as wide as the column allows
    Column("watcher", "Watcher", 12, 28, drop=7),   # "↻ <reason>" when "reconnecting: <reason>" does not fit
    Column("last_event", "Updated", 7, 10, drop=5),  # "4s ago"; "1h32m ago" or "1h ago" when narrow
    Column("elapsed", "Elapsed", 7, 7, drop=2),
    Column("handover", "Handover", 9, 9, drop=4),
    Column("error", "Error", 10, 10_000, drop=8),
)
COLUMN_KEYS = tuple(c.key for c in COLUMNS)
_BY_KEY = {c.key: c for c in COLUMNS}
#: One space before the first column, one between columns.
MARGIN = 1
GAP = 1
#: Where spare width goes, in this order: (column, up to width). The Error column gets the rest.
GROWTH: tuple[tuple[str, int], ...] = (
    ("fqdn", 20), ("error", 14), ("org", 13), ("watcher", 14), ("error", 30), ("fqdn", 24), ("watcher", 20),
    ("org", 18), ("status", 18), ("progress", 12), ("last_event", 10), ("fqdn", 30), ("watcher", 28),
    ("org", 24), ("status", 20),
)


def layout_columns(width: int) -> list[tuple[Column, int]]:
    """The columns shown at ``width`` cells, with their widths (pure; tested at 80 and 120)."""
    shown = list(COLUMNS)

    def need(cols: Sequence[Column]) -> int:
        return MARGIN + sum(c.min for c in cols) + GAP * (len(cols) - 1)

    while need(shown) > width:
        droppable = [c for c in shown if c.drop]
        if not droppable:
            break
        shown.remove(min(droppable, key=lambda c: c.drop))
    widths = {c.key: c.min for c in shown}
    spare = width - need(shown)
    for key, upto in GROWTH:
        if spare <= 0:
            break
        if key in widths and widths[key] < upto:
            add = min(spare, upto - widths[key], _BY_KEY[key].ideal - widths[key])
            widths[key] += add
            spare -= add
    if spare > 0:
        last = "error" if "error" in widths else shown[-1].key
        widths[last] += spare
    return [(c, widths[c.key]) for c in shown]


#: Column -> the service's sort key name (service.fleet.SORT_KEYS).
SORT_BY = {
    "status": "status",
    "fqdn": "fqdn",
    "org": "org",
    "region": "region",
    "progress": "progress",
    "watcher": "watcher",
    "last_event": "last_event",
    "elapsed": "started",
    "handover": "handover",
    "error": "error",
}
#: The order ``s`` cycles through.
SORT_CYCLE = ("attention",) + tuple(SORT_BY)


# --- cells -------------------------------------------------------------------------------------

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


def short_ago(then: datetime | None, now: datetime) -> str:
    """``45s ago``, ``12m ago``, ``3h ago``, ``4d ago``: the Updated column when it is narrow."""
    if then is None:
        return "—"
    s = max(0, int((now - then).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size:
            return f"{s // size}{unit} ago"
    return f"{s}s ago"


def time_strings(row: FleetRow, now: datetime) -> tuple[str, str]:
    """The two texts the clock moves: (updated … ago, elapsed)."""
    return ago(row.last_event_at, now), duration(elapsed_seconds(row, now))


def render_time_cells(row: FleetRow, now: datetime, *, strings: tuple[str, str] | None = None) -> dict[str, Text]:
    last, elapsed = strings if strings is not None else time_strings(row, now)
    if row.watcher_phase in (WatchPhase.RECONNECTING, WatchPhase.ERROR) or row.stale:
        last_style = "yellow"
    else:
        last_style = "" if row.last_event_at else "dim"
    return {
        "last_event": Text(last, style=last_style, no_wrap=True),
        "elapsed": Text(elapsed, style="" if row.started_at else "dim", no_wrap=True),
    }


def render_cells(row: FleetRow, now: datetime, *, ascii_only: bool = False, bar_width: int = 6) -> dict[str, Text]:
    """Every cell of ``row`` as it reads in full (what :meth:`FleetTable.get_cell` returns)."""
    style = row.style
    glyph = style.ascii if ascii_only else style.glyph
    status = Text(no_wrap=True, overflow="ellipsis")
    status.append(glyph + " ", style=f"bold {style.colour}")
    status.append_text(safe(row.status, style.colour))
    if row.total:
        progress = Text(f"{row.installed:>2}/{row.total:<2}", no_wrap=True)
        done = row.installed == row.total
        if bar_width >= 2:
            progress.append(" ")
            progress.append(bar(row.installed, row.total, bar_width, ascii_only=ascii_only), style="green" if done else "cyan")
        else:
            progress.stylize("green" if done else "")
    else:
        progress = Text("—", style="dim")
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
        "org": safe(row.org or "—", "" if row.org else "dim"),
        "region": safe(row.region or "—", "" if row.region else "dim"),
        "progress": progress,
        "watcher": safe(row.watcher, _watcher_style(row)),
        "handover": handover,
        "error": safe(row.error, "red"),
    }
    cells.update(render_time_cells(row, now))
    return cells


def fit_cell(key: str, cell: Text, row: FleetRow, now: datetime, width: int, *, ascii_only: bool = False) -> Text:
    """``cell`` for a column ``width`` wide: the compact form where the full one does not fit
    (so the start of a watcher's reason shows), then cut with an ellipsis and padded."""
    if cell.cell_len > width:
        if key == "watcher" and row.watcher_phase == WatchPhase.RECONNECTING and ": " in row.watcher:
            reason = row.watcher.split(": ", 1)[1]
            cell = safe(("~ " if ascii_only else "↻ ") + reason, _watcher_style(row))
        elif key == "last_event":
            cell = Text(short_ago(row.last_event_at, now), style=cell.style, no_wrap=True)
    if cell.cell_len != width:
        cell = cell.copy()
        cell.truncate(width, overflow="ellipsis", pad=True)
    return cell


# --- the widget --------------------------------------------------------------------------------

#: Rendered lines kept (a few screens of scrolling back and forth).
LINE_CACHE_SIZE = 1024


class FleetTable(ScrollView, can_focus=True):
    """The fleet: rows in the given order, a row cursor that stays on its Sovereign."""

    COMPONENT_CLASSES = {"fleet-table--header", "fleet-table--cursor"}

    DEFAULT_CSS = """
    FleetTable {
        background: $surface;
        color: $foreground;
        height: 1fr;
        &:focus {
            background-tint: $foreground 5%;
            & > .fleet-table--cursor {
                background: $block-cursor-background;
                color: $block-cursor-foreground;
                text-style: $block-cursor-text-style;
            }
            & > .fleet-table--header {
                background-tint: $foreground 5%;
            }
        }
        & > .fleet-table--header {
            text-style: bold;
            background: $panel;
            color: $foreground;
        }
        &:ansi > .fleet-table--header {
            background: ansi_bright_blue;
            color: ansi_default;
        }
        & > .fleet-table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
    }
    """

    BINDINGS = keymap.bindings("table")

    class RowSelected(Message):
        """A click on the highlighted row (enter is the screen's open-detail key)."""

        def __init__(self, table: "FleetTable", record_id: str) -> None:
            super().__init__()
            self.table = table
            self.record_id = record_id

        @property
        def control(self) -> "FleetTable":
            return self.table

    class RowHighlighted(Message):
        """The cursor moved to another Sovereign (or the one under it changed)."""

        def __init__(self, table: "FleetTable", record_id: str | None) -> None:
            super().__init__()
            self.table = table
            self.record_id = record_id

        @property
        def control(self) -> "FleetTable":
            return self.table

    class HeaderSelected(Message):
        """A click on a column header."""

        def __init__(self, table: "FleetTable", column_key: str) -> None:
            super().__init__()
            self.table = table
            self.column_key = column_key

        @property
        def control(self) -> "FleetTable":
            return self.table

    def __init__(self, *, ascii_only: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self.ascii_only = ascii_only
        self._order: list[str] = []
        self._index: dict[str, int] = {}
        self._rows: dict[str, FleetRow] = {}
        #: Bumped when a record's row changes: part of its cached line's key.
        self._version: dict[str, int] = {}
        self._now = datetime.now(timezone.utc)
        self._cursor = 0
        self._layout: list[tuple[Column, int]] = []
        self._layout_width = -1
        self._line_cache: OrderedDict[tuple, Strip] = OrderedDict()
        #: (record id, version, time strings) each visible line was last rendered with.
        self._shown: dict[int, tuple] = {}
        self._highlighted: str | None = None
        #: How many times the table was cleared: it never is (tests assert it stays 0).
        self.clear_count = 0
        #: Rows repainted by the last :meth:`sync` / :meth:`tick` (tests read them).
        self.last_cell_updates = 0
        self.last_changed: frozenset[str] = frozenset()

    # --- queries ---------------------------------------------------------------------------
    @property
    def row_count(self) -> int:
        return len(self._order)

    @property
    def cursor_row(self) -> int:
        return self._cursor

    def keys_in_order(self) -> list[str]:
        return list(self._order)

    def selected_id(self) -> str | None:
        return self._order[self._cursor] if self._order else None

    def row_for(self, record_id: str) -> FleetRow | None:
        return self._rows.get(record_id)

    def get_row_index(self, record_id: str) -> int:
        return self._index[record_id]

    def get_cell(self, record_id: str, column: str) -> Text:
        """The full text of a cell (what the row says, before it is fitted to its column)."""
        return render_cells(self._rows[record_id], self._now, ascii_only=self.ascii_only)[column]

    @property
    def columns(self) -> list[tuple[Column, int]]:
        """The columns on screen now, with their widths."""
        self._ensure_layout()
        return list(self._layout)

    def visible_range(self) -> range:
        """Indexes of the rows on screen (the header takes the first line)."""
        top = int(self.scroll_offset.y)
        return range(top, min(len(self._order), top + max(0, self.scrollable_content_region.height - 1)))

    # --- updates ---------------------------------------------------------------------------
    def sync(
        self, rows: Iterable[FleetRow], now: datetime, *, changed: Iterable[str] | None = None, follow: bool = True
    ) -> None:
        """Show ``rows`` in this order. ``changed`` names the ids whose row may differ (plus
        added ones); ``None`` compares every row. ``follow``: the cursor stays on its Sovereign
        when rows move (False while the dashboard starts: it stays on the top row)."""
        rows = rows if isinstance(rows, list) else list(rows)  # (read only here)
        selected = self.selected_id()
        self._now = now
        old_rows = self._rows
        order = [r.id for r in rows]
        new_rows = dict(zip(order, rows))
        touched: set[str] = set()
        if changed is None:
            candidates: Iterable[str] = new_rows
        else:
            # Only the named rows can differ, plus rows new to the table (set operations in C:
            # a flood changes ~200 of 10,000 rows per refresh).
            candidates = (new_rows.keys() - old_rows.keys()) | (set(changed) & new_rows.keys())
        for rid in candidates:
            row = new_rows[rid]
            old = old_rows.get(rid)
            if old is None or (old is not row and old != row):
                self._version[rid] = self._version.get(rid, 0) + 1
                touched.add(rid)
        for rid in old_rows.keys() - new_rows.keys():
            self._version.pop(rid, None)
        reordered = order != self._order
        self._rows = new_rows
        if reordered:
            self._order = order
            self._index = {rid: i for i, rid in enumerate(order)}
            self._set_virtual_size()
        if not follow:
            self._cursor = 0
        elif selected is not None and selected in self._index:
            self._cursor = self._index[selected]
        self._cursor = max(0, min(self._cursor, len(self._order) - 1))
        self.last_changed = frozenset(touched)
        if reordered:
            self.refresh()
            self.last_cell_updates = len(self.visible_range())
        else:
            self.last_cell_updates = self._repaint_visible(now)
        if self.selected_id() != self._highlighted or (self._highlighted in touched):
            self._post_highlighted()

    def tick(self, now: datetime) -> None:
        """The clock moved: repaint the rows in view whose time texts changed (rows out of view
        are rendered with the current time when they scroll in)."""
        self._now = now
        self.last_cell_updates = self._repaint_visible(now)

    def _repaint_visible(self, now: datetime) -> int:
        """Repaint the lines in view that no longer show what they would show now (another row,
        a new version of it, or other time texts). Returns how many."""
        n = 0
        top = int(self.scroll_offset.y)
        for i in self.visible_range():
            rid = self._order[i]
            shown = self._shown.get(i - top + 1)
            if (shown is None or shown[0] != rid or shown[1] != self._version.get(rid, 0)
                    or shown[2] != time_strings(self._rows[rid], now)):
                self.refresh_line(i + 1)
                n += 1
        return n

    def _set_virtual_size(self) -> None:
        self._ensure_layout()
        width = MARGIN + sum(w for _, w in self._layout) + GAP * (len(self._layout) - 1)
        self.virtual_size = Size(width, len(self._order) + 1)

    def _post_highlighted(self) -> None:
        self._highlighted = self.selected_id()
        self.post_message(self.RowHighlighted(self, self._highlighted))

    # --- cursor ------------------------------------------------------------------------------
    def move_cursor(self, *, row: int | None = None, animate: bool = False, scroll: bool = True) -> None:
        if row is None or not self._order:
            return
        row = max(0, min(row, len(self._order) - 1))
        old = self._cursor
        self._cursor = row
        if old != row:
            self.refresh_line(old + 1)
            self.refresh_line(row + 1)
        if scroll:
            self._scroll_cursor_into_view(animate=animate)
        if self.selected_id() != self._highlighted:
            self._post_highlighted()

    def refresh_line(self, y: int) -> None:
        """Repaint virtual line ``y`` (line 0 is the header, which does not scroll)."""
        if y == 0:
            self.refresh(Region(0, 0, self.size.width, 1))
            return
        top = int(self.scroll_offset.y)
        if top <= y - 1 < top + self.size.height - 1:
            self.refresh(Region(0, y - top, self.size.width, 1))

    def _scroll_cursor_into_view(self, animate: bool = False) -> None:
        body = max(1, self.scrollable_content_region.height - 1)
        top = int(self.scroll_offset.y)
        if self._cursor < top:
            self.scroll_to(y=self._cursor, animate=animate, force=True, immediate=True)
        elif self._cursor >= top + body:
            self.scroll_to(y=self._cursor - body + 1, animate=animate, force=True, immediate=True)

    def _page(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    def action_cursor_up(self) -> None:
        self.move_cursor(row=self._cursor - 1)

    def action_cursor_down(self) -> None:
        self.move_cursor(row=self._cursor + 1)

    def action_page_up(self) -> None:
        self.move_cursor(row=self._cursor - self._page())

    def action_page_down(self) -> None:
        self.move_cursor(row=self._cursor + self._page())

    def action_first_row(self) -> None:
        self.move_cursor(row=0)

    def action_last_row(self) -> None:
        self.move_cursor(row=len(self._order) - 1)

    async def _on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        if offset.y == 0:
            key = self._column_at(offset.x + int(self.scroll_offset.x))
            if key is not None:
                self.post_message(self.HeaderSelected(self, key))
            return
        index = int(self.scroll_offset.y) + offset.y - 1
        if 0 <= index < len(self._order):
            if index == self._cursor:
                self.post_message(self.RowSelected(self, self._order[index]))
            else:
                self.move_cursor(row=index)
            event.stop()

    def _column_at(self, x: int) -> str | None:
        self._ensure_layout()
        pos = MARGIN
        for col, width in self._layout:
            if pos <= x < pos + width + GAP:
                return col.key
            pos += width + GAP
        return None

    # --- rendering ---------------------------------------------------------------------------
    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._line_cache.clear()
        self._shown.clear()

    def _on_resize(self, event: events.Resize) -> None:
        self._ensure_layout()

    def _ensure_layout(self) -> None:
        width = self.scrollable_content_region.width
        if width <= 0:
            width = self.size.width
        if width != self._layout_width:
            self._layout_width = width
            self._layout = layout_columns(width)
            self._line_cache.clear()
            self._shown.clear()
            self._set_virtual_size()
            self.refresh()

    def render_line(self, y: int) -> Strip:
        self._ensure_layout()
        width = self.size.width
        scroll_x, scroll_y = int(self.scroll_offset.x), int(self.scroll_offset.y)
        base = self.rich_style
        if y == 0:
            strip = self._header_strip(base)
        else:
            index = scroll_y + y - 1
            if not 0 <= index < len(self._order):
                self._shown.pop(y, None)
                return Strip.blank(width, base)
            strip = self._row_strip(y, index, base)
        return strip.crop_extend(scroll_x, scroll_x + width, base)

    def _header_strip(self, base: Style) -> Strip:
        key = ("header", self._layout_width, base)
        strip = self._line_cache.get(key)
        if strip is None:
            style = base + self.get_component_rich_style("fleet-table--header")
            text = Text(" " * MARGIN, no_wrap=True)
            for i, (col, width) in enumerate(self._layout):
                if i:
                    text.append(" " * GAP)
                label = Text(col.label, no_wrap=True)
                label.truncate(width, overflow="ellipsis", pad=True)
                text.append_text(label)
            strip = Strip(Segment.apply_style(text.render(self.app.console), style), text.cell_len)
            self._cache(key, strip)
        return strip

    def _row_strip(self, y: int, index: int, base: Style) -> Strip:
        rid = self._order[index]
        row = self._rows[rid]
        times = time_strings(row, self._now)
        cursor = index == self._cursor
        version = self._version.get(rid, 0)
        self._shown[y] = (rid, version, times)
        key = (rid, version, times, cursor, self._layout_width, base)
        strip = self._line_cache.get(key)
        if strip is not None:
            self._line_cache.move_to_end(key)
            return strip
        cells = render_cells(row, self._now, ascii_only=self.ascii_only, bar_width=self._bar_width())
        cells.update(render_time_cells(row, self._now, strings=times))
        text = Text(" " * MARGIN, no_wrap=True)
        for i, (col, width) in enumerate(self._layout):
            if i:
                text.append(" " * GAP)
            text.append_text(fit_cell(col.key, cells[col.key], row, self._now, width, ascii_only=self.ascii_only))
        segments = list(text.render(self.app.console))
        if cursor:
            cursor_style = self.get_component_rich_style("fleet-table--cursor")
            post = Style.from_color(color=cursor_style.color) if cursor_style.color else None
            segments = list(Segment.apply_style(segments, base + cursor_style, post))
        else:
            segments = list(Segment.apply_style(segments, base))
        strip = Strip(segments, text.cell_len)
        self._cache(key, strip)
        return strip

    def _bar_width(self) -> int:
        for col, width in self._layout:
            if col.key == "progress":
                return width - 6  # "11/11 " before the bar
        return 0

    def _cache(self, key: tuple, strip: Strip) -> None:
        self._line_cache[key] = strip
        if len(self._line_cache) > LINE_CACHE_SIZE:
            self._line_cache.popitem(last=False)


def reorder_rows(table: "DataTable", order: list[str]) -> None:
    """Put the rows of a DataTable in ``order`` (row keys) without re-creating them (the
    components table; ``DataTable.sort()`` does this internally with a comparison instead)."""
    current = [str(table._row_locations.get_key(i).value) for i in range(len(table._row_locations))]
    if current == order:
        return
    keys = {rk.value: rk for rk in table.rows}
    table._row_locations = TwoWayDict({keys[rid]: i for i, rid in enumerate(order)})
    table._update_count += 1
    table.refresh()

