"""Examples of the response bodies, for the OpenAPI document.

One story, told the same way by every example: the returnee of the contracts' examples
(``retour_contracts.examples``) arrives at the Bamako centre on 11 June 2024 and is assigned to
a case worker; she is assessed, agrees a plan whose vocational training is referred to a
partner, receives a business start-up grant and launches a small trade; the 3-month visit
finds her working, the 6-month one does not reach her, her case is closed as unreachable and
reopened when contact is regained. The ids are the contracts' examples' or made up; people
appear as staff user ids only.

The examples of anything scored (assessments, visits, the case) are built when the document
is, not at import: the survey and its weights are read from their data file, and the scores
shown are the method's own for the answers shown.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from functools import cache
from uuid import UUID

from pydantic import JsonValue

from retour_contracts.examples import (
    ASSESSMENT_ID,
    PARTNER_ID,
    PLAN_ITEM_ID,
    REFERRAL_ID,
    RETURNEE_ID,
    activity_launched_data,
    aid_granted_data,
)
from retour_kit.pagination import encode_cursor
from retour_reintegration.domain.follow_up import follow_up_id_of
from retour_reintegration.domain.plan import (
    PLAN_ITEM_EXAMPLE,
    SECOND_PLAN_ITEM_EXAMPLE,
    STATUS_CHANGE_EXAMPLE,
)
from retour_reintegration.domain.sustainability import (
    METHOD,
    parse_answers,
    questionnaire,
    rss_method,
    score,
)

JsonDict = dict[str, JsonValue]

CASE_WORKER = "agent.bamako.014"
SUPERVISOR = "supervisor.bamako.2"
OTHER_RETURNEE_ID = UUID("2c4e6a8b-1d3f-4a5b-9c7d-8e0f1a2b3c4d")
"""Another returnee of the Bamako centre, registered two days later, nobody's case yet."""
LODGING_AID_ID = UUID("1d9e2f30-4a5b-4c6d-8e7f-90a1b2c3d4e5")
VULNERABILITY_ASSESSMENT_ID = UUID("5a1e55e0-2c3d-4e4f-9a5b-6c7d8e9f0a1b")
BASELINE_ASSESSMENT_ID = UUID("ba5e1100-3d4e-4f5a-8b6c-7d8e9f0a1b2c")
UNREACHABLE_VISIT_ID = UUID("0e7a1c2d-5b6c-4d7e-8f90-a1b2c3d4e5f6")
SECOND_PARTNER_ID = UUID("1b2c3d4e-5f60-4a7b-8c9d-0e1f2a3b4c5d")

REGISTERED_AT = "2024-06-12T09:30:00Z"
ARRIVAL_DATE = "2024-06-11"


def examples(*build: Callable[[], JsonDict]) -> Callable[[JsonDict], None]:
    """A model's ``json_schema_extra`` adding the examples ``build`` makes, when the schema
    is generated."""

    def add(schema: JsonDict) -> None:
        schema["examples"] = [example() for example in build]

    return add


# ---------------------------------------------------------------- cases


def case_summary() -> JsonDict:
    """The case as it is now: open (reopened), with its case worker."""
    return {
        "returnee_id": str(RETURNEE_ID),
        "reception_centre": "bamako",
        "region_of_origin": "sikasso",
        "arrival_date": ARRIVAL_DATE,
        "registered_at": REGISTERED_AT,
        "status": "open",
        "opened_at": "2024-06-12T09:30:02Z",
        "closed_at": None,
        "closure_reason": None,
        "closed_by": None,
        "merged_into": None,
        "assigned_to": CASE_WORKER,
    }


def closed_case_summary() -> JsonDict:
    """The case closed by its case worker once reintegration is complete."""
    return {
        **case_summary(),
        "status": "closed",
        "closed_at": "2025-06-20T10:00:00Z",
        "closure_reason": "reintegration_completed",
        "closed_by": CASE_WORKER,
    }


def other_case_summary() -> JsonDict:
    return {
        **case_summary(),
        "returnee_id": str(OTHER_RETURNEE_ID),
        "region_of_origin": "kayes",
        "arrival_date": "2024-06-14",
        "registered_at": "2024-06-14T10:05:00Z",
        "opened_at": "2024-06-14T10:05:01Z",
        "assigned_to": None,
    }


