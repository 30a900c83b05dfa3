"""The watcher's state as the dashboard and the CLI see it (no kubernetes import here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum

from ..domain.components import Derived


class WatchPhase(str, Enum):
    CONNECTING = "connecting"
    WATCHING = "watching"
    RECONNECTING = "reconnecting"
    ERROR = "error"
    DONE = "done"


@dataclass
class WatcherStatus:
    """Live view of one Sovereign's watcher. Mutated only by the watcher task."""

    record_id: str
    phase: WatchPhase = WatchPhase.CONNECTING
    reason: str = ""
    last_event_at: datetime | None = None
    #: Current HelmRelease view per component id (reason/message/last transition/dependsOn).
    components: dict[str, Derived] = field(default_factory=dict)
    synced: bool = False
    #: True when this process only observes (directory store without --take-over, or another
    #: process holds the lease).
    observe_only: bool = False
    #: Holder of the lease when another process writes this Sovereign's progress.
    lease_holder: str | None = None
    outcome: str | None = None

    def label(self) -> str:
        if self.lease_holder:
            return f"held by {self.lease_holder}"
        text = self.phase.value
        if self.reason and self.phase in (WatchPhase.RECONNECTING, WatchPhase.ERROR):
            text += f": {self.reason}"
        if self.observe_only and self.phase == WatchPhase.WATCHING:
            text = "observe-only"
        return text
