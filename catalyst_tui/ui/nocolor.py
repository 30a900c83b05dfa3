"""NO_COLOR that stays readable.

Textual's NO_COLOR filter maps every colour to its grey level, so red or magenta text on a dark
background becomes a dark grey that is hard to read ("✘ failed" nearly disappears). This filter
does the same conversion but pushes any foreground whose grey is too close to its background's
to full contrast. States never depend on colour anyway: every status has a symbol and a word.
"""

from __future__ import annotations

from functools import lru_cache

from rich.segment import Segment
from rich.style import Style
from textual.color import Color
from textual.filter import LineFilter

#: Minimum difference in brightness (0..1) between text and its background.
MIN_CONTRAST = 0.5


@lru_cache(1024)
def readable_monochrome_style(style: Style, background: Color) -> Style:
    bg = Color.from_rich_color(style.bgcolor).monochrome if style.bgcolor is not None else background.monochrome
    fg = Color.from_rich_color(style.color).monochrome if style.color is not None else None
    if fg is not None and abs(fg.brightness - bg.brightness) < MIN_CONTRAST:
        fg = Color(255, 255, 255) if bg.brightness < 0.5 else Color(0, 0, 0)
    return style + Style.from_color(
        fg.rich_color if fg is not None else None,
        bg.rich_color if style.bgcolor is not None else None,
    )


class ReadableMonochrome(LineFilter):
    def apply(self, segments: list[Segment], background: Color) -> list[Segment]:
        return [
            Segment(text, readable_monochrome_style(style, background) if style is not None else None, None)
            for text, style, _ in segments
        ]
