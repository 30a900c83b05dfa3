"""The components of one Sovereign: state, Ready reason and message, last transition, dependsOn.

Rows are keyed by component id and updated in place. The first non-ready dependency of each
waiting component is marked ``▸`` in its dependsOn cell, and the component at the root of such a
chain (not installed, its own dependencies installed) is marked ``◀ blocking``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Sequence

from rich.text import Text
from textual.widgets import DataTable

from ...domain.record import parse_time
from ..detail_model import ComponentView, blockers
from ..text import ago, safe
from .fleet_table import reorder_rows

STATE_STYLE = {
    "installed": ("✔", "+", "green"),
    "installing": ("◔", "~", "cyan"),
    "pending": ("○", ".", "grey50"),
    "degraded": ("⚠", "!", "yellow"),
    "failed": ("✘", "x", "bold red"),
}

COLUMNS = (
    ("state", "State", 12),
    ("component", "Component", 28),
    ("depends", "Depends on", 24),
    ("transition", "Since", 11),
    ("reason", "Reason", 16),
    ("message", "Ready message", 80),
)
COLUMN_KEYS = tuple(c[0] for c in COLUMNS)


def render_component(
    view: ComponentView, *, first_dep: str | None, root: bool, states: dict[str, str], ascii_only: bool, now: datetime
) -> dict[str, Text]:
    glyph, ascii_glyph, colour = STATE_STYLE.get(view.state, ("?", "?", "magenta"))
    state = Text(no_wrap=True)
    state.append((ascii_glyph if ascii_only else glyph) + " ", style=f"bold {colour}")
    state.append_text(safe(view.state, colour))
    comp = safe(view.id, "bold")
    if root:
        # The root of a dependency chain: what the waiting components wait for. "blocking" when
        # it is stuck (failed / degraded), "awaited" while it is simply progressing.
        stuck = view.state in ("failed", "degraded")
        arrow = "◀" if not ascii_only else "<"
        comp = Text.assemble(comp, (f" {arrow} blocking", "bold reverse red") if stuck else (f" {arrow} awaited", "yellow"))
    depends = Text(no_wrap=True, overflow="ellipsis")
    for i, dep in enumerate(view.depends_on):
        if i:
            depends.append(", ")
        if dep == first_dep:
            depends.append("▸" if not ascii_only else ">", style="bold yellow")
            depends.append_text(safe(dep, "bold reverse yellow"))
        elif states.get(dep) == "installed":
            depends.append_text(safe(dep, "dim"))
        else:
            depends.append_text(safe(dep, "yellow"))
    if not view.depends_on:
        depends = Text("—", style="dim")
    changed = parse_time(view.last_transition) if view.last_transition else None
    transition = ago(changed, now) if changed is not None else "—"
    return {
        "state": state,
        "component": comp,
        "reason": safe(view.reason or "—", "" if view.reason else "dim"),
        "message": safe(view.message or "—", ("red" if view.state == "failed" else "") if view.message else "dim"),
        "transition": Text(transition.replace(" ago", ""), style="" if changed else "dim", no_wrap=True),
        "depends": depends,
    }


class ComponentsTable(DataTable):
    DEFAULT_CSS = """
    ComponentsTable { height: 1fr; }
    """

    def __init__(self, *, ascii_only: bool = False, **kwargs) -> None:
        super().__init__(cursor_type="row", **kwargs)
        self.ascii_only = ascii_only
        self._cells: dict[str, dict[str, Text]] = {}
        self.views: dict[str, ComponentView] = {}
        self.first_not_ready: dict[str, str] = {}
        self.roots: set[str] = set()

    def on_mount(self) -> None:
        for key, label, width in COLUMNS:
            self.add_column(label, key=key, width=width)

    def selected_component(self) -> str | None:
        if not self.row_count:
            return None
        row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        return str(row_key.value)

    def sync(self, views: Sequence[ComponentView], now: datetime) -> None:
        b = blockers(views)
        self.roots = b.roots
        self.first_not_ready = b.first_not_ready
        self.views = {v.id: v for v in views}
        states = {v.id: v.state for v in views}
        want = [v.id for v in views]
        for cid in [k for k in self._cells if k not in want]:
            self.remove_row(cid)
            del self._cells[cid]
        for view in views:
            cells = render_component(
                view, first_dep=b.first_not_ready.get(view.id), root=view.id in b.roots, states=states, ascii_only=self.ascii_only, now=now
            )
            if view.id not in self._cells:
                self.add_row(*(cells[k] for k in COLUMN_KEYS), key=view.id)
                self._cells[view.id] = cells
                continue
            current = self._cells[view.id]
            for key, value in cells.items():
                old = current[key]
                if old.plain != value.plain or old.spans != value.spans:
                    self.update_cell(view.id, key, value)
                    current[key] = value
        reorder_rows(self, want)
