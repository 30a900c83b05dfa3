"""Make record and cluster text safe to print on a terminal.

Record fields (error texts, event messages, org names) and HelmRelease messages are data written
by other programs. Printed raw, an ESC or OSC sequence in them could recolour the terminal, move
the cursor, set the window title or write to the clipboard (OSC 52). :func:`sanitize` renders every
such character inert and visible instead:

* C0 controls (U+0000-U+001F, except ``\\n`` / ``\\t`` when asked to keep them), DEL (U+007F) and
  C1 controls (U+0080-U+009F, which include the 8-bit CSI U+009B and OSC U+009D) become their
  Python escape (``\\x1b``, ``\\x9b``), so an operator sees that they were there;
* the Unicode bidi overrides/isolates (U+202A-U+202E, U+2066-U+2069) and line/paragraph
  separators (U+2028/U+2029) become ``\\u202e`` etc. ("trojan source" reordering is shown, not
  applied).

Everything else, including non-ASCII text such as "—" or "Zürich", passes through unchanged.
The same function serves the CLI and the dashboard (the UI additionally escapes Rich markup).
"""

from __future__ import annotations

import re

_BIDI_AND_SEPARATORS = "\u2028\u2029\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f" + _BIDI_AND_SEPARATORS + "]")
_UNSAFE_KEEP_LINES = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f" + _BIDI_AND_SEPARATORS + "]")


def _escape(match: re.Match[str]) -> str:
    ch = match.group(0)
    code = ord(ch)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


def sanitize(text: object, *, keep_newlines: bool = False) -> str:
    """Return ``text`` with every terminal control character shown as an inert escape.

    With ``keep_newlines=True``, ``\\n`` and ``\\t`` stay (for multi-line views such as a whole
    error text); otherwise they are escaped too, so one value always stays on one line.
    ``None`` becomes the empty string; other non-strings are ``str()``-ed first.
    """
    if text is None:
        return ""
    if not isinstance(text, str):
        text = str(text)
    pattern = _UNSAFE_KEEP_LINES if keep_newlines else _UNSAFE
    return pattern.sub(_escape, text)


def first_line(text: str | None) -> str:
    """The first non-empty line of ``text`` (raw; sanitize before printing)."""
    if not text:
        return ""
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


def truncate(text: str, width: int) -> str:
    """Cut ``text`` to ``width`` characters, marking the cut with an ellipsis."""
    if width <= 0:
        return ""
    if len(text) <= width:
        return text
    return text[: max(width - 1, 0)] + "…"