def case_page() -> JsonDict:
    """A page of two (``limit=2``): more cases follow."""
    last = other_case_summary()
    return {
        "items": [case_summary(), last],
        "next_cursor": encode_cursor(datetime(2024, 6, 14, 10, 5, tzinfo=UTC), OTHER_RETURNEE_ID),
    }


def budget() -> JsonDict:
    """The default budget (1,000,000 XOF), the business start-up grant deducted."""
    return {"currency": "XOF", "limit": "1000000", "granted": "350000", "remaining": "650000"}


def aid() -> JsonDict:
    """The business start-up grant (the aid.granted example)."""
    return {**aid_granted_data(), "exceeded_budget": False, "merged_from": None}


def lodging_aid() -> JsonDict:
    """Immediate care: a night's lodging at the centre on the day of registration."""
    return {
        **aid(),
        "aid_id": str(LODGING_AID_ID),
        "granted_at": "2024-06-12T11:00:00Z",
        "phase": "immediate",
        "category": "lodging",
        "dimension": "social",
        "amount": None,
    }


def activity() -> JsonDict:
    """The small trade funded by the grant (the activity.launched example)."""
    return {**activity_launched_data(), "launched_by": CASE_WORKER}


def transfer() -> JsonDict:
    """A case moved with the person to the Kayes centre (not this story's case)."""
    return {
        "version": 2,
        "transferred_at": "2024-08-02T09:00:00Z",
        "transferred_by": SUPERVISOR,
        "reason": "relocation",
        "from_centre": "bamako",
        "to_centre": "kayes",
    }


def assignment() -> JsonDict:
    return {
        "assigned_to": CASE_WORKER,
        "previous": None,
        "assigned_by": SUPERVISOR,
        "assigned_at": "2024-06-13T08:45:00Z",
        "reception_centre": "bamako",
    }


def reopening() -> JsonDict:
    return {
        "reason": "contact_regained",
        "reopened_at": "2025-01-08T10:00:00Z",
        "reopened_by": SUPERVISOR,
        "closure_reason": "returnee_unreachable",
        "closed_at": "2024-12-30T16:00:00Z",
        "closed_by": CASE_WORKER,
    }


def found_vulnerability() -> JsonDict:
    return {
        "vulnerability": "mental_health",
        "found_on": "2024-06-20",
        "found_by": CASE_WORKER,
        "assessment_id": str(VULNERABILITY_ASSESSMENT_ID),
    }


def case_details() -> JsonDict:
    return {
        **case_summary(),
        "budget": budget(),
        "aid": [lodging_aid(), aid()],
        "activities": [activity()],
        "transfers": [],
        "vulnerabilities": ["mental_health", "pregnant_or_lactating"],
        "vulnerabilities_found": [found_vulnerability()],
        "assignments": [assignment()],
        "assessments": [
            _without_document(vulnerability_assessment()),
            _without_document(baseline_assessment()),
        ],
        "follow_ups": [follow_up(), six_month_follow_up(), twelve_month_follow_up()],
        "reopenings": [reopening()],
    }


# ---------------------------------------------------------------- assessments and visits

# Answers other than the first choice (see survey_answers): at the baseline, a fortnight after
# the return, without work, in debt, unsure of staying; three months on, working in her trade.
_BASELINE_ANSWERS = {
    "economic_satisfaction": "dissatisfied",
    "food_reduction": "often",
    "can_borrow": "no",
    "borrowing_frequency": "sometimes",
    "debt_vs_spending": "debt_larger",
    "access_to_opportunities": "poor",
    "currently_working": "no",
    "productive_assets": "none",
    "looking_for_job": "yes",
    "access_to_housing": "fair",
    "housing_condition": "poor",
    "access_to_education": "fair",
    "children_in_school": "some",
    "access_to_justice": "fair",
    "access_to_documentation": "fair",
    "access_to_safe_water": "good",
    "access_to_health_care": "fair",
    "health_care_quality": "fair",
    "social_activities": "rarely",
    "support_network": "fair",
    "sense_of_belonging": "somewhat_agree",
    "physical_safety": "safe_most_of_the_time",
    "family_conflict": "sometimes",
    "discrimination": "rarely",
    "distress": "often",
    "wants_psychological_support": "yes",
    "able_to_stay": "dont_know",
    "reason_for_feeling": "wish_to_leave",
}
_THREE_MONTH_ANSWERS = {
    "economic_satisfaction": "neutral",
    "food_reduction": "sometimes",
    "borrowing_frequency": "rarely",
    "debt_vs_spending": "debt_larger",
    "access_to_opportunities": "fair",
    "access_to_housing": "fair",
    "housing_condition": "fair",
    "access_to_education": "fair",
    "access_to_justice": "fair",
    "access_to_documentation": "good",
    "access_to_safe_water": "good",
    "access_to_health_care": "good",
    "health_care_quality": "fair",
    "social_activities": "sometimes",
    "support_network": "good",
    "physical_safety": "safe_most_of_the_time",
    "family_conflict": "rarely",
    "distress": "sometimes",
}


