"""Validation rules of ``aid.granted`` and ``activity.launched``."""

from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest
from pydantic import BaseModel, ValidationError

from retour_contracts import ActivityLaunched, AidGranted, Level, Money
from retour_contracts.examples import (
    AID_ID,
    RETURNEE_ID,
    SECOND_RETURNEE_ID,
    activity_launched_data,
    aid_granted_data,
    example_activity_launched,
    example_aid_granted,
)


def _locations(model: type[BaseModel], data: dict[str, Any]) -> set[str]:
    with pytest.raises(ValidationError) as info:
        model.model_validate(data)
    return {".".join(str(part) for part in item["loc"]) for item in info.value.errors()}


def test_aid_example() -> None:
    aid = example_aid_granted()
    assert aid.amount == Money(amount=350000)
    assert aid.late is False
    assert aid.granted_at == datetime(2024, 7, 3, 14, tzinfo=UTC)


def test_aid_without_amount_and_partner() -> None:
    aid = example_aid_granted(phase="immediate", category="lodging", amount=None)
    assert aid.amount is None
    assert aid.partner is None


def test_aid_naive_datetime() -> None:
    assert _locations(AidGranted, aid_granted_data(granted_at="2024-07-03T14:00:00")) == {
        "granted_at"
    }


def test_aid_unknown_category() -> None:
    assert _locations(AidGranted, aid_granted_data(category="weapons")) == {"category"}


def test_aid_bad_currency() -> None:
    data = aid_granted_data(amount={"currency": "ABC"})
    assert _locations(AidGranted, data) == {"amount.currency"}


def test_referral_needs_partner() -> None:
    assert _locations(AidGranted, aid_granted_data(modality="referral")) == {"partner"}
    aid = example_aid_granted(modality="referral", partner="Caritas Mali")
    assert aid.partner == "Caritas Mali"


def test_late_only_for_immediate_aid() -> None:
    assert example_aid_granted(phase="immediate", late=True).late is True
    assert _locations(AidGranted, aid_granted_data(late=True)) == {"late"}


def test_aid_ignores_unknown_fields() -> None:
    assert AidGranted.model_validate(aid_granted_data(voucher_code="A1")) == example_aid_granted()


def test_activity_example() -> None:
    activity = example_activity_launched()
    assert activity.returnee_ids == [RETURNEE_ID]
    assert activity.aid_ids == [AID_ID]
    assert activity.shares == []


def _collective(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "returnee_ids": [str(RETURNEE_ID), str(SECOND_RETURNEE_ID)],
        "level": "collective",
        "shares": [
            {"returnee_id": str(RETURNEE_ID), "amount": {"amount": "200000"}},
            {"returnee_id": str(SECOND_RETURNEE_ID), "amount": {"amount": "150000"}},
        ],
    }
    return activity_launched_data(**{**base, **overrides})


def test_collective_activity_with_shares() -> None:
    activity = ActivityLaunched.model_validate(_collective())
    assert activity.level is Level.COLLECTIVE
    assert [share.amount.amount for share in activity.shares] == [200000, 150000]


def test_returnee_ids_must_not_be_empty() -> None:
    assert _locations(ActivityLaunched, activity_launched_data(returnee_ids=[])) == {"returnee_ids"}


def test_duplicate_returnee_ids() -> None:
    data = _collective(returnee_ids=[str(RETURNEE_ID), str(RETURNEE_ID)], shares=[])
    assert _locations(ActivityLaunched, data) == {"returnee_ids"}


def test_share_of_a_non_participant() -> None:
    stranger = {"returnee_id": str(uuid4()), "amount": {"amount": "1000"}}
    assert _locations(ActivityLaunched, _collective(shares=[stranger])) == {"shares"}


def test_two_shares_for_one_participant() -> None:
    share = {"returnee_id": str(RETURNEE_ID), "amount": {"amount": "1000"}}
    assert _locations(ActivityLaunched, _collective(shares=[share, share])) == {"shares"}


def test_individual_activity_has_one_participant() -> None:
    assert _locations(ActivityLaunched, _collective(level="individual")) == {"level"}


def test_activity_location_region_enum() -> None:
    data = activity_launched_data(location={"region": "paris"})
    assert _locations(ActivityLaunched, data) == {"location.region"}


def test_activity_naive_datetime() -> None:
    data = activity_launched_data(launched_at="2024-07-20T10:00:00")
    assert _locations(ActivityLaunched, data) == {"launched_at"}
