"""The event log: a live tail of a record's events, filtered, with helm-controller log lines folded.

New events are appended (the view is never rebuilt while it tails); a filter change or the
10,000-event buffer rolling past what was shown re-renders it. At most :data:`MAX_LINES` events
are rendered; older ones are counted in a first line.
"""

from __future__ import annotations

from typing import Sequence

from rich.text import Text
from textual.widgets import RichLog

from ...domain.record import Event
from ..detail_model import EventFilter, handover_ready_message, helm_log_message
from ..text import safe, truncate

MAX_LINES = 2000
COMPONENT_LOG = "component-log"
LEVEL_STYLE = {"error": "bold red", "warn": "yellow", "info": ""}


def _mask(message: str) -> str:
    from ..modals.handover import mask_tokens

    return mask_tokens(message)


def event_text(ev: Event) -> Text:
    t = ev.time
    clock = t[11:19] if len(t) >= 19 else t
    text = Text(no_wrap=True)
    text.append(f"{clock:<8} ", style="dim")
    text.append(f"{ev.level:<5} ", style=LEVEL_STYLE.get(ev.level, "magenta"))
    phase = "helm-log" if ev.phase == COMPONENT_LOG else ev.phase
    text.append_text(safe(f"{truncate(phase, 14):<14} ", "cyan" if ev.phase == "component" else "dim" if ev.phase == COMPONENT_LOG else ""))
    text.append_text(safe(f"{truncate(ev.component, 18):<18} ", "bold"))
    if ev.phase == "component" and ev.state:
        state_style = {"installed": "green", "failed": "bold red", "degraded": "yellow", "installing": "cyan"}.get(ev.state, "")
        text.append_text(safe(ev.state, state_style))
        text.append(": ")
    if ev.phase == COMPONENT_LOG:
        message = helm_log_message(ev.message)
    elif ev.phase == "handover-ready":
        message = handover_ready_message(ev.message)
    else:
        message = ev.message
    text.append_text(safe(_mask(message), LEVEL_STYLE.get(ev.level, "") if ev.level != "info" else ""))
    return text


def fold_text(count: int, components: Sequence[str]) -> Text:
    names = ", ".join(components[:3]) + (", …" if len(components) > 3 else "")
    text = Text(no_wrap=True, style="dim")
    text.append(" " * 9 + f"⋯ {count} helm-controller log line{'s' if count != 1 else ''}")
    if names:
        text.append(" (")
        text.append_text(safe(names))
        text.append(")")
    text.append("  F unfolds")
    return text


class EventLog(RichLog):
    DEFAULT_CSS = """
    EventLog { height: 1fr; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(wrap=False, markup=False, highlight=False, auto_scroll=True, max_lines=MAX_LINES + 500, **kwargs)
        self.filter = EventFilter()
        self.fold = True
        self.events: list[Event] = []
        #: Folded mode: the trailing run of helm-controller lines not written yet.
        self.held: list[Event] = []
        self._last_date = ""
        self.shown = 0
        #: Number of full re-renders (tests check a live tail appends instead).
        self.renders = 0
        #: Follow the tail: True while the view is at the end (scrolling up stops following).
        self.stick_to_end = True

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        self.stick_to_end = new_value >= self.max_scroll_y - 1

    def on_resize(self, event) -> None:  # noqa: ANN001
        super().on_resize(event)
        if self.stick_to_end:
            self.call_after_refresh(self.scroll_end, animate=False, immediate=True, x_axis=False)

    # --- public ------------------------------------------------------------------------------
    def set_events(self, events: Sequence[Event]) -> None:
        """Show ``events`` from scratch (first load, a filter change, or the buffer rolled)."""
        self.renders += 1
        self.clear()
        self.events = list(events)
        self.held = []
        self._last_date = ""
        self.shown = 0
        matching = [e for e in self.events if self.filter.passes(e)]
        if len(matching) > MAX_LINES:
            hidden = len(matching) - MAX_LINES
            self.write_line(Text(f"… {hidden} earlier matching events not shown (filter to narrow the log)", style="dim italic"))
            matching = matching[-MAX_LINES:]
        self._write_events(matching)
        # The log may just have been shown (its height changed): scroll once the layout is done.
        self.stick_to_end = True
        self.call_after_refresh(self.scroll_end, animate=False, immediate=True, x_axis=False)

    def update_events(self, events: Sequence[Event]) -> None:
        """Append what is new since the last call; re-render when the history was rewritten."""
        events = list(events)
        old = self.events
        start: int | None = None
        if not old:
            start = 0 if not events else None
        elif len(events) >= len(old) and events[len(old) - 1] == old[-1]:
            start = len(old)
        else:
            # The buffer rolled (oldest dropped): find the last event we showed.
            last = old[-1]
            for i in range(len(events) - 1, max(-1, len(events) - 10_001), -1):
                if events[i] == last:
                    start = i + 1
                    break
        if start is None:
            self.set_events(events)
            return
        new = events[start:]
        self.events = events
        self._write_events([e for e in new if self.filter.passes(e)])

    def set_filter(self, flt: EventFilter) -> None:
        self.filter = flt
        self.set_events(self.events)

    def set_fold(self, fold: bool) -> None:
        self.fold = fold
        self.set_events(self.events)

    # --- rendering ---------------------------------------------------------------------------
    def write_line(self, text: Text) -> None:
        # Full width, never shrunk: long messages scroll horizontally instead of being cut.
        self.write(text, shrink=False, scroll_end=self.stick_to_end)

    def _write_events(self, events: Sequence[Event]) -> None:
        for ev in events:
            if self.fold and ev.phase == COMPONENT_LOG:
                self.held.append(ev)
                continue
            self._flush_held()
            self._date_line(ev)
            self.write_line(event_text(ev))
            self.shown += 1

    def _flush_held(self) -> None:
        if not self.held:
            return
        comps: list[str] = []
        for ev in self.held:
            if ev.component and ev.component not in comps:
                comps.append(ev.component)
        self.write_line(fold_text(len(self.held), comps))
        self.held = []

    def _date_line(self, ev: Event) -> None:
        date = ev.time[:10]
        if date and date != self._last_date:
            self._last_date = date
            self.write_line(Text(f"── {date} ──", style="dim"))
