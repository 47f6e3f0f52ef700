"""The demo's case work after the first 72 hours, as plain data: for a sample of the people who
received reintegration aid, a case worker takes or is given the case, assesses the person,
agrees a reintegration plan with them (some items through partner organisations, referred and
followed), visits them at 3, 6 and 12 months after arrival, and closes some cases; a few are
reopened.

How well each person is doing is one number per visit (``wellbeing``, 0 to 1), rising for most
people over the year; the runner turns it into survey answers with the questionnaire the
reintegration service publishes, as a client would. The partners are fictional.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

PARTNERS: tuple[dict[str, Any], ...] = (
    {
        "key": "cfp-bamako",
        "name": "Centre de formation professionnelle de Bamako (fictif)",
        "centres": ["bamako", "kayes"],
        "services": ["vocational_training", "education"],
    },
    {
        "key": "microfinance-sahel",
        "name": "Caisse de microfinance du Sahel (fictive)",
        "centres": ["bamako", "kayes", "gao", "mopti", "tombouctou"],
        "services": ["business_start_up_grant", "cash"],
    },
    {
        "key": "ecoute-gao",
        "name": "Association d'écoute et de soutien psychosocial de Gao (fictive)",
        "centres": ["gao", "mopti", "tombouctou"],
        "services": ["psychosocial", "medical"],
    },
    {
        "key": "sante-kayes",
        "name": "Centre de santé communautaire de Kayes (fictif)",
        "centres": ["kayes", "bamako"],
        "services": ["medical", "psychosocial"],
    },
    {
        "key": "logement-solidaire",
        "name": "Logement solidaire Mali (fictif)",
        "centres": ["bamako", "kayes", "gao", "mopti", "tombouctou"],
        "services": ["housing"],
    },
)

# What a plan item is for, in which dimension, and which partners could provide it.
ITEMS: tuple[tuple[str, str], ...] = (
    ("economic", "vocational_training"),
    ("economic", "business_start_up_grant"),
    ("economic", "in_kind_kit"),
    ("social", "housing"),
    ("social", "education"),
    ("social", "medical"),
    ("psychosocial", "psychosocial"),
)
CLOSURE_REASONS = {
    "reintegration_completed": 70,
    "returnee_unreachable": 12,
    "remigrated": 8,
    "returnee_declined": 6,
    "relocated": 4,
}
CASE_WORKERS_PER_CENTRE = 3
FAMILY_SUPPORT = ("strong", "some", "none")


@dataclass
class PlannedItem:
    dimension: str
    category: str
    partner: str | None  # a PARTNERS key when a partner provides it
    target_after_days: int
    referral: list[str] = field(default_factory=list)
    """The statuses the referral goes through after ``sent``: accepted, completed, declined."""
    done: bool = False


@dataclass
class PlannedVisit:
    period_months: int
    reached: bool
    wellbeing: float


@dataclass
class PlannedCase:
    index: int
    centre: str
    case_worker: str
    taken_by_case_worker: bool
    vulnerabilities_found: list[str]
    household_size: int
    family_support: str
    baseline_wellbeing: float
    plan_agreed_after_days: int
    items: list[PlannedItem]
    visits: list[PlannedVisit]
    closure: str | None = None
    reopening: str | None = None


def case_worker(centre: str, number: int) -> str:
    return f"caseworker.{centre}.{number}"


def plan_case_work(
    rng: random.Random, registrations: dict[int, dict[str, Any]], count: int
) -> list[PlannedCase]:
    """Case work for ``count`` of the people in ``registrations`` (index -> registration)."""
    chosen = rng.sample(sorted(registrations), min(count, len(registrations)))
    cases = []
    for index in sorted(chosen):
        registration = registrations[index]
        centre = registration["reception_centre"]
        cases.append(_case(rng, index, centre, registration))
    for case in rng.sample(cases, len(cases) // 3):
        case.closure = _weighted(rng, CLOSURE_REASONS)
    closed = [case for case in cases if case.closure]
    for case in rng.sample(closed, min(3, len(closed))):
        case.reopening = (
            "new_needs" if case.closure != "returnee_unreachable" else ("contact_regained")
        )
    return cases


def _case(rng: random.Random, index: int, centre: str, registration: dict[str, Any]) -> PlannedCase:
    baseline = min(max(rng.gauss(0.42, 0.1), 0.05), 0.9)
    progress = rng.gauss(0.07, 0.05)  # per visit: most people do better as the year goes
    visits = []
    wellbeing = baseline
    for period, recorded in ((3, 0.95), (6, 0.85), (12, 0.6)):
        if rng.random() >= recorded:
            break
        wellbeing = min(max(wellbeing + progress + rng.gauss(0, 0.03), 0.02), 0.98)
        visits.append(PlannedVisit(period, reached=rng.random() > 0.08, wellbeing=wellbeing))
    items = [_item(rng, centre, dimension, category) for dimension, category in _items(rng)]
    found = ["mental_health"] if rng.random() < 0.06 else []
    return PlannedCase(
        index=index,
        centre=centre,
        case_worker=case_worker(centre, rng.randint(1, CASE_WORKERS_PER_CENTRE)),
        taken_by_case_worker=rng.random() < 0.3,
        vulnerabilities_found=[v for v in found if v not in registration["vulnerabilities"]],
        household_size=registration["household_size"],
        family_support=rng.choice(FAMILY_SUPPORT),
        baseline_wellbeing=baseline,
        # The Handbook aims at a plan within about a month: most are, some are late.
        plan_agreed_after_days=max(3, int(rng.gauss(24, 12))),
        items=items,
        visits=visits,
    )


def _items(rng: random.Random) -> list[tuple[str, str]]:
    economic = [item for item in ITEMS if item[0] == "economic"]
    others = [item for item in ITEMS if item[0] != "economic"]
    return [rng.choice(economic), *rng.sample(others, rng.randint(1, 2))]


def _item(rng: random.Random, centre: str, dimension: str, category: str) -> PlannedItem:
    able = [p["key"] for p in PARTNERS if centre in p["centres"] and category in p["services"]]
    partner = rng.choice(able) if able and rng.random() < 0.55 else None
    referral: list[str] = []
    if partner:
        referral = rng.choices(
            (["accepted", "completed"], ["accepted"], ["declined"], []), weights=(55, 25, 12, 8)
        )[0]
    return PlannedItem(
        dimension=dimension,
        category=category,
        partner=partner,
        target_after_days=rng.randint(45, 200),
        referral=referral,
        done=rng.random() < 0.5,
    )


def answers_for(
    questionnaire: dict[str, Any], wellbeing: float, rng: random.Random
) -> dict[str, str]:
    """Survey answers of someone doing ``wellbeing`` well: for each question, the choice whose
    value is nearest to ``wellbeing`` give or take some noise ("don't know" rarely)."""
    answers: dict[str, str] = {}
    for question in questionnaire["questions"]:
        condition = question.get("asked_when")
        if condition and answers.get(condition["question"]) not in condition["answers"]:
            continue
        choices = question["choices"]
        if rng.random() < 0.04 and "dont_know" in choices:
            answers[question["code"]] = "dont_know"
            continue
        aim = min(max(wellbeing + rng.gauss(0, 0.2), 0.0), 1.0)
        answers[question["code"]] = min(
            (c for c in choices if c not in ("dont_know", "prefer_not_to_say", "not_applicable")),
            key=lambda choice: (abs(choices[choice] - aim), choice),
        )
    return answers


def _weighted(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]
