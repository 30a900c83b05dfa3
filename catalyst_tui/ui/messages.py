"""App-level messages: services report to screens through these; widgets never call each other."""

from __future__ import annotations

from textual.message import Message

from .fleet_state import FleetDelta


class FleetChanged(Message):
    """The fleet was polled: ``delta`` says which rows changed (possibly none: the clock moved)."""

    def __init__(self, delta: FleetDelta) -> None:
        super().__init__()
        self.delta = delta


class ServicesReady(Message):
    """The store is open (and the supervisor started, when there is one)."""


class ServicesFailed(Message):
    """The store could not be opened: ``reason`` is one line."""

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason


class RecordMutated(Message):
    """This process changed a record (poll now rather than in a second)."""

    def __init__(self, record_id: str) -> None:
        super().__init__()
        self.record_id = record_id
