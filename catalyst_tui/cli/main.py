"""Command line entry point (filled in by the core issue)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    print("catalyst-tui: command line under construction", file=sys.stderr)
    return 2
