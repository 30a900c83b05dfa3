"""The whole record as JSON, as catalyst-api would write it (credentials and handover tokens masked)."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static, TextArea

from ...domain.record import dumps_catalyst, redacted_record_dict
from ...service.text import sanitize
from ...store.base import StoreError
from ..text import safe
from .handover import mask_tokens

if TYPE_CHECKING:
    from ..app import CatalystApp


class JsonViewModal(ModalScreen[None]):
    BINDINGS = [Binding("escape", "close", "Close", id="dialog-cancel"), Binding("q", "close", "Close", show=False)]

    def __init__(self, record_id: str) -> None:
        super().__init__()
        self.record_id = record_id

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog -full", id="json-dialog"):
            yield Static(Text.assemble(("Record ", "bold"), safe(self.record_id, "bold"), " as JSON"), classes="dialog-title", id="json-title")
            yield Static(Text("Reading the record…", style="italic"), id="json-state")
            area = TextArea("", read_only=True, soft_wrap=False, show_line_numbers=True, id="json-text")
            area.display = False
            yield area
            with Horizontal(classes="dialog-buttons"):
                yield Button("Close (esc)", id="json-close", variant="primary")

    def on_mount(self) -> None:
        self.app.tune(self)  # type: ignore[attr-defined]
        self.load()

    @work(group="json-load", exclusive=True, exit_on_error=False)
    async def load(self) -> None:
        app = cast("CatalystApp", self.app)
        state = self.query_one("#json-state", Static)
        try:
            current = await app.store.get(self.record_id)
        except StoreError as exc:
            state.update(safe(str(exc), "bold red"))
            return
        # The text area shows text literally; sanitize still makes control characters visible.
        # No screen shows a credential: a hand-edited record may hold plaintext where catalyst-api
        # writes <redacted> (`catalyst-tui show --json` stays the byte-exact record).
        body = sanitize(mask_tokens(dumps_catalyst(redacted_record_dict(current.record))), keep_newlines=True)
        n = len(current.record.events or [])
        state.update(Text(f"version {current.version} · {n} events · credentials shown as <redacted>, "
                          "handover tokens as <hidden>", style="dim"))
        area = self.query_one("#json-text", TextArea)
        area.load_text(body)
        area.display = True
        area.focus()

    @on(Button.Pressed, "#json-close")
    def action_close(self) -> None:
        self.dismiss(None)
