"""One-line bars: the title bar, the fleet's summary bar, and the state panel every area uses for
its loading / empty / error states."""

from __future__ import annotations

from typing import Iterable

from rich.text import Text
from textual.widgets import Static

from ...domain import statuses
from ...service.fleet import STALE_STYLE, FleetRow, status_counts, status_style
from ..text import safe, update_if_changed


class TitleBar(Static):
    """``catalyst-tui │ Fleet │ operator … │ READ-ONLY │ store …``"""

    DEFAULT_CSS = """
    TitleBar { height: 1; background: $panel; color: $text; padding: 0 1; }
    """

    def __init__(self, where: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.where = where

    def on_mount(self) -> None:
        self.update(self.render_title())

    def render_title(self) -> Text:
        app = self.app
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append("catalyst-tui", style="bold")
        text.append(" │ ")
        text.append_text(safe(self.where, "bold"))
        text.append(" │ operator ")
        text.append_text(safe(getattr(app, "operator", "")))
        if getattr(app, "read_only", False):
            text.append(" │ ")
            text.append("READ-ONLY", style="bold reverse yellow")
        # The store comes last: it is the longest and the one to cut at 80 columns.
        text.append(" │ store ")
        text.append_text(safe(getattr(app, "store_label", ""), "italic"))
        return text


def counts_line(total: int, counts: dict[str, int], stale: int, *, ascii_only: bool = False, loading: bool = False) -> Text:
    """The counts line from counts already made (:meth:`FleetState.counts`). ``loading``: only
    the first rows are read yet (:attr:`FleetState.partial`): the total and "loading…", no
    per-status counts."""
    text = Text(no_wrap=False)
    text.append(f"{total} Sovereign{'s' if total != 1 else ''}", style="bold")
    if loading:
        text.append("  ·  loading…", style="italic")
        return text
    # Most urgent first, like the table: failed, stale, watching, Phase 0, ready, adopted, others.
    order = sorted(counts, key=lambda s: (_COUNT_ORDER.index(s) if s in _COUNT_ORDER else len(_COUNT_ORDER), s))
    for status in order:
        if status == statuses.PHASE1_WATCHING and stale:
            _count(text, STALE_STYLE, stale, "stale", ascii_only)
        st = status_style(status)
        _count(text, st, counts[status], status, ascii_only)
    return text


_COUNT_ORDER = (
    statuses.FAILED, statuses.PARTIAL_FAILURE, statuses.PHASE1_WATCHING, statuses.PENDING, statuses.PROVISIONING,
    statuses.TOFU_APPLYING, statuses.FLUX_BOOTSTRAPPING, statuses.READY, statuses.ADOPTED, statuses.WIPING, statuses.WIPED,
)


def _count(text: Text, st, n: int, label: str, ascii_only: bool) -> None:  # noqa: ANN001
    text.append("  ")
    text.append((st.ascii if ascii_only else st.glyph) + " ", style=f"bold {st.colour}")
    text.append(f"{n} ")
    text.append_text(safe(label, st.colour))


class StatePanel(Static):
    """Loading / empty / error message for a panel. Hidden when the panel has content."""

    DEFAULT_CSS = """
    StatePanel { height: auto; padding: 1 2; display: none; }
    StatePanel.-shown { display: block; }
    StatePanel.-error { color: $text-error; }
    StatePanel.-banner { padding: 0 1; background: $error 30%; }
    """

    def show_loading(self, what: str) -> None:
        self._show(Text(f"Loading {what}…", style="italic"), error=False)

    def show_empty(self, message: str | Text) -> None:
        self._show(message if isinstance(message, Text) else Text(message), error=False)

    def show_error(self, message: str | Text, *, banner: bool = False) -> None:
        self._show(message if isinstance(message, Text) else safe(message, keep_newlines=True), error=True, banner=banner)

    def hide(self) -> None:
        self.set_class(False, "-shown")
        self.set_class(False, "-error")
        self.set_class(False, "-banner")
        update_if_changed(self, Text(""))

    def _show(self, content: Text, *, error: bool, banner: bool = False) -> None:
        update_if_changed(self, content)
        self.set_class(True, "-shown")
        self.set_class(error, "-error")
        self.set_class(banner, "-banner")
