"""The pydantic model classes of :mod:`catalyst_tui.domain.record` (see there for the design).

Imported on first use, through ``catalyst_tui.domain.record`` (``from .record import Record``
works as before): pydantic and the model classes cost ~80 ms of start-up, and neither the fleet
view nor ``list`` builds a model. Import the names from ``domain.record``, not from here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, field_validator

from . import statuses
from .record import GO_ZERO_TIME, format_event_time, parse_time


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True, validate_assignment=True)

    #: JSON keys that Go marks ``omitempty``: dropped on write when empty.
    OMITEMPTY: ClassVar[frozenset[str]] = frozenset()
    #: Go pointer fields with ``omitempty``: dropped only when nil (an empty struct is written).
    OMIT_NIL: ClassVar[frozenset[str]] = frozenset()


class RegionSpec(_Model):
    provider: StrictStr = ""
    cloudRegion: StrictStr = ""
    controlPlaneSize: StrictStr = ""
    workerSize: StrictStr = ""
    workerCount: StrictInt = 0


class Request(_Model):
    orgName: StrictStr = ""
    orgEmail: StrictStr = ""
    sovereignFQDN: StrictStr = ""
    sovereignDomainMode: StrictStr = ""
    sovereignPoolDomain: StrictStr = ""
    sovereignSubdomain: StrictStr = ""
    hetznerToken: StrictStr = ""
    hetznerProjectID: StrictStr = ""
    region: StrictStr = ""
    controlPlaneSize: StrictStr = ""
    workerSize: StrictStr = ""
    workerCount: StrictInt = 0
    haEnabled: StrictBool = False
    regions: list[RegionSpec] | None = None
    sshPublicKey: StrictStr = ""
    dynadotKey: StrictStr = ""
    dynadotSecret: StrictStr = ""
    registrarToken: StrictStr = ""

    OMITEMPTY: ClassVar[frozenset[str]] = frozenset(
        {
            "orgName", "orgEmail", "sovereignFQDN", "sovereignDomainMode", "sovereignPoolDomain",
            "sovereignSubdomain", "hetznerToken", "hetznerProjectID", "region", "controlPlaneSize",
            "workerSize", "workerCount", "haEnabled", "regions", "sshPublicKey", "dynadotKey",
            "dynadotSecret", "registrarToken",
        }
    )


class Result(_Model):
    sovereignFQDN: StrictStr = ""
    controlPlaneIP: StrictStr = ""
    loadBalancerIP: StrictStr = ""
    consoleURL: StrictStr = ""
    gitopsRepoURL: StrictStr = ""
    kubeconfigPath: StrictStr = ""
    componentStates: dict[str, StrictStr] | None = None
    phase1FinishedAt: StrictStr | None = None
    phase1Outcome: StrictStr = ""
    phase1Substate: StrictStr = ""
    handoverFiredAt: StrictStr | None = None
    handoverURL: StrictStr = ""

    OMITEMPTY: ClassVar[frozenset[str]] = frozenset(
        {
            "kubeconfigPath", "componentStates", "phase1FinishedAt", "phase1Outcome",
            "phase1Substate", "handoverFiredAt", "handoverURL", "consoleLoadBalancerIP",
        }
    )
    OMIT_NIL: ClassVar[frozenset[str]] = frozenset({"phase1FinishedAt", "handoverFiredAt"})


class Event(_Model):
    time: StrictStr = ""
    phase: StrictStr = ""
    level: StrictStr = "info"
    message: StrictStr = ""
    component: StrictStr = ""
    state: StrictStr = ""
    dependsOn: list[StrictStr] | None = None

    OMITEMPTY: ClassVar[frozenset[str]] = frozenset({"component", "state", "dependsOn"})

    @classmethod
    def make(cls, phase: str, level: str, message: str, *, at: datetime, **extra: Any) -> "Event":
        """Build a new event; only the keys passed are set, as Go's omitempty would write them."""
        data: dict[str, Any] = {"time": format_event_time(at), "phase": phase, "level": level, "message": message}
        data.update({k: v for k, v in extra.items() if v not in (None, "", [])})
        return cls.model_validate(data)


class Record(_Model):
    id: StrictStr
    status: StrictStr
    request: Request = Field(default_factory=Request)
    result: Result | None = None
    error: StrictStr = ""
    startedAt: StrictStr = GO_ZERO_TIME
    finishedAt: StrictStr = GO_ZERO_TIME
    events: list[Event] | None = None
    pdmReservationToken: StrictStr = ""
    pdmPoolDomain: StrictStr = ""
    pdmSubdomain: StrictStr = ""
    kubeconfigBearerHash: StrictStr = ""
    adoptedAt: StrictStr | None = None
    ownerEmail: StrictStr = ""

    OMITEMPTY: ClassVar[frozenset[str]] = frozenset(
        {
            "result", "error", "pdmReservationToken", "pdmPoolDomain", "pdmSubdomain",
            "kubeconfigBearerHash", "adoptedAt", "ownerEmail",
        }
    )
    OMIT_NIL: ClassVar[frozenset[str]] = frozenset({"result", "adoptedAt"})

    @field_validator("startedAt", "finishedAt")
    @classmethod
    def _valid_time(cls, v: str) -> str:
        if v != GO_ZERO_TIME and parse_time(v) is None:
            raise ValueError(f"not an RFC3339 timestamp: {v[:40]!r}")
        return v

    # --- typed views -------------------------------------------------------------------------
    @property
    def status_known(self) -> bool:
        return statuses.is_known(self.status)

    @property
    def started(self) -> datetime | None:
        return parse_time(self.startedAt)

    @property
    def finished(self) -> datetime | None:
        return parse_time(self.finishedAt)

    @property
    def fqdn(self) -> str:
        return self.request.sovereignFQDN or (self.result.sovereignFQDN if self.result else "")

    @property
    def owner_email(self) -> str:
        return self.ownerEmail or self.request.orgEmail

    def ensure_result(self) -> Result:
        if self.result is None:
            self.result = Result.model_validate({"sovereignFQDN": self.request.sovereignFQDN})
        return self.result

    def event_list(self) -> list[Event]:
        return list(self.events or [])

    def append_events(self, new: list[Event], cap: int = 10_000) -> None:
        """Append events, keeping at most ``cap`` (oldest dropped, §1.4 EventBufferCap)."""
        merged = (self.events or []) + list(new)
        if len(merged) > cap:
            merged = merged[-cap:]
        self.events = merged
