"""catalyst-tui: the terminal console for OpenOva Catalyst operators."""

__version__ = "0.1.0"
