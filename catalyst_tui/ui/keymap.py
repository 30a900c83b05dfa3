"""Every key of the dashboard in one table: bindings, the help screen and the command palette all
read it, so they never disagree.

Each binding has an ``id``; a ``[keymap]`` table in the config file maps ids to other keys
(``handover = "H"``) and the app applies it with :meth:`App.set_keymap`, as Posting does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

from textual.binding import Binding

#: Where a binding lives. "app" bindings work on every screen.
SCOPES = ("app", "fleet", "table", "detail", "audit", "dialog")
SCOPE_TITLES = {
    "app": "Everywhere",
    "fleet": "Fleet",
    "table": "Fleet table (moving)",
    "detail": "Sovereign detail",
    "audit": "Audit log",
    "dialog": "Dialogs",
}


@dataclass(frozen=True)
class ActionSpec:
    id: str
    key: str
    action: str
    #: Short text for the footer.
    description: str
    #: One sentence for the help screen and the command palette.
    help: str
    scope: str
    #: Changes the store or the watchers: confirmed, audited, refused in --read-only.
    mutating: bool = False
    show: bool = True
    priority: bool = False
    key_display: str | None = None

    def binding(self, key: str | None = None) -> Binding:
        return Binding(
            key or self.key,
            self.action,
            self.description,
            show=self.show,
            priority=self.priority,
            key_display=self.key_display,
            id=self.id,
        )


_RECORD_ACTIONS = (
    # (id, key, action, footer, help, mutating, show)
    ("handover", "h", "handover", "Handover", "Issue or reissue the handover URL of a ready Sovereign (shown once, copied with OSC 52).", True, True),
    ("patch-status", "p", "patch_status", "Patch status", "Set the record's status by hand, with a reason; shows before/after and consequences first.", True, True),
    ("reattach", "w", "reattach", "Reattach", "Start (or restart) the Phase-1 watcher of this Sovereign.", True, True),
    ("stop-watcher", "x", "stop_watcher", "Stop watcher", "Stop this Sovereign's Phase-1 watcher (the record is left as it is).", True, False),
    ("take-over", "t", "take_over", "Take over", "Become the writer of this Sovereign's progress (directory store: catalyst-api must be stopped).", True, False),
    ("view-json", "y", "view_json", "JSON", "View the whole record as JSON (the handover token is masked).", False, True),
)

ACTIONS: tuple[ActionSpec, ...] = (
    ActionSpec("quit", "q", "app.quit", "Quit", "Leave the dashboard (watchers this process started are stopped).", "app"),
    ActionSpec("help", "question_mark", "app.help", "Help", "Show every key.", "app", key_display="?"),
    ActionSpec("audit", "a", "app.audit", "Audit", "Show the audit log of every operator action.", "app"),
    ActionSpec("command-palette", "ctrl+p", "app.command_palette", "Commands", "Open the command palette: every action by name.", "app", show=False, priority=True),
    ActionSpec("refresh", "r", "app.refresh_fleet", "Refresh", "Re-read the store now (it is also polled every second).", "app", show=False),
    # fleet
    ActionSpec("open-detail", "enter", "open_detail", "Open", "Open the selected Sovereign.", "fleet"),
    # priority: run before the next key is dispatched, so "/cedar" typed in one go lands in the filter
    ActionSpec("filter", "slash", "filter", "Filter", "Filter the fleet by text (id, status, FQDN, org, region, error).", "fleet",
               key_display="/", priority=True),
    ActionSpec("clear-filter", "escape", "clear_filter", "Clear filter", "Clear the text filter.", "fleet", show=False),
    ActionSpec("attention", "f", "toggle_attention", "Faults", "Show only what needs attention (failed, stale, reconnecting) or everything.", "fleet"),
    ActionSpec("sort", "s", "cycle_sort", "Sort", "Sort by the next column (attention, status, FQDN, ...).", "fleet"),
    ActionSpec("sort-reverse", "S", "reverse_sort", "Reverse", "Reverse the sort order.", "fleet", show=False),
    *(ActionSpec(i, k, a, d, h, "fleet", mutating=m, show=sh) for i, k, a, d, h, m, sh in _RECORD_ACTIONS),
    # the fleet table's cursor (remappable like the rest, e.g. row-down = "j")
    ActionSpec("row-up", "up", "cursor_up", "Up", "Move the cursor to the row above.", "table", show=False),
    ActionSpec("row-down", "down", "cursor_down", "Down", "Move the cursor to the row below.", "table", show=False),
    ActionSpec("page-up", "pageup", "page_up", "Page up", "Move the cursor one screen up.", "table", show=False),
    ActionSpec("page-down", "pagedown", "page_down", "Page down", "Move the cursor one screen down.", "table", show=False),
    ActionSpec("first-row", "home", "first_row", "First", "Move the cursor to the first row.", "table", show=False),
    ActionSpec("last-row", "end", "last_row", "Last", "Move the cursor to the last row.", "table", show=False),
    ActionSpec("scroll-left", "left", "scroll_left", "Left", "Scroll the columns left (terminals too narrow for them).", "table", show=False),
    ActionSpec("scroll-right", "right", "scroll_right", "Right", "Scroll the columns right.", "table", show=False),
    # detail
    ActionSpec("back", "escape", "back", "Back", "Back to the fleet.", "detail"),
    # The same ids as on the fleet: one keymap entry remaps the action on both screens.
    *(ActionSpec(i, k, a, d, h, "detail", mutating=m, show=sh) for i, k, a, d, h, m, sh in _RECORD_ACTIONS),
    ActionSpec("events-phase", "P", "cycle_phase", "Phase", "Event log: filter by the next phase (or all).", "detail", show=False),
    ActionSpec("events-level", "L", "cycle_level", "Level", "Event log: filter by level (all, warn and above, error).", "detail", show=False),
    ActionSpec("events-component", "C", "cycle_component", "Component", "Event log: filter by the next component (enter on a component selects it).", "detail", show=False),
    ActionSpec("events-fold", "F", "toggle_fold", "Fold logs", "Event log: fold or unfold helm-controller log lines (component-log).", "detail", show=False),
    ActionSpec("zoom", "z", "zoom", "Zoom", "Maximize the focused panel (components or events; tab moves focus) or restore it.", "detail"),
    ActionSpec("detail-audit", "A", "record_audit", "Record audit", "Show the audit log of this Sovereign only.", "detail", show=False),
    # audit
    ActionSpec("back", "escape", "back", "Back", "Back to the previous screen.", "audit"),
    # dialogs (confirmations, the patch and handover dialogs, messages)
    ActionSpec("dialog-confirm", "y", "confirm", "Confirm", "Confirm the dialog's action (also its highlighted button with enter).", "dialog"),
    ActionSpec("dialog-submit", "ctrl+s", "submit", "Apply", "Patch / handover dialogs: apply (after reviewing before/after and consequences).", "dialog"),
    ActionSpec("dialog-cancel", "escape", "cancel", "Cancel", "Close the dialog without doing anything.", "dialog"),
)


def specs(scope: str) -> list[ActionSpec]:
    return [a for a in ACTIONS if a.scope == scope]


def bindings(scope: str) -> list[Binding]:
    return [a.binding() for a in specs(scope)]


def by_id(binding_id: str) -> ActionSpec:
    for a in ACTIONS:
        if a.id == binding_id:
            return a
    raise KeyError(binding_id)


def known_ids() -> set[str]:
    return {a.id for a in ACTIONS}


def effective_key(spec: ActionSpec, keymap: Mapping[str, str]) -> str:
    return keymap.get(spec.id, spec.key)


def display_key(key: str) -> str:
    """``question_mark`` -> ``?``, ``ctrl+p`` -> ``^p``, comma lists kept."""
    from textual.keys import format_key

    parts = []
    for k in key.split(","):
        k = k.strip()
        parts.append(format_key(k))
    return " ".join(parts)


def group_for_help(keymap: Mapping[str, str]) -> Iterable[tuple[str, list[tuple[str, ActionSpec]]]]:
    for scope in SCOPES:
        yield SCOPE_TITLES[scope], [(display_key(effective_key(a, keymap)), a) for a in specs(scope)]
