"""Manual status patch: target, reason, before/after, consequences, then one explicit confirm.

The record is read once when the dialog opens; the patch is written only if the record is still
at that version. If it changed underneath (catalyst-api, a watcher, another operator), the dialog
shows the conflict and what the record says now, and nothing is written.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Select, Static

from ...domain import statuses
from ...domain.record import Record
from ...service import actions
from ...service.fleet import status_style
from ...service.text import sanitize
from ...store.base import Conflict, StoreError
from ..text import safe
from ..widgets.safe_input import SafeInput

if TYPE_CHECKING:
    from ..app import CatalystApp


def status_text(status: str, *, ascii_only: bool = False) -> Text:
    st = status_style(status)
    return Text.assemble(((st.ascii if ascii_only else st.glyph) + " ", f"bold {st.colour}"), safe(status, f"bold {st.colour}"))


def not_installed_warning(record: Record) -> list[str]:
    """``ready`` with components that are not installed: the record would say more than the cluster."""
    from ...domain.components import current_states

    states = current_states(
        record.result.model_dump() if record.result is not None else None, [e.model_dump() for e in record.event_list()]
    )
    pending = sorted(c for c, s in states.items() if s != "installed")
    if not states:
        return ["no component states are recorded: nothing shows the Sovereign is installed"]
    if pending:
        shown = ", ".join(pending[:4]) + (", …" if len(pending) > 4 else "")
        return [f"{len(pending)} of {len(states)} components are not installed ({shown}): the handover checks will refuse it"]
    return []


class PatchStatusModal(ModalScreen[Any]):
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="dialog-cancel"),
        Binding("ctrl+s", "submit", "Patch", id="dialog-submit"),
    ]

    def __init__(self, record_id: str) -> None:
        super().__init__()
        self.record_id = record_id
        self.before: Record | None = None
        self.version: str | None = None
        self.conflicted = False
        self.busy = False

    @property
    def capp(self) -> "CatalystApp":
        return cast("CatalystApp", self.app)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog -wide", id="patch-dialog"):
            yield Static(Text.assemble(("Patch status of ", "bold"), safe(self.record_id, "bold")), classes="dialog-title", id="patch-title")
            yield Static(Text("Reading the record…", style="italic"), id="patch-current")
            yield Static(Text.assemble(("Target status", "bold"), " " * 20, ("Reason", "bold"), " (required; written to the audit log with your name)"), classes="field-labels")
            with Horizontal(classes="fields"):
                yield Select([(s, s) for s in statuses.KNOWN_STATUSES], prompt="choose", id="patch-target", allow_blank=True)
                yield SafeInput(placeholder="why this patch is right", id="patch-reason", max_length=actions.MAX_REASON_LEN)
            yield Static(id="patch-preview", classes="dialog-body")
            yield Static(id="patch-outcome", classes="dialog-body")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Patch (ctrl+s)", id="patch-apply", variant="warning", disabled=True)
                yield Button("Reload", id="patch-reload", disabled=True)
                yield Button("Cancel (esc)", id="patch-cancel")

    def on_mount(self) -> None:
        self.app.tune(self)  # type: ignore[attr-defined]
        self.load()

    # --- reading -----------------------------------------------------------------------------
    @work(group="patch-load", exclusive=True, exit_on_error=False)
    async def load(self) -> None:
        try:
            current = await self.capp.store.get(self.record_id)
        except StoreError as exc:
            self.query_one("#patch-current", Static).update(safe(str(exc), "bold red"))
            return
        first = self.before is None
        self.before, self.version = current.record, current.version
        self.conflicted = False
        rec = current.record
        title = Text.assemble(("Patch status of ", "bold"), safe(rec.fqdn or rec.id, "bold"))
        if rec.fqdn:
            title.append_text(Text.assemble(" (", safe(rec.id), ")"))
        self.query_one("#patch-title", Static).update(title)
        self.query_one("#patch-current", Static).update(
            Text.assemble("Current status: ", status_text(rec.status, ascii_only=self.capp.config.ascii), f"   (record version {current.version})")
        )
        select = self.query_one("#patch-target", Select)
        previous = None if first else self.target()
        select.set_options([(s, s) for s in statuses.KNOWN_STATUSES if s != rec.status])
        if previous is not None and previous != rec.status:
            select.value = previous
        elif first and rec.status != statuses.READY:
            select.value = statuses.READY
        self.remove_class("-conflict")
        self.query_one("#patch-outcome", Static).update("")
        self.query_one("#patch-reload", Button).disabled = True
        self.query_one("#patch-apply", Button).disabled = False
        if first:
            self.query_one("#patch-reason", Input).focus()
        self.update_preview()

    # --- preview -----------------------------------------------------------------------------
    def target(self) -> str | None:
        value = self.query_one("#patch-target", Select).value
        return value if isinstance(value, str) else None

    def reason(self) -> str:
        return actions.clean_reason(self.query_one("#patch-reason", Input).value)

    @on(Select.Changed, "#patch-target")
    @on(Input.Changed, "#patch-reason")
    def update_preview(self) -> None:
        preview = self.query_one("#patch-preview", Static)
        if self.before is None:
            return
        target = self.target()
        ascii_only = self.capp.config.ascii
        text = Text()
        text.append("Before  ", style="bold")
        text.append_text(status_text(self.before.status, ascii_only=ascii_only))
        text.append("\nAfter   ", style="bold")
        if target is None:
            text.append("choose a target status", style="italic")
            preview.update(text)
            return
        text.append_text(status_text(target, ascii_only=ascii_only))
        reason = self.reason()
        text.append("\n        + one operator event and an audit entry: ", style="dim")
        text.append_text(safe(f"{self.capp.operator}: {reason}" if reason else "(type a reason)", "dim"))
        after = self.before.model_copy(deep=True)
        after.status = target
        warnings, _ = actions.patch_consequences(
            self.capp.store, after, kubeconfigs_dir=self.capp.kubeconfigs_dir, stat=self.capp.stat
        )
        if target == statuses.READY:
            warnings = warnings + not_installed_warning(self.before)
        if warnings:
            text.append("\nConsequences", style="bold yellow")
            for w in warnings:
                text.append("\n ⚠ " if not ascii_only else "\n ! ", style="bold yellow")
                text.append_text(safe(w))
        else:
            text.append("\nConsequences: none known", style="green")
        preview.update(text)

    # --- writing -----------------------------------------------------------------------------
    def action_submit(self) -> None:
        if not self.busy and not self.conflicted and self.before is not None:
            self.apply()

    @on(Button.Pressed, "#patch-apply")
    def _apply_pressed(self) -> None:
        self.action_submit()

    @on(Input.Submitted, "#patch-reason")
    def _reason_submitted(self) -> None:
        self.action_submit()

    @on(Button.Pressed, "#patch-reload")
    def _reload(self) -> None:
        self.load()

    @work(group="patch-apply", exclusive=True, exit_on_error=False)
    async def apply(self) -> None:
        outcome = self.query_one("#patch-outcome", Static)
        target, reason = self.target(), self.reason()
        if target is None:
            outcome.update(Text("Choose a target status first.", style="bold red"))
            return
        if not reason:
            outcome.update(Text("Type a reason: it goes to the audit log with your name.", style="bold red"))
            self.query_one("#patch-reason", Input).focus()
            return
        app = self.capp
        self.busy = True
        try:
            result = await actions.patch_status(
                app.store, self.record_id, target, reason,
                operator=app.operator, read_only=app.read_only, expected_version=self.version,
                now=app.now(), kubeconfigs_dir=app.kubeconfigs_dir,
            )
        except Conflict as exc:
            self.show_conflict(str(exc))
            await self.show_current_after_conflict()
            return
        except StoreError as exc:
            outcome.update(Text.assemble(("Not written: ", "bold red"), safe(str(exc))))
            return
        finally:
            self.busy = False
        # A toast is drawn as is (markup=False only stops markup): the id and the statuses are data.
        app.notify(
            f"{sanitize(self.record_id)}: status {sanitize(result.before.status)} → {sanitize(result.after.status)} (audited)",
            title="Status patched", markup=False, timeout=5,
        )
        self.dismiss(result)

    def show_conflict(self, message: str) -> None:
        self.conflicted = True
        self.add_class("-conflict")
        self.query_one("#patch-apply", Button).disabled = True
        self.query_one("#patch-reload", Button).disabled = False
        self.query_one("#patch-outcome", Static).update(
            Text.assemble(
                ("Conflict: nothing was written.\n", "bold red"),
                safe(message),
                "\nThe record changed after this dialog read it. Reload to see it as it is now, then decide again.",
            )
        )

    async def show_current_after_conflict(self) -> None:
        try:
            now = await self.capp.store.get(self.record_id)
        except StoreError:
            return
        self.query_one("#patch-current", Static).update(
            Text.assemble(
                "Read at open: ", status_text(self.before.status if self.before else "?", ascii_only=self.capp.config.ascii),
                f" (version {self.version})   now: ",
                status_text(now.record.status, ascii_only=self.capp.config.ascii), f" (version {now.version})",
            )
        )

    @on(Button.Pressed, "#patch-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