def survey_answers(chosen: Mapping[str, str]) -> dict[str, str]:
    """A complete survey: each question asked answered as ``chosen``, else (or when the
    method no longer offers that answer) with its first choice."""
    answers: dict[str, str] = {}
    for question in rss_method().questions:
        condition = question.asked_when
        if condition is None or answers.get(condition[0]) in condition[1]:
            wanted = chosen.get(question.code, "")
            answers[question.code] = (
                wanted if wanted in question.choices else next(iter(question.choices))
            )
    return answers


def _scored(chosen: Mapping[str, str]) -> tuple[dict[str, str], JsonDict]:
    answers = survey_answers(chosen)
    scores = score(parse_answers(answers))
    return answers, scores.model_dump(mode="json")


def _without_document(view: JsonDict) -> JsonDict:
    return {k: v for k, v in view.items() if k != "document"}


def assessment_summary() -> JsonDict:
    return _without_document(baseline_assessment())


def vulnerability_assessment() -> JsonDict:
    """The vulnerabilities and family situation (the request's example), found mental_health."""
    return {
        "assessment_id": str(VULNERABILITY_ASSESSMENT_ID),
        "kind": "vulnerability_family",
        "assessed_on": "2024-06-20",
        "recorded_at": "2024-06-20T10:15:00Z",
        "recorded_by": CASE_WORKER,
        "scores": None,
        "method": None,
        "document": {
            "vulnerabilities": ["mental_health"],
            "household_size": 7,
            "dependants": 4,
            "family_support": "some",
            "family_attitude": "disappointed",
        },
    }


@cache
def _baseline() -> tuple[dict[str, str], JsonDict]:
    return _scored(_BASELINE_ANSWERS)


def baseline_assessment() -> JsonDict:
    answers, scores = _baseline()
    return {
        "assessment_id": str(BASELINE_ASSESSMENT_ID),
        "kind": "sustainability_baseline",
        "assessed_on": "2024-06-24",
        "recorded_at": "2024-06-24T14:40:00Z",
        "recorded_by": CASE_WORKER,
        "scores": dict(scores),
        "method": METHOD,
        "document": {"answers": dict(answers)},
    }


def assessment_list() -> JsonDict:
    return {"items": [vulnerability_assessment(), baseline_assessment()]}


@cache
def _three_months() -> tuple[dict[str, str], JsonDict]:
    return _scored(_THREE_MONTH_ANSWERS)


def visit() -> JsonDict:
    """The 3-month visit, completed (its assessment is the contracts' follow-up example)."""
    answers, scores = _three_months()
    return {
        "assessment_id": str(ASSESSMENT_ID),
        "outcome": "completed",
        "visited_on": "2024-09-12",
        "recorded_at": "2024-09-12T15:20:00Z",
        "recorded_by": CASE_WORKER,
        "scores": dict(scores),
        "method": METHOD,
        "follow_up_id": str(follow_up_id_of(RETURNEE_ID, 3)),
        "period_months": 3,
        "answers": dict(answers),
    }


def unreachable_visit() -> JsonDict:
    """The 6-month visit: the returnee could not be reached (it stays due)."""
    return {
        "assessment_id": str(UNREACHABLE_VISIT_ID),
        "outcome": "unreachable",
        "visited_on": "2024-12-12",
        "recorded_at": "2024-12-12T16:05:00Z",
        "recorded_by": CASE_WORKER,
        "scores": None,
        "method": METHOD,
        "follow_up_id": str(follow_up_id_of(RETURNEE_ID, 6)),
        "period_months": 6,
        "answers": None,
    }


