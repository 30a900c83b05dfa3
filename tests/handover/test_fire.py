"""Auto-fire (§5.3), the manual trigger and the dashboard's preconditions, on real Record objects."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import jwt
import pytest

from catalyst_tui.domain.record import loads_record, to_catalyst_json
from catalyst_tui.handover.fire import (
    EXIT_REFUSED,
    HandoverRefused,
    fire_handover,
    handover_preconditions,
    handover_ready_message,
    manual_handover,
)
from catalyst_tui.handover.keys import ENV_TTL, HandoverSigner

from .support import AUDIENCE, FQDN, ISSUER, NOW, make_record


def _claims(signer: HandoverSigner, token: str) -> dict:
    # NOW is in the past: check the signature and every claim but the clock.
    return jwt.decode(
        token, jwt.PyJWK(signer.public_jwk), algorithms=["RS256"], audience=AUDIENCE, issuer=ISSUER,
        options={"verify_exp": False},
    )


# --- fire_handover -------------------------------------------------------------------------------

def test_fire_sets_fields_and_returns_the_handover_ready_event(signer: HandoverSigner) -> None:
    record = make_record()
    result = fire_handover(record, signer, now=NOW)

    assert result.fired is True and result.skipped_reason is None and result.minted is not None
    assert record.result is not None
    assert record.result.handoverFiredAt == "2026-05-04T09:31:12.2209Z"
    assert record.result.handoverURL == result.minted.url
    assert record.result.handoverURL.startswith(f"https://console.{FQDN}/auth/handover?token=eyJ")
    assert record.events == []  # returned for the caller's event pipeline, not appended

    [event] = result.events
    assert (event.phase, event.level, event.time) == ("handover-ready", "info", "2026-05-04T09:31:12Z")
    assert event.message == (
        '{"expiresAt":"2026-05-04T09:36:12Z","handoverURL":"' + result.minted.url + '"}'
    )
    assert json.loads(event.message) == {"expiresAt": "2026-05-04T09:36:12Z", "handoverURL": result.minted.url}
    assert "component" not in event.model_dump(exclude_unset=True)

    claims = _claims(signer, result.minted.token)
    assert claims["sub"] == claims["email"] == "ops@acme.example"
    assert claims["deployment_id"] == record.id and claims["sovereign_fqdn"] == FQDN
    assert claims["exp"] - claims["iat"] == 300


def test_fired_record_round_trips_in_catalyst_format(signer: HandoverSigner) -> None:
    record = make_record()
    result = fire_handover(record, signer, now=NOW)
    record.append_events(result.events)
    again = loads_record(to_catalyst_json(record))
    assert again.result is not None
    assert again.result.handoverFiredAt == "2026-05-04T09:31:12.2209Z"
    assert again.result.handoverURL == record.result.handoverURL  # type: ignore[union-attr]
    assert [e.phase for e in again.event_list()] == ["handover-ready"]
    assert again.event_list()[0].message == result.events[0].message


def test_fire_is_idempotent(signer: HandoverSigner) -> None:
    record = make_record()
    first = fire_handover(record, signer, now=NOW)
    before = to_catalyst_json(record)
    second = fire_handover(record, signer, now=NOW + timedelta(minutes=1))
    assert first.fired and not second.fired
    assert second.skipped_reason is None and second.events == [] and second.minted is None
    assert to_catalyst_json(record) == before


@pytest.mark.parametrize("case", ["no signer", "no result"])
def test_fire_is_a_silent_no_op_without_signer_or_result(signer: HandoverSigner, case: str) -> None:
    record = make_record(result=None) if case == "no result" else make_record()
    before = to_catalyst_json(record)
    result = fire_handover(record, None if case == "no signer" else signer, now=NOW)
    assert (result.fired, result.skipped_reason, result.events, result.minted) == (False, None, [], None)
    assert to_catalyst_json(record) == before


def test_fire_skips_without_fqdn(signer: HandoverSigner) -> None:
    record = make_record(
        request={"orgEmail": "org@acme.example"},
        result={"phase1Outcome": "ready", "phase1FinishedAt": "2026-05-04T09:31:12Z"},
    )
    before = to_catalyst_json(record)
    result = fire_handover(record, signer, now=NOW)
    assert not result.fired and result.events == [] and result.minted is None
    assert result.skipped_reason is not None and "FQDN" in result.skipped_reason and record.id in result.skipped_reason
    assert to_catalyst_json(record) == before


def test_fire_skips_an_fqdn_that_is_not_a_dns_name(signer: HandoverSigner) -> None:
    record = make_record(request={"orgEmail": "o@x.example", "sovereignFQDN": "evil.example/steal?x="})
    result = fire_handover(record, signer, now=NOW)
    assert not result.fired and "not a DNS name" in (result.skipped_reason or "")
    assert record.result is not None and record.result.handoverFiredAt is None


def test_fire_skips_without_any_owner_email(signer: HandoverSigner) -> None:
    record = make_record(ownerEmail="", request={"sovereignFQDN": FQDN, "orgEmail": "  "})
    before = to_catalyst_json(record)
    result = fire_handover(record, signer, now=NOW)
    assert not result.fired and "owner email" in (result.skipped_reason or "")
    assert to_catalyst_json(record) == before


def test_owner_falls_back_to_org_email(signer: HandoverSigner) -> None:
    record = make_record(ownerEmail="")
    result = fire_handover(record, signer, now=NOW)
    assert result.fired and result.minted is not None
    assert _claims(signer, result.minted.token)["email"] == "org@acme.example"


def test_fqdn_falls_back_to_result(signer: HandoverSigner) -> None:
    record = make_record(request={"orgEmail": "org@acme.example"})
    result = fire_handover(record, signer, now=NOW)
    assert result.fired and result.minted is not None
    assert _claims(signer, result.minted.token)["sovereign_fqdn"] == FQDN


def test_event_expiry_follows_the_token_ttl(signer: HandoverSigner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_TTL, "600")
    result = fire_handover(make_record(), signer, now=NOW)
    assert json.loads(result.events[0].message)["expiresAt"] == "2026-05-04T09:41:12Z"


def test_message_json_is_compact_sorted_and_not_html_escaped() -> None:
    at = datetime(2026, 5, 4, 9, 36, 12, 999000, tzinfo=timezone.utc)
    msg = handover_ready_message("https://console.a.example/auth/handover?token=x&y=<z>", at)
    assert msg == '{"expiresAt":"2026-05-04T09:36:12Z","handoverURL":"https://console.a.example/auth/handover?token=x&y=<z>"}'


# --- manual_handover ------------------------------------------------------------------------------

@pytest.mark.parametrize("status", ["failed", "phase1-watching", "provisioning", "partial-failure", "wiped", "", "x" * 200])
def test_manual_refuses_unless_ready_or_adopted(signer: HandoverSigner, status: str) -> None:
    record = make_record(status=status)
    before = to_catalyst_json(record)
    with pytest.raises(HandoverRefused) as err:
        manual_handover(record, signer, now=NOW, reissue=True)
    assert err.value.exit_code == EXIT_REFUSED == 5
    message = str(err.value)
    assert message.startswith(f"{record.id}: status is ") and "not ready or adopted" in message
    assert "\n" not in message and len(message) < 200
    assert to_catalyst_json(record) == before


def test_manual_mints_records_and_appends_the_event(signer: HandoverSigner) -> None:
    record = make_record()
    result = manual_handover(record, signer, now=NOW, reissue=False)
    assert result.reissued is False and result.previous_fired_at is None
    assert record.result is not None
    assert record.result.handoverURL == result.url == result.minted.url
    assert record.result.handoverFiredAt == "2026-05-04T09:31:12.2209Z"
    assert record.event_list() == [result.event]
    assert result.event.phase == "handover-ready"
    assert json.loads(result.event.message) == {"expiresAt": "2026-05-04T09:36:12Z", "handoverURL": result.url}
    assert _claims(signer, result.minted.token)["role"] == "sovereign-admin"
    assert result.minted.token not in repr(result)


def test_manual_refuses_a_second_fire_without_reissue(signer: HandoverSigner) -> None:
    record = make_record()
    fire_handover(record, signer, now=NOW)
    before = to_catalyst_json(record)
    with pytest.raises(HandoverRefused) as err:
        manual_handover(record, signer, now=NOW + timedelta(minutes=10), reissue=False)
    assert str(err.value) == (
        f"{record.id}: handover already fired at 2026-05-04T09:31:12.2209Z; "
        "use --reissue to mint a fresh token (tokens expire after 5 minutes)"
    )
    assert err.value.exit_code == 5
    assert to_catalyst_json(record) == before


def test_manual_reissue_mints_a_fresh_token(signer: HandoverSigner) -> None:
    record = make_record()
    first = fire_handover(record, signer, now=NOW)
    record.append_events(first.events)
    later = NOW + timedelta(minutes=10)
    result = manual_handover(record, signer, now=later, reissue=True)
    assert first.minted is not None
    assert result.reissued is True and result.previous_fired_at == "2026-05-04T09:31:12.2209Z"
    assert result.url != first.minted.url and result.minted.jti != first.minted.jti
    assert record.result is not None and record.result.handoverURL == result.url
    assert record.result.handoverFiredAt == "2026-05-04T09:41:12.2209Z"
    assert [e.phase for e in record.event_list()] == ["handover-ready", "handover-ready"]
    assert json.loads(record.event_list()[-1].message)["expiresAt"] == "2026-05-04T09:46:12Z"


def test_manual_works_on_a_slim_adopted_record(signer: HandoverSigner) -> None:
    record = make_record(
        status="adopted", result=None, events=None, ownerEmail="",
        adoptedAt="2026-05-05T10:00:00Z", finishedAt="2026-05-05T10:00:00Z",
    )
    result = manual_handover(record, signer, now=NOW, reissue=False)
    assert record.result is not None and record.result.sovereignFQDN == FQDN
    assert _claims(signer, result.minted.token)["email"] == "org@acme.example"
    again = loads_record(to_catalyst_json(record))
    assert again.status == "adopted" and again.result is not None and again.result.handoverURL == result.url


@pytest.mark.parametrize(
    "overrides, reason",
    [
        ({"request": {"orgEmail": "o@x.example"}, "result": {"phase1Outcome": "ready"}}, "no Sovereign FQDN"),
        ({"request": {"orgEmail": "o@x.example", "sovereignFQDN": "a/b"}}, "not a DNS name"),
        ({"ownerEmail": "", "request": {"sovereignFQDN": FQDN}}, "no owner email"),
    ],
)
def test_manual_refuses_without_fqdn_or_email(signer: HandoverSigner, overrides: dict, reason: str) -> None:
    record = make_record(**overrides)
    before = to_catalyst_json(record)
    with pytest.raises(HandoverRefused, match=reason) as err:
        manual_handover(record, signer, now=NOW, reissue=False)
    assert err.value.exit_code == 5 and str(err.value).startswith(record.id)
    assert to_catalyst_json(record) == before


def test_manual_refuses_without_signer() -> None:
    with pytest.raises(HandoverRefused, match="signing key"):
        manual_handover(make_record(), None, now=NOW, reissue=False)


# --- preconditions --------------------------------------------------------------------------------

def test_preconditions_all_met() -> None:
    assert handover_preconditions(make_record(), None) == []
    assert handover_preconditions(make_record(), {"cilium": "installed"}) == []


def test_preconditions_report_every_problem() -> None:
    record = make_record(status="failed", ownerEmail="", request={}, result={"phase1Outcome": "failed"})
    states = {f"c{i}": "installed" for i in range(9)} | {"keycloak": "failed", "gitea": "degraded"}
    problems = handover_preconditions(record, states)
    assert problems == [
        "status is failed, not ready",
        "2 of 11 components not installed (keycloak failed, gitea degraded)",
        "no FQDN",
        "no owner email",
    ]


def test_preconditions_read_component_states_from_the_record() -> None:
    record = make_record()
    assert record.result is not None and record.result.componentStates is not None
    record.result.componentStates = dict(record.result.componentStates, gitea="failed")
    assert handover_preconditions(record, None) == ["1 of 11 components not installed (gitea failed)"]

    # Before Phase 1 finished the last component event wins (§9.4).
    watching = make_record(
        status="phase1-watching",
        result={"sovereignFQDN": FQDN},
        events=[
            {"time": "2026-05-04T09:10:00Z", "phase": "component", "level": "info", "message": "m", "component": "cilium", "state": "installing"},
            {"time": "2026-05-04T09:11:00Z", "phase": "component", "level": "info", "message": "m", "component": "cilium", "state": "installed"},
            {"time": "2026-05-04T09:11:00Z", "phase": "component", "level": "info", "message": "m", "component": "flux", "state": "pending"},
        ],
    )
    assert handover_preconditions(watching, None) == [
        "status is phase1-watching, not ready",
        "1 of 2 components not installed (flux pending)",
    ]


def test_preconditions_without_states_and_for_adopted() -> None:
    assert handover_preconditions(make_record(result={"sovereignFQDN": FQDN}), None) == ["no component states recorded"]
    adopted = make_record(status="adopted", result=None, events=None)
    assert handover_preconditions(adopted, None) == []


def test_preconditions_list_at_most_four_components() -> None:
    states = {f"c{i}": "pending" for i in range(6)}
    [problem] = handover_preconditions(make_record(), states)
    assert problem == "6 of 6 components not installed (c0 pending, c1 pending, c2 pending, c3 pending, …)"
