"""Records and constants shared by the handover tests."""

from __future__ import annotations

from datetime import datetime, timezone

from catalyst_tui.domain.record import Record

FQDN = "acme.omani.works"
NOW = datetime(2026, 5, 4, 9, 31, 12, 220900, tzinfo=timezone.utc)
ISSUER = "https://console.openova.io"
AUDIENCE = f"https://console.{FQDN}"


def make_record(**overrides: object) -> Record:
    """A fix-era ``ready`` record just after Phase 1, before the auto-fire (§1.5)."""
    data: dict[str, object] = {
        "id": "3f9c2a7e1b8d4c60",
        "status": "ready",
        "request": {"orgName": "Acme Telecom", "orgEmail": "org@acme.example", "sovereignFQDN": FQDN},
        "result": {
            "sovereignFQDN": FQDN,
            "componentStates": {c: "installed" for c in (
                "cilium", "cert-manager", "flux", "crossplane", "sealed-secrets", "spire",
                "nats-jetstream", "openbao", "keycloak", "gitea", "catalyst-platform",
            )},
            "phase1FinishedAt": "2026-05-04T09:31:12.004118Z",
            "phase1Outcome": "ready",
        },
        "startedAt": "2026-05-04T09:00:01.482913377Z",
        "finishedAt": "2026-05-04T09:31:12.004201733Z",
        "events": [],
        "ownerEmail": "ops@acme.example",
    }
    data.update(overrides)
    return Record.model_validate(data)
