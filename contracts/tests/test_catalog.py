"""The event catalogue, traceparent helpers, dead-letter headers and example factories."""

import json
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest
from pydantic import ValidationError

from retour_contracts import (
    ACTIVITY_LAUNCHED_V1,
    AID_GRANTED_V1,
    CASE_EVENTS,
    CATALOG,
    RETURNEE_REGISTERED_V1,
    RETURNEE_REGISTERED_V2,
    ActivityLaunched,
    AidGranted,
    CaseAssigned,
    CaseClosed,
    CaseReopened,
    ConsentChanged,
    ExpectedArrivalClosed,
    FollowUpScheduled,
    Money,
    PlanAgreed,
    ReferralUpdated,
    ReintegrationAssessed,
    ReturneeErased,
    ReturneeExpected,
    ReturneeMerged,
    ReturneeRegistered,
    ReturneeRegisteredV2,
    ReturneeUpdated,
    is_valid_traceparent,
    new_traceparent,
    spec_for_ce_type,
    spec_for_model,
    spec_for_topic,
)
from retour_contracts.dlq import DLQ_HEADER_DESCRIPTIONS, dead_letter_headers
from retour_contracts.examples import (
    RETURNEE_ID,
    SECOND_RETURNEE_ID,
    example_activity_launched,
    example_aid_granted,
    example_for,
    example_returnee_registered,
    returnee_registered_data,
)
from retour_contracts.models.types import PERSONAL_DATA_MARK, ContractModel
from retour_contracts.schemas import event_json_schema
from retour_contracts.traceparent import validate_traceparent


def test_catalogue_entries() -> None:
    assert [(s.topic, s.model, s.producer, s.consumers) for s in CATALOG] == [
        (
            "returnee.registered",
            ReturneeRegistered,
            "intake",
            ("reintegration", "notifications", "reporting"),
        ),
        (
            "returnee.registered",
            ReturneeRegisteredV2,
            "intake",
            ("reintegration", "notifications", "reporting"),
        ),
        (
            "returnee.updated",
            ReturneeUpdated,
            "intake",
            ("reintegration", "notifications", "reporting"),
        ),
        (
            "returnee.merged",
            ReturneeMerged,
            "intake",
            ("reintegration", "notifications", "reporting"),
        ),
        ("aid.granted", AidGranted, "reintegration", ("notifications", "reporting")),
        ("activity.launched", ActivityLaunched, "reintegration", ("notifications", "reporting")),
        ("returnee.erased", ReturneeErased, "intake", ("notifications",)),
        ("consent.changed", ConsentChanged, "intake", ("notifications",)),
        ("case.assigned", CaseAssigned, "reintegration", ("notifications",)),
        ("case.closed", CaseClosed, "reintegration", ("notifications", "reporting")),
        ("case.reopened", CaseReopened, "reintegration", ("notifications", "reporting")),
        ("reintegration.plan_agreed", PlanAgreed, "reintegration", ("reporting",)),
        ("referral.updated", ReferralUpdated, "reintegration", ("reporting",)),
        (
            "follow_up.scheduled",
            FollowUpScheduled,
            "reintegration",
            ("notifications", "reporting"),
        ),
        (
            "reintegration.assessed",
            ReintegrationAssessed,
            "reintegration",
            ("notifications", "reporting"),
        ),
        ("returnee.expected", ReturneeExpected, "intake", ("notifications", "reporting")),
        ("expected_arrival.closed", ExpectedArrivalClosed, "intake", ("reporting",)),
    ]
    assert [s.version for s in CATALOG] == [1, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]
    for spec in CATALOG:
        assert spec.topic == spec.name
        assert spec.dlq_topic == f"{spec.name}.dlq"
        assert spec.default_partitions == 6
        assert spec.ce_type == f"org.retour.{spec.name}.v{spec.version}"
        assert spec.schema_file == f"{spec.name}.v{spec.version}.json"


def test_keys() -> None:
    assert RETURNEE_REGISTERED_V1.key(example_returnee_registered()) == str(RETURNEE_ID)
    assert AID_GRANTED_V1.key(example_aid_granted()) == str(RETURNEE_ID)
    collective = example_activity_launched(
        returnee_ids=[SECOND_RETURNEE_ID, RETURNEE_ID], level="collective"
    )
    assert ACTIVITY_LAUNCHED_V1.key(collective) == str(SECOND_RETURNEE_ID)


