"""Valid example events, for tests, fixtures and OpenAPI / AsyncAPI examples.

Defaults are fixed (ids, times), so generated documents stay stable; pass ``returnee_id=uuid4()``
and friends when a test needs distinct records. Overrides are merged into the JSON form of the
example: a ``dict`` override of a nested object (``personal``, ``consents``, ``location``,
``amount``...) is merged key by key, anything else replaces the value. The ``*_data`` functions
return that JSON form without validating, to build invalid payloads.

The people are fictitious; the phone number is the libphonenumber example number for Mali.
"""

from collections.abc import Mapping
from functools import partial
from typing import Any, TypeVar, cast
from uuid import UUID

from pydantic_core import to_jsonable_python

from retour_contracts.models import (
    ActivityLaunched,
    AidGranted,
    CaseAssigned,
    CaseClosed,
    CaseReopened,
    ConsentChanged,
    ContractModel,
    ExpectedArrivalClosed,
    ExpectedPersonal,
    FollowUpScheduled,
    PlanAgreed,
    ReferralUpdated,
    ReintegrationAssessed,
    ReturneeErased,
    ReturneeExpected,
    ReturneeMerged,
    ReturneeRegistered,
    ReturneeRegisteredV2,
    ReturneeUpdated,
)
from retour_contracts.sealing import UPDATED, seal_expected, seal_personal, seal_registration

M = TypeVar("M", bound=ContractModel)

RETURNEE_ID = UUID("5f0c6d1e-8a3b-4c2d-9e7f-1a2b3c4d5e6f")
SECOND_RETURNEE_ID = UUID("7d2e4f60-1b3c-4a5d-8e9f-0a1b2c3d4e5f")
AID_ID = UUID("a1d0b2c3-d4e5-4f60-8a7b-9c0d1e2f3a4b")
ACTIVITY_ID = UUID("ac71b2c3-d4e5-4f60-9a7b-8c9d0e1f2a3b")
PLAN_ITEM_ID = UUID("9e1a2b3c-4d5e-4f60-8172-8394a5b6c7d8")
PARTNER_ID = UUID("0a9b8c7d-6e5f-4a3b-9c1d-2e3f4a5b6c7d")
REFERRAL_ID = UUID("4e5f6a7b-8c9d-4e0f-a1b2-c3d4e5f6a7b8")
FOLLOW_UP_ID = UUID("f0110e00-3a6b-4c7d-8e9f-a0b1c2d3e4f5")
ASSESSMENT_ID = UUID("a55e5500-1b2c-4d3e-8f4a-5b6c7d8e9f0a")
EXPECTED_ID = UUID("e8ec7ed0-2b3c-4d5e-9f60-718293a4b5c6")
WAVE_ID = UUID("3a7e0000-4b5c-4d6e-8f70-8192a3b4c5d6")

_RETURNEE_REGISTERED: dict[str, Any] = {
    "returnee_id": str(RETURNEE_ID),
    "registered_at": "2024-06-12T09:30:00Z",
    "reception_centre": "bamako",
    "arrival_date": "2024-06-11",
    "return_type": "emergency_evacuation",
    "host_country": "CI",
    "region_of_origin": "sikasso",
    "sex": "female",
    "age_years": 27,
    "age_is_estimated": False,
    "household_size": 4,
    "vulnerabilities": ["pregnant_or_lactating"],
    "preferred_language": "bm",
    "consents": {"data_processing": True, "sms_contact": True, "partner_sharing": True},
    "personal": {
        "given_name": "Aminata",
        "family_name": "Diarra",
        "other_names": None,
        "date_of_birth": "1997-03-14",
        "phone": "+22365012345",
        "national_id": None,
    },
    "possible_duplicate_of": [],
    "duplicate_confirmed_by": None,
}