def _summary_of(view: JsonDict) -> JsonDict:
    return {k: v for k, v in view.items() if k not in {"follow_up_id", "period_months", "answers"}}


def visit_summary() -> JsonDict:
    return _summary_of(visit())


def follow_up() -> JsonDict:
    return {
        "follow_up_id": str(follow_up_id_of(RETURNEE_ID, 3)),
        "period_months": 3,
        "due_on": "2024-09-11",
        "completed_on": "2024-09-12",
        "visits": [visit_summary()],
    }


def six_month_follow_up() -> JsonDict:
    return {
        "follow_up_id": str(follow_up_id_of(RETURNEE_ID, 6)),
        "period_months": 6,
        "due_on": "2024-12-11",
        "completed_on": None,
        "visits": [_summary_of(unreachable_visit())],
    }


def twelve_month_follow_up() -> JsonDict:
    return {
        "follow_up_id": str(follow_up_id_of(RETURNEE_ID, 12)),
        "period_months": 12,
        "due_on": "2025-06-11",
        "completed_on": None,
        "visits": [],
    }


def due_follow_up() -> JsonDict:
    return {
        "follow_up_id": str(follow_up_id_of(RETURNEE_ID, 6)),
        "returnee_id": str(RETURNEE_ID),
        "reception_centre": "bamako",
        "period_months": 6,
        "due_on": "2024-12-11",
        "assigned_to": CASE_WORKER,
        "unreachable_visits": 1,
    }


def follow_up_page() -> JsonDict:
    """A page of two (``limit=2``): more visits are due after these."""
    other: JsonDict = {
        "follow_up_id": str(follow_up_id_of(OTHER_RETURNEE_ID, 6)),
        "returnee_id": str(OTHER_RETURNEE_ID),
        "reception_centre": "bamako",
        "period_months": 6,
        "due_on": "2024-12-14",
        "assigned_to": None,
        "unreachable_visits": 0,
    }
    next_cursor = encode_cursor(date(2024, 12, 14), follow_up_id_of(OTHER_RETURNEE_ID, 6))
    return {"items": [due_follow_up(), other], "next_cursor": next_cursor}


def case_worker_load() -> JsonDict:
    return {
        "subject": CASE_WORKER,
        "centres": ["bamako"],
        "last_seen": "2025-01-15T08:12:00Z",
        "open_cases": 23,
        "follow_ups_overdue": 2,
        "follow_ups_due": 9,
    }


def case_worker_list() -> JsonDict:
    """A Bamako supervisor's view on 15 January 2025, visits due within 30 days."""
    return {
        "items": [
            case_worker_load(),
            {
                "subject": "agent.bamako.021",
                "centres": ["bamako"],
                "last_seen": "2025-01-14T17:40:00Z",
                "open_cases": 18,
                "follow_ups_overdue": 0,
                "follow_ups_due": 6,
            },
        ],
        "unassigned_open_cases": 4,
        "due_until": "2025-02-14",
    }


def sustainability_survey() -> JsonDict:
    """The survey as served: the method shipped with the service."""
    return questionnaire()


def survey_question() -> JsonDict:
    """A question asked after certain answers only, if the method has one."""
    questions: list[JsonDict] = questionnaire()["questions"]
    return next((q for q in questions if "asked_when" in q), questions[0])


# ---------------------------------------------------------------- partners

PARTNER_NAME = "Centre de formation professionnelle de Bamako"


def partner() -> JsonDict:
    """The partner of the registration request's example."""
    return {
        "partner_id": str(PARTNER_ID),
        "name": PARTNER_NAME,
        "centres": ["bamako"],
        "regions": ["koulikoro"],
        "services": ["in_kind_kit", "vocational_training"],
        "dimensions": ["economic"],
        "served_centres": ["bamako"],
        "contact": contact(),
        "active": True,
        "created_at": "2024-05-02T10:00:00Z",
        "created_by": SUPERVISOR,
        "updated_at": "2024-05-02T10:00:00Z",
        "updated_by": SUPERVISOR,
    }


def contact() -> JsonDict:
    return {
        "name": "Bureau d'accueil",
        "phone": "+223 20 22 00 00",
        "email": "accueil@cfp-bamako.example",
    }


