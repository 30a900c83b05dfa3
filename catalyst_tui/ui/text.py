"""Turning record and cluster text into something safe to show, and small formatters.

Rule: record text never reaches a widget as a markup string. It becomes a :class:`rich.text.Text`
(never parsed for markup) after :func:`~catalyst_tui.service.text.sanitize` has made control
characters visible. Toasts that carry record text use ``markup=False``.
"""

from __future__ import annotations

from datetime import datetime

from rich.text import Text

from ..service.text import first_line, sanitize, truncate

__all__ = ["safe", "first_line", "truncate", "duration", "ago", "bar", "short_time"]


def safe(value: object, style: str = "", *, keep_newlines: bool = False, wrap: bool = False, width: int | None = None) -> Text:
    """A Text that shows ``value`` literally: markup is not parsed, controls are made visible.

    One line with an ellipsis unless ``wrap`` (or ``keep_newlines``) is set."""
    text = sanitize(value, keep_newlines=keep_newlines)
    if width is not None:
        text = truncate(text, width)
    return Text(text, style=style, no_wrap=not (keep_newlines or wrap), overflow="ellipsis")


def duration(seconds: float | None) -> str:
    """``45s``, ``3m12s``, ``2h05m``, ``4d03h``; ``—`` when unknown."""
    if seconds is None:
        return "—"
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    m, s = divmod(s, 60)
    if m < 60:
        return f"{m}m{s:02d}s"
    h, m = divmod(m, 60)
    if h < 24:
        return f"{h}h{m:02d}m"
    d, h = divmod(h, 24)
    return f"{d}d{h:02d}h"


def ago(then: datetime | None, now: datetime) -> str:
    if then is None:
        return "—"
    return duration((now - then).total_seconds()) + " ago"


def short_time(dt: datetime | None) -> str:
    """``2026-05-04 09:31:12Z`` (UTC, seconds)."""
    if dt is None:
        return "—"
    from datetime import timezone

    return dt.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")


def bar(done: int, total: int, width: int = 8, *, ascii_only: bool = False) -> str:
    """A fixed-width progress bar: ``▰▰▰▰▱▱▱▱`` (``####....`` in ASCII)."""
    full, empty = ("#", ".") if ascii_only else ("▰", "▱")
    if total <= 0:
        return empty * width
    n = round(width * min(done, total) / total)
    return full * n + empty * (width - n)


def text_key(text: Text) -> tuple:
    """What a Text shows (characters and styles), to skip updates that change nothing."""
    return (text.plain, tuple(text.spans), str(text.style))


def update_if_changed(widget, content: Text, *, key: object = None) -> bool:  # noqa: ANN001
    """``widget.update(content)`` unless it already shows the same thing (an update costs a
    layout pass; the screens refresh every second)."""
    k = key if key is not None else text_key(content)
    if getattr(widget, "_shown_key", None) == k:
        return False
    widget._shown_key = k
    widget.update(content)
    return True