_AID_GRANTED: dict[str, Any] = {
    "aid_id": str(AID_ID),
    "returnee_id": str(RETURNEE_ID),
    "granted_at": "2024-07-03T14:00:00Z",
    "phase": "reintegration",
    "category": "business_start_up_grant",
    "dimension": "economic",
    "level": "individual",
    "modality": "direct",
    "partner": None,
    "amount": {"amount": "350000", "currency": "XOF"},
    "granted_by": "agent.bamako.014",
    "late": False,
}

_ACTIVITY_LAUNCHED: dict[str, Any] = {
    "activity_id": str(ACTIVITY_ID),
    "returnee_ids": [str(RETURNEE_ID)],
    "launched_at": "2024-07-20T10:00:00Z",
    "sector": "commerce",
    "location": {"region": "sikasso", "commune": "Sikasso"},
    "funding": {"amount": "350000", "currency": "XOF"},
    "shares": [],
    "aid_ids": [str(AID_ID)],
    "level": "individual",
}


def _merge(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for name, value in overrides.items():
        current = merged.get(name)
        if isinstance(value, Mapping) and isinstance(current, Mapping):
            merged[name] = _merge(current, value)
        else:
            # UUID, datetime, Decimal, enums and models become their JSON form, so the
            # ``*_data`` payloads can be sent as they are by an HTTP test client.
            merged[name] = to_jsonable_python(value)
    return merged


def returnee_registered_data(**overrides: Any) -> dict[str, Any]:
    """JSON-compatible payload of ``returnee.registered``, not validated."""
    return _merge(_RETURNEE_REGISTERED, overrides)


def aid_granted_data(**overrides: Any) -> dict[str, Any]:
    """JSON-compatible payload of ``aid.granted``, not validated."""
    return _merge(_AID_GRANTED, overrides)


def activity_launched_data(**overrides: Any) -> dict[str, Any]:
    """JSON-compatible payload of ``activity.launched``, not validated."""
    return _merge(_ACTIVITY_LAUNCHED, overrides)


def example_returnee_registered(**overrides: Any) -> ReturneeRegistered:
    """A valid ``ReturneeRegistered`` (raises ``ValidationError`` if overrides make it invalid)."""
    return ReturneeRegistered.model_validate(returnee_registered_data(**overrides))


EXAMPLE_DATA_KEY = bytes(range(32))
"""The data key the examples of version 2 are sealed with (documents and tests only)."""
EXAMPLE_EVENT_ID = "0b9f6f1c-3c1e-4f0a-9d55-6f2f1f1e2a10"
"""The event id (``ce_id``) the examples of version 2 are sealed for."""


def example_returnee_registered_v2(**overrides: Any) -> ReturneeRegisteredV2:
    """The example registration with its personal block sealed under ``EXAMPLE_DATA_KEY`` for
    ``EXAMPLE_EVENT_ID``; the nonce is fixed so that generated documents stay stable."""
    return seal_registration(
        example_returnee_registered(**overrides),
        EXAMPLE_DATA_KEY,
        event_id=EXAMPLE_EVENT_ID,
        nonce=bytes(12),
    )


def example_aid_granted(**overrides: Any) -> AidGranted:
    """A valid ``AidGranted`` for the example returnee."""
    return AidGranted.model_validate(aid_granted_data(**overrides))


def example_activity_launched(**overrides: Any) -> ActivityLaunched:
    """A valid ``ActivityLaunched`` funded by the example aid."""
    return ActivityLaunched.model_validate(activity_launched_data(**overrides))


_RETURNEE_ERASED: dict[str, Any] = {
    "returnee_id": str(RETURNEE_ID),
    "erased_at": "2024-09-02T08:00:00Z",
    "reason": "data_subject_request",
}

_CONSENT_CHANGED: dict[str, Any] = {
    "returnee_id": str(RETURNEE_ID),
    "changed_at": "2024-08-01T09:30:00Z",
    "sms_contact": False,
    "partner_sharing": None,
}


def example_returnee_erased(**overrides: Any) -> ReturneeErased:
    """A valid ``ReturneeErased`` of the example returnee."""
    return ReturneeErased.model_validate(_merge(_RETURNEE_ERASED, overrides))


def example_consent_changed(**overrides: Any) -> ConsentChanged:
    """A valid ``ConsentChanged``: the example returnee withdraws SMS contact."""
    return ConsentChanged.model_validate(_merge(_CONSENT_CHANGED, overrides))


def example_returnee_updated(**overrides: Any) -> ReturneeUpdated:
    """A valid ``ReturneeUpdated``: the example returnee got a new phone and now prefers French.
    The personal block after the change is sealed under ``EXAMPLE_DATA_KEY`` for
    ``EXAMPLE_EVENT_ID`` with a fixed nonce, like the registration's example."""
    personal = example_returnee_registered(personal={"phone": "+22376012345"}).personal
    sealed = seal_personal(
        personal, EXAMPLE_DATA_KEY, event_id=EXAMPLE_EVENT_ID, nonce=bytes(12), event_name=UPDATED
    )
    data = {
        "returnee_id": str(RETURNEE_ID),
        "version": 2,
        "updated_at": "2024-07-01T10:15:00Z",
        "updated_by": "agent.bamako.014",
        "reason": "new_information",
        "changed": ["preferred_language", "personal.phone"],
        "facts": {"preferred_language": "fr"},
        "sealed_personal": sealed.model_dump(mode="json"),
    }
    return ReturneeUpdated.model_validate(_merge(data, overrides))


def example_returnee_merged(**overrides: Any) -> ReturneeMerged:
    """A valid ``ReturneeMerged``: the second example returnee was the first one again."""
    data = {
        "returnee_id": str(SECOND_RETURNEE_ID),
        "merged_into": str(RETURNEE_ID),
        "merged_at": "2024-06-20T11:00:00Z",
        "merged_by": "supervisor.bamako.2",
    }
    return ReturneeMerged.model_validate(_merge(data, overrides))


EXPECTED_PERSONAL: dict[str, Any] = {
    "given_name": "Awa",
    "family_name": "Traoré",
    "date_of_birth": "1997-01-15",
    "passport_number": "AA0123456",
}


def example_returnee_expected(**overrides: Any) -> ReturneeExpected:
    """A person of the example wave, sealed under ``EXAMPLE_DATA_KEY`` for ``EXAMPLE_EVENT_ID``
    with a fixed nonce; ``personal=`` overrides what is sealed."""
    personal = ExpectedPersonal.model_validate(
        _merge(EXPECTED_PERSONAL, overrides.pop("personal", {}))
    )
    sealed = seal_expected(personal, EXAMPLE_DATA_KEY, event_id=EXAMPLE_EVENT_ID, nonce=bytes(12))
    data = {
        "expected_id": str(EXPECTED_ID),
        "wave_id": str(WAVE_ID),
        "wave_name": "Évacuation Port-Bouët, vol 2",
        "wave_size": 415,
        "reception_centre": "bamako",
        "expected_date": "2024-06-11",
        "host_country": "CI",
        "announced_at": "2024-06-09T16:00:00Z",
        "announced_by": "supervisor.bamako.2",
        "sex": "female",
        "age_years": 27,
        "vulnerabilities": [],
        "sealed_personal": sealed.model_dump(mode="json"),
    }
    return ReturneeExpected.model_validate(_merge(data, overrides))


def example_expected_arrival_closed(**overrides: Any) -> ExpectedArrivalClosed:
    """The example expected person, closed for not arriving within the configured time."""
    data = {
        "expected_id": str(EXPECTED_ID),
        "wave_id": str(WAVE_ID),
        "reception_centre": "bamako",
        "reason": "lapsed",
        "closed_at": "2024-07-11T00:05:00Z",
        "closed_by": "intake",
    }
    return ExpectedArrivalClosed.model_validate(_merge(data, overrides))


_CASE_EVENTS: dict[type[ContractModel], dict[str, Any]] = {
    CaseAssigned: {
        "returnee_id": str(RETURNEE_ID),
        "reception_centre": "bamako",
        "assigned_to": "caseworker.bamako.3",
        "previous": None,
        "assigned_by": "supervisor.bamako.2",
        "assigned_at": "2024-06-17T09:00:00Z",
    },
    CaseClosed: {
        "returnee_id": str(RETURNEE_ID),
        "reason": "reintegration_completed",
        "closed_at": "2025-06-20T10:00:00Z",
        "closed_by": "caseworker.bamako.3",
    },
    CaseReopened: {
        "returnee_id": str(RETURNEE_ID),
        "reason": "new_needs",
        "reopened_at": "2025-07-02T08:30:00Z",
        "reopened_by": "supervisor.bamako.2",
    },
    PlanAgreed: {
        "returnee_id": str(RETURNEE_ID),
        "revision": 1,
        "agreed_on": "2024-07-05",
        "agreed_by": "caseworker.bamako.3",
        "recorded_at": "2024-07-05T15:00:00Z",
        "items": [
            {
                "item_id": str(PLAN_ITEM_ID),
                "dimension": "economic",
                "provider": "partner",
                "partner_id": str(PARTNER_ID),
                "target_date": "2024-09-30",
                "status": "planned",
            }
        ],
    },
    ReferralUpdated: {
        "referral_id": str(REFERRAL_ID),
        "returnee_id": str(RETURNEE_ID),
        "plan_item_id": str(PLAN_ITEM_ID),
        "partner_id": str(PARTNER_ID),
        "partner_name": "Centre de formation professionnelle de Bamako",
        "dimension": "economic",
        "status": "accepted",
        "sent_at": "2024-07-06T09:00:00Z",
        "status_at": "2024-07-10T11:00:00Z",
        "updated_by": "caseworker.bamako.3",
    },
    FollowUpScheduled: {
        "follow_up_id": str(FOLLOW_UP_ID),
        "returnee_id": str(RETURNEE_ID),
        "reception_centre": "bamako",
        "period_months": 3,
        "due_on": "2024-09-15",
    },
    ReintegrationAssessed: {
        "assessment_id": str(ASSESSMENT_ID),
        "returnee_id": str(RETURNEE_ID),
        "kind": "follow_up",
        "follow_up_id": str(FOLLOW_UP_ID),
        "period_months": 3,
        "outcome": "completed",
        "scores": {"economic": 0.52, "social": 0.61, "psychosocial": 0.7, "composite": 0.6},
        "method": "rss-2017",
        "assessed_at": "2024-09-16T10:00:00Z",
        "assessed_by": "caseworker.bamako.3",
    },
}


def example_case_event(model: type[M], **overrides: Any) -> M:
    """A valid event of a case's life (``CaseAssigned``, ``PlanAgreed``, ...) of the example
    returnee, with ``overrides`` merged in."""
    return model.model_validate(_merge(_CASE_EVENTS[model], overrides))


_FACTORIES = {
    ReturneeRegistered: example_returnee_registered,
    ReturneeRegisteredV2: example_returnee_registered_v2,
    ReturneeUpdated: example_returnee_updated,
    ReturneeMerged: example_returnee_merged,
    AidGranted: example_aid_granted,
    ActivityLaunched: example_activity_launched,
    ReturneeErased: example_returnee_erased,
    ConsentChanged: example_consent_changed,
    ReturneeExpected: example_returnee_expected,
    ExpectedArrivalClosed: example_expected_arrival_closed,
    **{
        model: partial(example_case_event, model)  # type: ignore[misc]
        for model in _CASE_EVENTS
    },
}


def example_for(model: type[M], **overrides: Any) -> M:
    """The example of any event class, e.g. ``example_for(spec.model)`` in parametrised tests."""
    factory = _FACTORIES.get(model)
    if factory is None:
        raise KeyError(f"no example for {model.__name__}")
    return cast(M, factory(**overrides))