def deactivated_partner() -> JsonDict:
    """The same partner once deactivated (PATCH ``{"active": false}``)."""
    return {
        **partner(),
        "active": False,
        "updated_at": "2025-02-03T11:30:00Z",
        "updated_by": SUPERVISOR,
    }


def partner_list() -> JsonDict:
    psychosocial: JsonDict = {
        "partner_id": str(SECOND_PARTNER_ID),
        "name": "Réseau d'appui psychosocial de Kayes",
        "centres": ["kayes"],
        "regions": [],
        "services": ["psychosocial"],
        "dimensions": ["psychosocial"],
        "served_centres": ["kayes"],
        "contact": None,
        "active": True,
        "created_at": "2024-05-06T09:20:00Z",
        "created_by": "supervisor.kayes.1",
        "updated_at": "2024-05-06T09:20:00Z",
        "updated_by": "supervisor.kayes.1",
    }
    return {"items": [partner(), psychosocial]}


# ---------------------------------------------------------------- plans and referrals


def plan_items(*, first_status: str = "planned") -> list[JsonValue]:
    first: JsonDict = {**PLAN_ITEM_EXAMPLE, "status": first_status}
    return [first, dict(SECOND_PLAN_ITEM_EXAMPLE)]


def draft_revision() -> JsonDict:
    """Revision 1 as drafted (the request's example)."""
    return {
        "revision": 1,
        "drafted_at": "2024-06-28T11:00:00Z",
        "drafted_by": CASE_WORKER,
        "agreed_on": None,
        "agreed_by": None,
        "agreed_at": None,
        "items": plan_items(),
    }


def agreed_revision(*, first_status: str = "planned") -> JsonDict:
    """Revision 1 agreed with the returnee on 5 July (the agreement request's example)."""
    return {
        **draft_revision(),
        "agreed_on": "2024-07-05",
        "agreed_by": CASE_WORKER,
        "agreed_at": "2024-07-05T15:00:00Z",
        "items": plan_items(first_status=first_status),
    }


def plan() -> JsonDict:
    """Agreed 24 days after arrival, within the month the Handbook aims at."""
    revision = agreed_revision(first_status="in_progress")
    return {
        "returnee_id": str(RETURNEE_ID),
        "current": revision,
        "agreed": revision,
        "revisions": [revision],
        "status_changes": [dict(STATUS_CHANGE_EXAMPLE)],
        "target_days": 30,
        "days_from_arrival_to_agreement": (date(2024, 7, 5) - date(2024, 6, 11)).days,
        "agreed_within_a_month": True,
    }


_SENT: JsonDict = {
    "status": "sent",
    "changed_at": "2024-07-06T09:00:00Z",
    "changed_by": CASE_WORKER,
}
_ACCEPTED: JsonDict = {
    "status": "accepted",
    "changed_at": "2024-07-10T11:00:00Z",
    "changed_by": CASE_WORKER,
}


def referral_step() -> JsonDict:
    return dict(_ACCEPTED)


def sent_referral() -> JsonDict:
    """The training item of the agreed plan, referred to its partner."""
    return {
        "referral_id": str(REFERRAL_ID),
        "returnee_id": str(RETURNEE_ID),
        "plan_item_id": str(PLAN_ITEM_ID),
        "revision": 1,
        "partner_id": str(PARTNER_ID),
        "partner_name": PARTNER_NAME,
        "dimension": "economic",
        "category": "vocational_training",
        "status": "sent",
        "sent_at": _SENT["changed_at"],
        "sent_by": CASE_WORKER,
        "status_at": _SENT["changed_at"],
        "status_by": CASE_WORKER,
        "history": [dict(_SENT)],
    }


def accepted_referral() -> JsonDict:
    """The same referral, accepted by the partner four days later."""
    return {
        **sent_referral(),
        "status": "accepted",
        "status_at": _ACCEPTED["changed_at"],
        "status_by": CASE_WORKER,
        "history": [dict(_SENT), dict(_ACCEPTED)],
    }


def referral_list() -> JsonDict:
    return {"items": [accepted_referral()]}


def referral_page() -> JsonDict:
    return {"items": [accepted_referral()], "next_cursor": None}
