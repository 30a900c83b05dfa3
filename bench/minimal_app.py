"""The start-up baseline: a minimal Textual app showing an empty DataTable (header + footer).

``python -m bench.minimal_app`` paints a table whose only column is labelled ``MinimalMarker``;
the start-up bench times process start until that label is on the terminal.
"""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets import DataTable, Footer, Header

MARKER = "MinimalMarker"


class MinimalApp(App[None]):
    BINDINGS = [("q", "quit", "Quit")]

    def compose(self) -> ComposeResult:
        yield Header()
        yield DataTable(id="table")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(DataTable).add_column(MARKER)


if __name__ == "__main__":
    MinimalApp().run()
