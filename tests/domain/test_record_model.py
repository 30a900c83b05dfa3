"""The record model reads every shape of §1.4-§1.5 and writes back what catalyst-api writes."""

from __future__ import annotations

import json

import pytest

from catalyst_tui.domain.record import (
    Event,
    RecordDecodeError,
    format_time,
    loads_record,
    parse_time,
    to_catalyst_json,
)

PENDING = """{
  "id": "3f9c2a7e1b8d4c60",
  "status": "pending",
  "request": {
    "orgName": "Acme Telecom",
    "orgEmail": "ops@acme.example",
    "sovereignFQDN": "acme.omani.works",
    "sovereignDomainMode": "pool",
    "hetznerToken": "<redacted>",
    "workerCount": 2,
    "regions": [
      {
        "provider": "hetzner",
        "cloudRegion": "fsn1",
        "controlPlaneSize": "cx32",
        "workerSize": "cx32",
        "workerCount": 2
      }
    ],
    "dynadotKey": "<redacted>"
  },
  "startedAt": "2026-05-04T09:00:01.482913377Z",
  "finishedAt": "0001-01-01T00:00:00Z",
  "events": null,
  "pdmReservationToken": "rsv_7c1d0e9a44",
  "kubeconfigBearerHash": "9b1f0c2e6a7d43b8e5f1a0c9d8b7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9"
}
"""


def test_pending_roundtrips_byte_for_byte():
    r = loads_record(PENDING)
    assert r.events is None and r.finished is None
    assert r.started is not None and r.started.microsecond == 482913
    assert to_catalyst_json(r) == PENDING
    assert "\\u003c" not in to_catalyst_json(r)


def test_unknown_keys_survive_at_any_depth():
    data = json.loads(PENDING)
    data["futureTop"] = {"nested": [1, {"deep": True}]}
    data["request"]["parentDomains"] = [{"name": "x.example", "role": "primary"}]
    data["request"]["regions"][0]["zone"] = "fsn1-dc14"
    data["result"] = {"sovereignFQDN": "a", "controlPlaneIP": "", "loadBalancerIP": "", "consoleURL": "",
                      "gitopsRepoURL": "", "materializedRegions": ["fsn1"], "consoleDegraded": True}
    data["events"] = [{"time": "2026-05-04T09:00:02Z", "phase": "tofu", "level": "info", "message": "m", "extra": {"k": 1}}]
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    out = json.loads(to_catalyst_json(loads_record(text)))
    assert out == data


@pytest.mark.parametrize("status", ["pending", "provisioning", "tofu-applying", "flux-bootstrapping", "phase1-watching",
                                    "ready", "failed", "partial-failure", "adopted", "wiping", "wiped"])
def test_every_status(status):
    r = loads_record(PENDING.replace('"pending"', f'"{status}"'))
    assert r.status == status and r.status_known


def test_unknown_status_is_kept_not_a_crash():
    r = loads_record(PENDING.replace('"pending"', '"quantum-entangled"'))
    assert r.status == "quantum-entangled" and not r.status_known
    assert '"status": "quantum-entangled"' in to_catalyst_json(r)


@pytest.mark.parametrize(
    "text,fragment",
    [
        ('{"id": "a", "status": 7}', "field status"),
        ('{"id": "a", "status": "ready", "events": "x"}', "field events"),
        ("[1, 2]", "expected a JSON object"),
        ("", "empty file"),
        ('{"id": "a", "status": "ready"', "invalid JSON"),
        ('{"id": "", "status": "ready"}', "empty id"),
        ('{"id": "a", "status": "ready", "startedAt": "yesterday"}', "field startedAt"),
    ],
)
def test_bad_records_raise_one_line_reason(text, fragment):
    with pytest.raises(RecordDecodeError) as info:
        loads_record(text, source="x.json")
    msg = str(info.value)
    assert fragment in msg and "\n" not in msg and msg.startswith("x.json")


def test_times():
    assert parse_time("0001-01-01T00:00:00Z") is None
    assert parse_time("2026-05-04T09:31:12.004201733Z").microsecond == 4201
    assert format_time(parse_time("2026-05-04T09:31:12.2209Z")) == "2026-05-04T09:31:12.2209Z"
    assert format_time(parse_time("2026-05-04T09:31:12Z")) == "2026-05-04T09:31:12Z"


def test_new_event_writes_only_set_keys():
    from datetime import datetime, timezone

    ev = Event.make("operator", "info", "patched", at=datetime(2026, 5, 4, 9, 0, 0, 999, tzinfo=timezone.utc))
    assert ev.model_dump(exclude_unset=True) == {"time": "2026-05-04T09:00:00Z", "phase": "operator", "level": "info", "message": "patched"}


def test_emptied_omitempty_key_is_dropped():
    r = loads_record(PENDING.replace('"status": "pending",', '"status": "failed",\n  "error": "boom",'))
    assert '"error": "boom"' in to_catalyst_json(r)
    r.error = ""
    assert '"error"' not in to_catalyst_json(r)


def test_redaction_masks_plaintext_credentials_and_keeps_empty_ones():
    from catalyst_tui.domain.record import redact_request, redacted_record_dict

    shown = redact_request({"hetznerToken": "hcloud-PLAINTEXT", "dynadotKey": "", "objectStorageSecretKey": "s3",
                            "futureApiPassword": "pw", "orgName": "Acme", "registrarToken": "  "})
    assert shown == {"hetznerToken": "<redacted>", "dynadotKey": "", "objectStorageSecretKey": "<redacted>",
                     "futureApiPassword": "<redacted>", "orgName": "Acme", "registrarToken": ""}
    rec = loads_record(PENDING.replace('"hetznerToken": "<redacted>"', '"hetznerToken": "CANARY-123"'))
    assert "CANARY-123" not in json.dumps(redacted_record_dict(rec))
    assert "CANARY-123" in to_catalyst_json(rec), "the stored bytes are untouched"
