"""Every key, grouped by where it works, with the binding ids used in the config file."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from .. import keymap
from ..config import CONFIG_ENV, default_config_path
from ..widgets.bars import TitleBar


def help_table(keys: dict[str, str]) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(justify="right", no_wrap=True, min_width=8)
    table.add_column(no_wrap=True)
    table.add_column(ratio=1)
    for title, entries in keymap.group_for_help(keys):
        table.add_row("", "", "")
        table.add_row(Text(title, style="bold underline"), "", "")
        for key, spec in entries:
            mark = Text(" ✎", style="yellow") if spec.mutating else Text("")
            table.add_row(
                Text(key, style="bold cyan"),
                Text.assemble(spec.description, mark),
                Text.assemble(spec.help, (f"  [{spec.id}]", "dim")),
            )
    return table


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
                    "  (✎ changes a record or a watcher: confirmed in a dialog, audited, refused with --read-only)\n",
                    ("Remap any key by its id in ", "dim"),
                    (str(_config_hint()), "dim italic"),
                    ("  e.g.  [keymap]  handover = \"H\"", "dim"),
                )
            )
            yield Static(help_table(keys), id="help-table")
        yield Footer()


def _config_hint() -> str:
    import os

    if os.environ.get(CONFIG_ENV):
        return f"${CONFIG_ENV}"
    return "the config file (~/.config/catalyst-tui/config.toml or $" + CONFIG_ENV + ")"
