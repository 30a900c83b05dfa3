"""A text input that never echoes terminal controls.

Whatever an operator pastes (text copied from a web page, a log, a HelmRelease message) goes into
the input's own line on the terminal. Textual draws it as is, so a pasted ESC/OSC (an OSC 52
clipboard write, ``ESC[2J``), an 8-bit C1 CSI/OSC or a bidi override would reach the terminal.
Every insertion (typing and bracketed paste both go through :meth:`Input.replace`) drops those
characters; the rest of the text is kept as pasted.
"""

from __future__ import annotations

import re

from textual.widgets import Input

#: C0 controls (an input is one line: tab and newline too), DEL, C1, the Unicode line/paragraph
#: separators and the bidi overrides/isolates (the set service.text.sanitize makes visible).
UNSAFE_IN_INPUT = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


class SafeInput(Input):
    def replace(self, text: str, start: int, end: int) -> None:
        super().replace(UNSAFE_IN_INPUT.sub("", text), start, end)
