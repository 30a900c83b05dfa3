"""A yes/no confirmation and a message box (used for refusals)."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from ..keymap import ActionSpec
from ..text import safe


class ConfirmModal(ModalScreen[bool]):
    """``title``, a body, and [confirm] [Cancel]. ``y``/``enter`` confirm, ``n``/``escape`` cancel."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="dialog-cancel"),
        Binding("n", "cancel", "Cancel", show=False),
        Binding("y", "confirm", "Confirm", id="dialog-confirm"),
    ]

    def __init__(self, title: str, body: Text | str, *, confirm_label: str = "Confirm", danger: bool = False) -> None:
        super().__init__()
        self.title_text = title
        self.body = body if isinstance(body, Text) else Text(body)
        self.confirm_label = confirm_label
        self.danger = danger

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(Text(self.title_text, style="bold"), classes="dialog-title")
            yield Static(self.body, classes="dialog-body")
            with Horizontal(classes="dialog-buttons"):
                yield Button(f"{self.confirm_label} (y)", id="confirm", variant="error" if self.danger else "primary")
                yield Button("Cancel (n)", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#confirm", Button).focus()

    @on(Button.Pressed, "#confirm")
    def action_confirm(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(False)


class MessageModal(ModalScreen[None]):
    """A message with one [Close] button (escape / enter / q close it)."""

    BINDINGS = [Binding("escape", "close", "Close", id="dialog-cancel"), Binding("q", "close", "Close", show=False)]

    def __init__(self, title: str, body: Text | str, *, error: bool = False) -> None:
        super().__init__()
        self.title_text = title
        self.body = body if isinstance(body, Text) else Text(body)
        self.error = error

    @classmethod
    def read_only_refusal(cls, spec: ActionSpec, record_id: str) -> "MessageModal":
        body = Text.assemble(
            (spec.description, "bold"),
            " changes ",
            safe(record_id, "bold"),
            " and is audited, but this dashboard was started with ",
            ("--read-only", "bold"),
            ": the store is open for reading only and nothing was written.\n\n",
            "To do this, start catalyst-tui without --read-only (on a catalyst-api volume, only "
            "while catalyst-api is stopped, or use the catalyst-api HTTP API).",
        )
        return cls(f"Refused: read-only mode", body, error=True)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog -error" if self.error else "dialog"):
            yield Static(Text(self.title_text, style="bold"), classes="dialog-title")
            yield Static(self.body, classes="dialog-body")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Close", id="close", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#close", Button).focus()

    @on(Button.Pressed, "#close")
    def action_close(self) -> None:
        self.dismiss(None)
