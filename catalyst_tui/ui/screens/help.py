"""Every key, grouped by where it works, with the binding ids used in the config file."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from .. import keymap
from ..config import CONFIG_ENV
from ..widgets.bars import TitleBar


def help_table(keys: dict[str, str]) -> Group:
    parts: list = []
    for title, entries in keymap.group_for_help(keys):
        parts.append(Text(""))
        parts.append(Text(title, style="bold underline"))
        table = Table.grid(padding=(0, 1))
        table.add_column(justify="right", no_wrap=True, min_width=8)
        table.add_column(no_wrap=True, width=1)
        table.add_column(no_wrap=True, min_width=13)
        table.add_column(ratio=1)
        table.add_column(no_wrap=True, width=16)
        for key, spec in entries:
            table.add_row(
                Text(key, style="bold cyan"),
                Text("✎", style="yellow") if spec.mutating else Text(" "),
                Text(spec.description),
                Text(spec.help),
                Text(spec.id, style="dim"),
            )
        parts.append(table)
    return Group(*parts)


class HelpScreen(Screen):
    SCOPE = "help"
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back", id="back"),
        Binding("question_mark", "app.pop_screen", "Back", show=False, key_display="?"),
    ]

    def compose(self) -> ComposeResult:
        keys = dict(getattr(self.app, "config").keymap)
        yield TitleBar("Help")
        with VerticalScroll(id="help-body"):
            yield Static(
                Text.assemble(
                    ("Keys", "bold"),
                    "   ✎ changes a record or a watcher: confirmed in a dialog, audited, refused with --read-only\n",
                    ("Remap a key by the id in the last column, in ", "dim"),
                    (str(_config_hint()), "dim italic"),
                    (":  [keymap]  handover = \"H\"", "dim"),
                )
            )
            yield Static(help_table(keys), id="help-table")
        yield Footer()


def _config_hint() -> str:
    import os

    if os.environ.get(CONFIG_ENV):
        return f"${CONFIG_ENV}"
    return "the config file (~/.config/catalyst-tui/config.toml or $" + CONFIG_ENV + ")"