def test_lookups() -> None:
    assert spec_for_topic("aid.granted") is AID_GRANTED_V1
    assert spec_for_model(ActivityLaunched) is ACTIVITY_LAUNCHED_V1
    assert spec_for_ce_type("org.retour.returnee.registered.v1") is RETURNEE_REGISTERED_V1
    assert spec_for_ce_type("org.retour.returnee.registered.v2") is RETURNEE_REGISTERED_V2
    assert spec_for_topic("returnee.registered") is RETURNEE_REGISTERED_V2  # the current one
    assert spec_for_ce_type("org.retour.returnee.registered.v9") is None
    with pytest.raises(KeyError, match=r"aid\.refused"):
        spec_for_topic("aid.refused")
    with pytest.raises(KeyError, match="Money is not an event"):
        spec_for_model(Money)


def test_new_traceparent_is_valid_and_random() -> None:
    values = {new_traceparent() for _ in range(20)}
    assert len(values) == 20
    assert all(is_valid_traceparent(value) for value in values)
    assert all(value.startswith("00-") and value.endswith("-01") for value in values)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    ],
)
def test_invalid_traceparents(value: str) -> None:
    assert not is_valid_traceparent(value)
    with pytest.raises(ValueError, match="invalid traceparent"):
        validate_traceparent(value)


def test_dead_letter_headers_keep_the_original() -> None:
    original = [("ce_id", b"e-1"), ("dlq_reason", b"old failure")]
    headers = dead_letter_headers(
        original,
        reason="missing header ce_type",
        code="missing_header",
        consumer="reporting",
        topic="aid.granted",
        partition=3,
        offset=42,
        failed_at=datetime(2024, 6, 12, 9, 30, tzinfo=UTC),
    )
    as_dict = dict(headers)
    assert len(headers) == len(as_dict)  # the stale dlq_reason was replaced, not repeated
    assert as_dict["ce_id"] == b"e-1"
    assert as_dict["dlq_reason"] == b"missing header ce_type"
    assert as_dict["dlq_original_partition"] == b"3"
    assert as_dict["dlq_failed_at"] == b"2024-06-12T09:30:00Z"
    assert set(DLQ_HEADER_DESCRIPTIONS) <= set(as_dict)


def test_examples_are_stable_and_overridable() -> None:
    assert example_returnee_registered() == example_returnee_registered()
    fresh = uuid4()
    event = example_returnee_registered(returnee_id=fresh, personal={"national_id": "123456789"})
    assert event.returnee_id == fresh
    assert event.personal.national_id == "123456789"
    assert event.personal.given_name == "Aminata"  # nested overrides merge
    data = returnee_registered_data(
        returnee_id=fresh, registered_at=datetime(2024, 6, 12, tzinfo=UTC)
    )
    assert data["returnee_id"] == str(fresh)  # the *_data form stays JSON-compatible
    assert data["registered_at"] == "2024-06-12T00:00:00Z"
    for spec in CATALOG:
        assert isinstance(example_for(spec.model), spec.model)
    with pytest.raises(KeyError):
        example_for(Money)


def test_case_events_keep_a_persons_order_and_carry_no_personal_data() -> None:
    for spec in CASE_EVENTS:
        event = example_for(spec.model)
        assert spec.producer == "reintegration"
        assert spec.key(event) == str(event.returnee_id)
        schema = json.dumps(event_json_schema(spec))
        assert PERSONAL_DATA_MARK not in schema
        assert "x-sealed-personal-data" not in schema


@pytest.mark.parametrize(
    ("model", "overrides", "message"),
    [
        (ReintegrationAssessed, {"outcome": "unreachable"}, "scores are given exactly"),
        (ReintegrationAssessed, {"scores": None}, "scores are given exactly"),
        (ReintegrationAssessed, {"follow_up_id": None}, "follow_up_id is given exactly"),
        (
            ReintegrationAssessed,
            {"kind": "baseline", "follow_up_id": None},
            "period_months is given exactly",
        ),
        (
            PlanAgreed,
            {
                "items": [
                    {
                        "item_id": str(uuid4()),
                        "dimension": "social",
                        "provider": "retour",
                        "partner_id": str(uuid4()),
                        "target_date": "2024-08-01",
                        "status": "planned",
                    }
                ]
            },
            "partner_id is given exactly",
        ),
        (PlanAgreed, {"items": []}, "at least 1 item"),
    ],
)
def test_case_events_refuse_inconsistent_contents(
    model: type[ContractModel], overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        example_for(model, **overrides)
