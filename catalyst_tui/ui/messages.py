"""App-level messages: services report to screens through these; widgets never call each other."""

from __future__ import annotations

from textual.message import Message

from .fleet_state import FleetDelta


class FleetChanged(Message):
    """The fleet was polled: ``delta`` says which rows changed (possibly none: the clock moved)."""

    def __init__(self, delta: FleetDelta) -> None:
        super().__init__()
        self.delta = delta
