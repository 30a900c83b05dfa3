"""Handover: check the preconditions, confirm, mint, show the URL once and copy it (OSC 52).

The URL carries a bearer token (valid 5 minutes, usable once). It is shown in this dialog only,
never in a toast, the event log or the audit log, and it is gone when the dialog closes.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, cast

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static, TextArea

from ...domain import statuses
from ...domain.components import current_states
from ...domain.record import Record, parse_time
from ...handover.fire import fired_at, handover_preconditions, owner_email
from ...store.base import Conflict, StoreError
from ..text import safe, short_time

if TYPE_CHECKING:
    from ..app import CatalystApp

_TOKEN = re.compile(r"(token=)[^&\s\"']+")


def mask_tokens(text: str) -> str:
    """Hide handover tokens in any text (event messages, the JSON view)."""
    return _TOKEN.sub(r"\1<hidden>", text)


class HandoverModal(ModalScreen[Any]):
    BINDINGS = [
        Binding("escape", "cancel", "Close", id="dialog-cancel"),
        Binding("ctrl+s", "submit", "Issue", id="dialog-submit"),
        Binding("c", "copy", "Copy again", show=False),
    ]

    def __init__(self, record_id: str) -> None:
        super().__init__()
        self.record_id = record_id
        self.record: Record | None = None
        self.version: str | None = None
        self.problems: list[str] = []
        self.url: str | None = None
        self.busy = False

    @property
    def capp(self) -> "CatalystApp":
        return cast("CatalystApp", self.app)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog -wide", id="handover-dialog"):
            yield Static(Text.assemble(("Handover of ", "bold"), safe(self.record_id, "bold")), classes="dialog-title", id="handover-title")
            yield Static(Text("Checking the preconditions…", style="italic"), id="handover-checks", classes="dialog-body")
            yield Static(id="handover-outcome", classes="dialog-body")
            url = TextArea("", read_only=True, soft_wrap=True, id="handover-url", show_line_numbers=False)
            url.display = False
            yield url
            with Horizontal(classes="dialog-buttons"):
                yield Button("Issue handover URL (ctrl+s)", id="handover-issue", variant="primary", disabled=True)
                yield Button("Close (esc)", id="handover-close")

    def on_mount(self) -> None:
        self.app.tune(self)  # type: ignore[attr-defined]
        self.load()

    @work(group="handover-load", exclusive=True, exit_on_error=False)
    async def load(self) -> None:
        checks = self.query_one("#handover-checks", Static)
        try:
            current = await self.capp.store.get(self.record_id)
        except StoreError as exc:
            checks.update(safe(str(exc), "bold red"))
            return
        rec = self.record = current.record
        self.version = current.version
        title = Text.assemble(("Handover of ", "bold"), safe(rec.fqdn or rec.id, "bold"))
        self.query_one("#handover-title", Static).update(title)
        self.problems = handover_preconditions(rec)
        ok_mark, bad_mark = ("+", "x") if self.capp.config.ascii else ("✔", "✘")
        text = Text()
        states = current_states(
            rec.result.model_dump() if rec.result is not None else None, [e.model_dump() for e in rec.event_list()]
        )
        installed = sum(1 for s in states.values() if s == "installed")
        status_ok = rec.status in (statuses.READY, statuses.ADOPTED)
        comps_ok = rec.status == statuses.ADOPTED or (bool(states) and installed == len(states))
        lines = [
            (status_ok, Text.assemble("status ", safe(rec.status, "bold"))),
            (comps_ok, Text(f"components installed: {installed}/{len(states)}")),
            (bool(rec.fqdn), Text.assemble("FQDN ", safe(rec.fqdn or "(none)", "bold"))),
            (bool(owner_email(rec)), Text.assemble("owner email ", safe(owner_email(rec) or "(none)", "bold"))),
        ]
        for ok, line in lines:
            text.append(f" {ok_mark if ok else bad_mark} ", style="bold green" if ok else "bold red")
            text.append_text(line)
            text.append("\n")
        previous = fired_at(rec)
        button = self.query_one("#handover-issue", Button)
        if self.problems:
            text.append("Handover is not possible: ", style="bold red")
            text.append_text(safe("; ".join(self.problems)))
            button.disabled = True
            button.display = False
        else:
            if previous:
                text.append_text(
                    Text.assemble(
                        ("A handover already fired at ", "yellow"), safe(short_time(parse_time(previous)), "bold yellow"),
                        (". Its token expired 5 minutes after minting; reissuing mints a fresh URL.", "yellow"),
                    )
                )
                button.label = "Reissue handover URL (ctrl+s)"
            else:
                text.append("Issuing mints a one-time URL (valid 5 minutes) and records it on the Sovereign.")
            text.append("\nThe URL is shown once here and copied to your clipboard; it is not kept in this dashboard.", style="dim")
            button.disabled = False
            button.focus()
        checks.update(text)

    def action_submit(self) -> None:
        button = self.query_one("#handover-issue", Button)
        if not self.busy and not button.disabled and button.display:
            self.issue()

    @on(Button.Pressed, "#handover-issue")
    def _issue_pressed(self) -> None:
        self.action_submit()

    @work(group="handover-issue", exclusive=True, exit_on_error=False)
    async def issue(self) -> None:
        from ...service import actions

        app = self.capp
        outcome = self.query_one("#handover-outcome", Static)
        button = self.query_one("#handover-issue", Button)
        if app.signer is None:
            outcome.update(Text("No handover signing key is configured in this dashboard.", style="bold red"))
            return
        self.busy = True
        try:
            result = await actions.handover(
                app.store, self.record_id, app.signer, operator=app.operator, read_only=app.read_only,
                reissue=fired_at(self.record) is not None if self.record is not None else False,
                now=app.now(), expected_version=self.version,
            )
        except Conflict as exc:
            button.disabled = True
            outcome.update(Text.assemble(("Conflict: nothing was written.\n", "bold red"), safe(str(exc)),
                                         "\nClose and open the handover again to see the record as it is now."))
            return
        except Exception as exc:  # noqa: BLE001 - StoreError, Refused, a key error: one line, nothing written
            outcome.update(Text.assemble(("Not issued: ", "bold red"), safe(str(exc))))
            return
        finally:
            self.busy = False
        self.url = result.url
        app.copy_to_clipboard(result.url)
        button.disabled = True
        button.display = False
        area = self.query_one("#handover-url", TextArea)
        area.load_text(result.url)
        area.display = True
        notes = "".join(f"\n{n}" for n in result.notes)
        outcome.update(
            Text.assemble(
                ("Handover URL issued" + (" (reissued)" if result.reissued else "") + " and copied to the clipboard", "bold green"),
                " (OSC 52: works over ssh; inside tmux it needs set-clipboard on).\n",
                "Valid until ", (short_time(parse_time(result.expires_at)), "bold"),
                ", usable once. Shown only here: press c to copy it again.",
                safe(notes),
            )
        )
        self.query_one("#handover-close", Button).focus()

    def action_copy(self) -> None:
        if self.url:
            self.capp.copy_to_clipboard(self.url)
            self.capp.notify("Copied again.", timeout=2)

    @on(Button.Pressed, "#handover-close")
    def action_cancel(self) -> None:
        self.url = None
        self.dismiss(True if self.query_one("#handover-url", TextArea).display else None)
