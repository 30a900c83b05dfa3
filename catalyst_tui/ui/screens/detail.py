"""One Sovereign: the record (never a secret), the restart decision, components, the event log."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from ...domain import statuses
from ...domain.record import Record, parse_time
from ...domain.restart import resume_decision
from ...kube.state import WatcherStatus
from ...service.fleet import status_style
from ...service.text import first_line
from ...store.base import RecordNotFound, StoreError
from .. import keymap
from ..detail_model import LEVEL_FILTERS, EventFilter, component_views, components_in, phases_in
from ..messages import FleetChanged
from ..text import ago, bar, duration, safe, short_time, text_key, truncate, update_if_changed
from ..widgets.bars import StatePanel, TitleBar
from ..widgets.components_table import ComponentsTable
from ..widgets.event_log import EventLog
from .common import CoalescedLoads, RecordActions

if TYPE_CHECKING:
    from ..app import CatalystApp


def _cycle(options: list, current):  # noqa: ANN001, ANN202
    values = [None, *options]
    try:
        i = values.index(current)
    except ValueError:
        i = 0
    return values[(i + 1) % len(values)]


class DetailScreen(CoalescedLoads, RecordActions, Screen):
    SCOPE = "detail"
    BINDINGS = keymap.bindings("detail")
    AUTO_FOCUS = "#components"

    def __init__(self, record_id: str) -> None:
        super().__init__()
        self.record_id = record_id
        self.record: Record | None = None
        self.version: str | None = None
        self.error: str | None = None
        self._watcher_sig: object = None

    @property
    def capp(self) -> "CatalystApp":
        return cast("CatalystApp", self.app)

    def current_record_id(self) -> str | None:
        return self.record_id

    def compose(self) -> ComposeResult:
        row = self.capp.fleet.rows.get(self.record_id)
        yield TitleBar(f"Sovereign {row.fqdn or self.record_id}" if row else f"Sovereign {self.record_id}", id="detail-title")
        yield StatePanel(id="detail-state")
        yield Static(id="summary")
        yield Static(id="components-head", classes="section-head")
        yield StatePanel(id="components-state")
        yield ComponentsTable(ascii_only=self.capp.config.ascii, id="components")
        yield Static(id="component-detail")
        yield Static(id="events-head", classes="section-head")
        yield StatePanel(id="events-state")
        yield EventLog(id="events")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#detail-state", StatePanel).show_loading(f"record {self.record_id}")
        for wid in ("#summary", "#components-head", "#components", "#component-detail", "#events-head", "#events"):
            self.query_one(wid).display = False
        self.request_load()

    # --- data --------------------------------------------------------------------------------
    async def _load(self) -> None:
        state = self.query_one("#detail-state", StatePanel)
        try:
            current = await self.capp.store.get(self.record_id)
        except RecordNotFound:
            self.error = "gone"
            state.show_error(Text.assemble(safe(self.record_id, "bold"), " is no longer in the store (deleted or replaced). Press escape to go back."))
            return
        except Exception as exc:  # noqa: BLE001 - StoreError, an undecodable record...: said, not raised
            self.error = str(exc) if isinstance(exc, StoreError) else f"{type(exc).__name__}: {exc}"
            state.show_error(Text.assemble(("Cannot read this record: ", "bold"), safe(self.error), "\nRetrying on the next change."),
                             banner=self.record is not None)
            return
        self.error = None
        state.hide()
        first = self.record is None
        self.record, self.version = current.record, current.version
        for wid in ("#summary", "#components-head", "#events-head"):
            self.query_one(wid).display = True
        self.render_all(first=first)

    def watcher(self) -> WatcherStatus | None:
        return self.capp.fleet.watchers().get(self.record_id)

    @on(FleetChanged)
    def _fleet_changed(self, message: FleetChanged) -> None:
        delta = message.delta
        row = self.capp.fleet.rows.get(self.record_id)
        if self.record_id in delta.removed:
            self.request_load()
        elif row is not None and row.version != self.version:
            self.request_load()
        elif self.record is not None:
            self.render_summary()
            self.render_components()

    def render_all(self, *, first: bool = False) -> None:
        self.render_summary()
        self.render_components()
        self.render_events(first=first)

    # --- summary -----------------------------------------------------------------------------
    def render_summary(self) -> None:
        rec = self.record
        if rec is None:
            return
        app = self.capp
        now = app.now()
        watcher = self.watcher()
        row = app.fleet.rows.get(rec.id)
        ascii_only = app.config.ascii
        stale = bool(row.stale) if row is not None else False
        st = status_style(rec.status, stale=stale)
        res = rec.result
        grid = Table.grid(padding=(0, 1), expand=True)
        grid.add_column(style="bold", no_wrap=True, min_width=8)
        grid.add_column(ratio=1, no_wrap=True, overflow="ellipsis")
        grid.add_column(style="bold", no_wrap=True)
        grid.add_column(ratio=1, no_wrap=True, overflow="ellipsis")
        status = Text.assemble(((st.ascii if ascii_only else st.glyph) + " ", f"bold {st.colour}"), safe(rec.status, f"bold {st.colour}"))
        if stale:
            status.append(" (stale: no watcher can attach)", style="yellow")
        if res is not None and res.phase1Outcome:
            status.append_text(Text.assemble("  outcome ", safe(res.phase1Outcome)))
        started, finished = rec.started, rec.finished
        if started is None:
            elapsed = Text("—", style="dim")
        elif finished is not None:
            elapsed = Text(f"{duration((finished - started).total_seconds())} (finished {short_time(finished)})")
        else:
            elapsed = Text(f"{duration((now - started).total_seconds())} (running)")
        if watcher is not None:
            wtext = safe(watcher.label(), "green" if watcher.phase.value == "watching" else "yellow")
            last = watcher.last_event_at or (row.last_event_at if row else None)
        else:
            wtext = safe(row.watcher if row else "none", "yellow" if stale else "dim")
            last = row.last_event_at if row else None
        wtext.append(f" · last event {ago(last, now)}", style="dim")
        email = rec.owner_email
        org = safe(rec.request.orgName or "—")
        if rec.request.region:
            org.append_text(Text.assemble(" · ", safe(rec.request.region)))
        grid.add_row("Status", status, "Started", Text(short_time(started)))
        grid.add_row("Org", org, "Elapsed", elapsed)
        grid.add_row("Owner", safe(email or "—"), "Watcher", wtext)
        grid.add_row("ID", safe(rec.id), "Kubeconfig", safe((res.kubeconfigPath if res else "") or "—"))
        lines = Table.grid(padding=(0, 1), expand=True)
        lines.add_column(style="bold", no_wrap=True, min_width=8)
        lines.add_column(ratio=1)
        decision = resume_decision(rec, kubeconfigs_dir=app.kubeconfigs_dir, stat=app.stat)
        lines.add_row("Restart", safe(decision.describe(), "green" if decision.resume else "yellow", wrap=True))
        if stale:
            from ...domain.restart import conventional_kubeconfig_path

            lines.add_row("Next", Text.assemble(
                "put the cluster's kubeconfig at ", safe(conventional_kubeconfig_path(app.kubeconfigs_dir, rec.id), "bold", wrap=True),
                " and reattach (w), or patch the status (p)", style="yellow",
            ))
        lines.add_row("Handover", self._handover_text(rec, now))
        if rec.error:
            # At most about three lines; the whole text is in the JSON view (y).
            limit = max(60, (self.size.width - 14) * 3)
            lines.add_row("Error", safe(truncate(first_line(rec.error), limit), "bold red", wrap=True))
        key = tuple(
            text_key(cell) if isinstance(cell, Text) else str(cell)
            for table in (grid, lines) for column in table.columns for cell in column._cells
        )
        update_if_changed(self.query_one("#summary", Static), Group(grid, lines), key=key)

    def _handover_text(self, rec: Record, now) -> Text:  # noqa: ANN001
        res = rec.result
        fired = parse_time(res.handoverFiredAt) if res is not None and res.handoverFiredAt else None
        if fired is not None:
            text = Text.assemble(("fired ", "green"), short_time(fired), f" ({ago(fired, now)})")
            if res is not None and res.handoverURL:
                text.append(" · URL stored (its token lasts 5 minutes; h reissues)", style="dim")
            return text
        if rec.status == statuses.READY:
            return Text("not fired · h issues the handover URL", style="yellow")
        if rec.status == statuses.ADOPTED:
            return Text(f"adopted {short_time(parse_time(rec.adoptedAt)) if rec.adoptedAt else ''}".rstrip(), style="magenta")
        return Text("not yet (the Sovereign is not ready)", style="dim")

    # --- components --------------------------------------------------------------------------
    def render_components(self) -> None:
        rec = self.record
        if rec is None:
            return
        watcher = self.watcher()
        views = component_views(rec, watcher)
        table = self.query_one(ComponentsTable)
        empty = self.query_one("#components-state", StatePanel)
        head = Text(no_wrap=True, overflow="ellipsis")
        head.append("Components ", style="bold")
        if views:
            done = sum(1 for v in views if v.state == "installed")
            pct = round(100 * done / len(views))
            head.append(f"{done}/{len(views)} installed ")
            head.append(bar(done, len(views), 12, ascii_only=self.capp.config.ascii), style="green" if done == len(views) else "cyan")
            head.append(f" {pct}%")
            fresh = table.row_count == 0
            table.sync(views, self.capp.now())
            if fresh:
                # Start on what needs a look: the root blocker, else the first component not installed.
                target = next(iter(sorted(table.roots)), None) or next((v.id for v in views if v.state != "installed"), None)
                if target is not None:
                    table.move_cursor(row=table.get_row_index(target), animate=False)
            if table.roots:
                stuck = sorted(r for r in table.roots if table.views[r].state in ("failed", "degraded"))
                if stuck:
                    head.append("  blocked on: ", style="bold red")
                    head.append_text(safe(", ".join(stuck), "bold red"))
                else:
                    head.append("  waiting on: ", style="yellow")
                    head.append_text(safe(", ".join(sorted(table.roots)), "bold yellow"))
            head.append("  ·  live" if watcher is not None and watcher.components else "  ·  from the record", style="dim")
            table.display = True
            empty.hide()
        else:
            table.display = False
            if statuses.is_phase0_in_flight(rec.status):
                msg = "None yet: Phase 0 (OpenTofu) is in flight; components appear when Flux reconciles the bootstrap kit."
            elif rec.status == statuses.ADOPTED:
                msg = "None: an adopted record keeps only its identity (the Sovereign runs its own console)."
            else:
                msg = "No component recorded yet: no watcher has seen a bp-* HelmRelease on this Sovereign."
            empty.show_empty(Text(msg, style="dim"))
        update_if_changed(self.query_one("#components-head", Static), head)
        self.render_component_detail()

    @on(DataTable.RowHighlighted, "#components")
    def render_component_detail(self) -> None:
        """The highlighted component's whole Ready message, and what it waits for."""
        table = self.query_one(ComponentsTable)
        detail = self.query_one("#component-detail", Static)
        cid = table.selected_component() if table.display else None
        view = table.views.get(cid) if cid else None
        if view is None:
            detail.display = False
            return
        text = Text()
        text.append_text(safe(view.id, "bold"))
        text.append(f" {view.state}")
        if view.reason:
            text.append_text(Text.assemble(" (", safe(view.reason), ")"))
        text.append(": ")
        text.append_text(safe(truncate(view.message or "no message", 400)))
        dep = table.first_not_ready.get(view.id)
        if dep:
            text.append_text(Text.assemble("  · waits for ", safe(dep, "bold yellow")))
        if view.id in table.roots:
            text.append("  · the components that depend on it wait for it", style="yellow")
        text.append("  · enter filters the events", style="dim")
        update_if_changed(detail, text)
        detail.display = True

    @on(DataTable.RowSelected, "#components")
    def _component_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        comp = str(event.row_key.value)
        log = self.query_one(EventLog)
        flt = log.filter
        new = None if flt.component == comp else comp
        log.set_filter(EventFilter(flt.phase, flt.level, new))
        self.render_events_head()

    # --- events ------------------------------------------------------------------------------
    def render_events(self, *, first: bool = False) -> None:
        rec = self.record
        if rec is None:
            return
        log = self.query_one(EventLog)
        events = rec.event_list()
        empty = self.query_one("#events-state", StatePanel)
        if not events:
            log.display = False
            empty.show_empty(Text("No events recorded for this Sovereign (events: null).", style="dim"))
        else:
            empty.hide()
            log.display = True
            if first:
                log.set_events(events)
            else:
                log.update_events(events)
        self.render_events_head()

    def render_events_head(self) -> None:
        log = self.query_one(EventLog)
        head = Text(no_wrap=True, overflow="ellipsis")
        head.append("Events ", style="bold")
        head.append(f"{len(log.events)}  ")
        head.append(log.filter.describe(), style="cyan" if log.filter != EventFilter() else "dim")
        head.append(" · helm logs " + ("folded" if log.fold else "shown"), style="dim")
        if log.fold and log.held:
            head.append(f" (+{len(log.held)} at the end)", style="dim")
        head.append("   P phase · L level · C component · F fold", style="dim")
        update_if_changed(self.query_one("#events-head", Static), head)

    def action_cycle_phase(self) -> None:
        log = self.query_one(EventLog)
        f = log.filter
        log.set_filter(EventFilter(_cycle(phases_in(log.events), f.phase), f.level, f.component))
        self.render_events_head()

    def action_cycle_level(self) -> None:
        log = self.query_one(EventLog)
        f = log.filter
        i = LEVEL_FILTERS.index(f.level)
        log.set_filter(EventFilter(f.phase, LEVEL_FILTERS[(i + 1) % len(LEVEL_FILTERS)], f.component))
        self.render_events_head()

    def action_cycle_component(self) -> None:
        log = self.query_one(EventLog)
        f = log.filter
        log.set_filter(EventFilter(f.phase, f.level, _cycle(components_in(log.events), f.component)))
        self.render_events_head()

    def action_toggle_fold(self) -> None:
        log = self.query_one(EventLog)
        log.set_fold(not log.fold)
        self.render_events_head()

    def action_record_audit(self) -> None:
        self.capp.action_audit(self.record_id)

    def action_zoom(self) -> None:
        if self.maximized is not None:
            self.minimize()
        elif self.focused is not None:
            self.maximize(self.focused)

    def action_back(self) -> None:
        if self.maximized is not None:
            self.minimize()
        else:
            self.app.pop_screen()
