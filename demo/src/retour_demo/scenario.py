"""The demo scenario: the first half of 2024 at Mali's reception centres, seeded.

Built from the published figures (shared/domain.md): 4,577 returnees repatriated with IOM
support between January and mid-June 2024, 415 of them in one emergency wave from Port-Bouët
(Côte d'Ivoire) after evictions; 72 hours of immediate care for most (late for some);
reintegration aid and income-generating activities, some collective, for a share; a few
attempted double registrations at another centre; and the lifecycle of registrations: a few
corrected (a new phone, a language, a household size), a few people transferred to another
centre, and a few registered a second time under another date of birth, which the duplicate
review merges. Everything here is plain data: the runner turns it into HTTP requests.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from retour_demo.casework import PlannedCase, plan_case_work
from retour_demo.field_intake import Manifest, plan_manifest
from retour_demo.people import family_name, given_name, mali_mobile

# Where people come back from, and how (weights are illustrative, not official statistics).
HOST_COUNTRIES = {
    "DZ": 30,
    "LY": 16,
    "NE": 14,
    "MR": 10,
    "CI": 8,
    "TN": 6,
    "SN": 5,
    "GN": 4,
    "BF": 3,
    "MA": 2,
    "ES": 1,
    "FR": 1,
}
RETURN_TYPE_BY_COUNTRY = {"DZ": "forced_return", "LY": "vhr", "NE": "avrr"}
CENTRES = {"bamako": 55, "kayes": 15, "gao": 18, "mopti": 7, "tombouctou": 5}
REGIONS = {
    "kayes": 24,
    "koulikoro": 14,
    "sikasso": 12,
    "segou": 13,
    "mopti": 10,
    "tombouctou": 5,
    "gao": 8,
    "bamako": 10,
    "nioro": 4,
}
VULNERABILITIES = (
    "unaccompanied_child",
    "separated_child",
    "medical_need",
    "disability",
    "trafficking_victim",
    "pregnant_or_lactating",
    "elderly",
    "gbv_survivor",
    "mental_health",
)
IMMEDIATE = ("lodging", "food", "medical", "transport")
SECTORS = {
    "commerce": 30,
    "agriculture": 22,
    "livestock": 16,
    "crafts": 8,
    "transport": 8,
    "services": 8,
    "fishing": 4,
    "manufacturing": 4,
}
WAVE_DAYS = (date(2024, 2, 26), date(2024, 3, 1))  # the Port-Bouët emergency evacuation


@dataclass(frozen=True)
class ScenarioParams:
    returnees: int = 4577
    wave: int = 415
    start: date = date(2024, 1, 1)
    end: date = date(2024, 6, 15)
    seed: int = 2024
    duplicate_attempts: int = 12
    immediate_share: float = 0.93
    late_share: float = 0.07  # of those given immediate care
    reintegration_share: float = 0.35
    activity_share: float = 0.6  # of those with a business grant
    collective_share: float = 0.3  # of activities
    corrections: int = 24
    transfers: int = 12
    re_registrations: int = 6  # the same person again, another date of birth: merged on review
    case_work: int = 150  # of those given reintegration aid: plans, referrals, visits, closure
    manifest_no_shows: int = 9  # on the wave's manifest, never boarded
    openrosa_share: float = 0.4  # of the wave's registrations: typed on ODK Collect tablets


@dataclass
class PlannedReturnee:
    index: int
    registration: dict[str, Any]
    immediate_aid: list[dict[str, Any]] = field(default_factory=list)
    reintegration_aid: list[dict[str, Any]] = field(default_factory=list)
    late: bool = False


@dataclass
class PlannedActivity:
    participants: list[int]
    body: dict[str, Any]  # without returnee_ids, shares and aid_ids: known only at run time
    share_amounts: list[int]


@dataclass
class Scenario:
    params: ScenarioParams
    returnees: list[PlannedReturnee]
    duplicates: list[tuple[int, dict[str, Any]]]  # (index of the original, re-registration)
    activities: list[PlannedActivity]
    corrections: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    """(index, PATCH body): corrections and transfers, each with its reason."""
    re_registrations: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    """(index of the original, a second registration that only weakly matches it)."""
    case_work: list[PlannedCase] = field(default_factory=list)
    """The case work after the first 72 hours (retour_demo.casework)."""
    manifest: Manifest | None = None
    """The wave's manifest, sent before it lands (retour_demo.field_intake)."""
    via_openrosa: set[int] = field(default_factory=set)
    """Indexes of the people registered through OpenRosa submissions (ODK Collect)."""


def _weighted(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _at(day: date, hours: float) -> str:
    moment = datetime.combine(day, time(8), tzinfo=UTC) + timedelta(hours=hours)
    return moment.isoformat().replace("+00:00", "Z")


def wave_days(params: ScenarioParams) -> tuple[date, date]:
    """The published wave's days when the period holds them, else five days a third in."""
    if params.start <= WAVE_DAYS[0] and WAVE_DAYS[1] <= params.end:
        return WAVE_DAYS
    first = params.start + (params.end - params.start) / 3
    return first, min(first + timedelta(days=4), params.end)


def _registration(rng: random.Random, params: ScenarioParams, in_wave: bool) -> dict[str, Any]:
    span = (params.end - params.start).days
    if in_wave:
        first, last = wave_days(params)
        arrival = first + timedelta(days=rng.randrange((last - first).days + 1))
        country, centre, return_type = "CI", "bamako", "emergency_evacuation"
    else:
        arrival = params.start + timedelta(days=rng.randrange(span + 1))
        country = _weighted(rng, HOST_COUNTRIES)
        centre = (
            "gao" if country in ("DZ", "NE") and rng.random() < 0.5 else _weighted(rng, CENTRES)
        )
        return_type = RETURN_TYPE_BY_COUNTRY.get(country) or rng.choice(
            ("avrr", "avrr", "spontaneous_return")
        )
    sex = "female" if rng.random() < (0.3 if in_wave else 0.12) else "male"
    child = rng.random() < 0.06
    age = rng.randint(12, 17) if child else min(75, int(rng.gauss(29, 8)) + 18 - 10)
    age = max(age, 0)
    vulnerabilities = []
    if child:
        vulnerabilities.append(rng.choice(("unaccompanied_child", "separated_child")))
    if rng.random() < 0.08:
        vulnerabilities.append(rng.choice(VULNERABILITIES[2:]))
    sms = rng.random() < 0.7
    known_birth = rng.random() < 0.7
    birth = arrival - timedelta(days=age * 365 + rng.randrange(365))
    personal: dict[str, Any] = {
        "given_name": given_name(rng, sex),
        "family_name": family_name(rng),
        "date_of_birth": birth.isoformat() if known_birth else None,
        "phone": mali_mobile(rng) if sms else None,
        "national_id": None,
    }
    return {
        "reception_centre": centre,
        "arrival_date": arrival.isoformat(),
        "return_type": return_type,
        "host_country": country,
        "region_of_origin": _weighted(rng, REGIONS),
        "sex": sex,
        "household_size": rng.randint(1, 9),
        "vulnerabilities": sorted(set(vulnerabilities)),
        "preferred_language": rng.choices(("fr", "bm", "en"), weights=(55, 40, 5))[0],
        "consents": {
            "data_processing": True,
            "sms_contact": sms,
            "partner_sharing": rng.random() < 0.8,
        },
        "personal": personal,
        "age_estimate": None if known_birth else age,
    }


def _immediate_aid(rng: random.Random, arrival: date, late: bool) -> list[dict[str, Any]]:
    hours = rng.uniform(76, 140) if late else rng.uniform(2, 60)
    kinds = ["lodging", "food", *rng.sample(("medical", "transport"), rng.randint(0, 2))]
    return [
        {
            "phase": "immediate",
            "category": kind,
            "dimension": "psychosocial" if kind == "medical" else "social",
            "level": "individual",
            "modality": "direct",
            "granted_at": _at(arrival, hours + offset),
        }
        for offset, kind in enumerate(kinds)
    ]


def _reintegration_aid(rng: random.Random, arrival: date, end: date) -> list[dict[str, Any]]:
    day = min(arrival + timedelta(days=rng.randint(20, 75)), end)
    grant = 25_000 * rng.randint(10, 24)  # 250,000 to 600,000 XOF
    aid: list[dict[str, Any]] = [
        {
            "phase": "reintegration",
            "category": "business_start_up_grant",
            "dimension": "economic",
            "level": "individual",
            "modality": "direct",
            "amount": {"amount": str(grant), "currency": "XOF"},
            "granted_at": _at(day, 3),
        }
    ]
    if rng.random() < 0.3:
        aid.append(
            {
                "phase": "reintegration",
                "category": "vocational_training",
                "dimension": "economic",
                "level": "individual",
                "modality": "referral",
                "partner": "Centre de formation professionnelle",
                "granted_at": _at(day, 5),
            }
        )
    return aid


def build_scenario(params: ScenarioParams) -> Scenario:
    """The same params give the same scenario, request for request."""
    rng = random.Random(params.seed)
    returnees: list[PlannedReturnee] = []
    for index in range(params.returnees):
        body = _registration(rng, params, in_wave=index < params.wave)
        planned = PlannedReturnee(index, body)
        arrival = date.fromisoformat(body["arrival_date"])
        if rng.random() < params.immediate_share:
            planned.late = rng.random() < params.late_share
            planned.immediate_aid = _immediate_aid(rng, arrival, planned.late)
        if rng.random() < params.reintegration_share:
            planned.reintegration_aid = _reintegration_aid(rng, arrival, params.end)
        returnees.append(planned)
    returnees.sort(key=lambda r: (r.registration["arrival_date"], r.index))
    duplicates = [
        (
            original.index,
            {
                **original.registration,
                "reception_centre": "kayes"
                if original.registration["reception_centre"] != "kayes"
                else "gao",
            },
        )
        for original in rng.sample(returnees, params.duplicate_attempts)
    ]
    scenario = Scenario(params, returnees, duplicates, _activities(rng, params, returnees))
    # Its own generator: the registrations, aid and activities above stay as they were.
    lifecycle = random.Random(f"{params.seed}/lifecycle")
    scenario.corrections = _corrections(lifecycle, params, returnees)
    scenario.re_registrations = _re_registrations(lifecycle, params, returnees)
    # People whose registration stays as it is: a transfer would move their case away from
    # the case worker planned for it.
    corrected = {index for index, _ in scenario.corrections}
    aided = {
        r.index: r.registration
        for r in returnees
        if r.reintegration_aid and r.index not in corrected
    }
    casework = random.Random(f"{params.seed}/casework")
    scenario.case_work = plan_case_work(casework, aided, params.case_work)
    _plan_field_intake(random.Random(f"{params.seed}/field"), scenario)
    return scenario


def _plan_field_intake(rng: random.Random, scenario: Scenario) -> None:
    params = scenario.params
    wave = sorted((r for r in scenario.returnees if r.index < params.wave), key=lambda r: r.index)
    if not wave:
        return
    scenario.manifest = plan_manifest(
        rng,
        [r.registration for r in wave],
        first_day=wave_days(params)[0],
        no_shows=params.manifest_no_shows,
    )
    scenario.via_openrosa = {r.index for r in wave if rng.random() < params.openrosa_share}


def _corrections(
    rng: random.Random, params: ScenarioParams, returnees: list[PlannedReturnee]
) -> list[tuple[int, dict[str, Any]]]:
    count = min(params.corrections + params.transfers, len(returnees))
    chosen = rng.sample(returnees, count)
    planned = []
    for number, person in enumerate(chosen):
        body = person.registration
        change: dict[str, Any]
        if number < params.transfers:
            others = [c for c in CENTRES if c != body["reception_centre"]]
            change = {"reason": "relocation", "reception_centre": rng.choice(others)}
        elif body["consents"]["sms_contact"]:
            language = "bm" if body["preferred_language"] != "bm" else "fr"
            change = {
                "reason": "new_information",
                "preferred_language": language,
                "personal": {"phone": mali_mobile(rng)},
            }
        else:
            change = {"reason": "data_entry_error", "household_size": rng.randint(1, 9)}
        planned.append((person.index, change))
    return planned


def _re_registrations(
    rng: random.Random, params: ScenarioParams, returnees: list[PlannedReturnee]
) -> list[tuple[int, dict[str, Any]]]:
    # Same name, a date of birth a year off, no phone: a weak match (a strong one is refused).
    dated = [r for r in returnees if r.registration["personal"]["date_of_birth"]]
    planned = []
    for original in rng.sample(dated, min(params.re_registrations, len(dated))):
        body = original.registration
        born = date.fromisoformat(body["personal"]["date_of_birth"])
        again = {
            **body,
            "reception_centre": "kayes" if body["reception_centre"] != "kayes" else "mopti",
            "consents": {**body["consents"], "sms_contact": False},
            "personal": {
                **body["personal"],
                "date_of_birth": (born - timedelta(days=400)).isoformat(),
                "phone": None,
            },
        }
        planned.append((original.index, again))
    return planned


def _activities(
    rng: random.Random, params: ScenarioParams, returnees: list[PlannedReturnee]
) -> list[PlannedActivity]:
    funded = [r for r in returnees if r.reintegration_aid and rng.random() < params.activity_share]
    rng.shuffle(funded)
    activities: list[PlannedActivity] = []
    while funded:
        size = rng.randint(3, 5) if rng.random() < params.collective_share else 1
        group, funded = funded[:size], funded[size:]
        amounts = [int(r.reintegration_aid[0]["amount"]["amount"]) for r in group]
        latest = max(r.reintegration_aid[0]["granted_at"] for r in group)
        launched = datetime.fromisoformat(latest.replace("Z", "+00:00")) + timedelta(
            days=rng.randint(5, 25)
        )
        activities.append(
            PlannedActivity(
                participants=[r.index for r in group],
                body={
                    "sector": _weighted(rng, SECTORS),
                    "location": {"region": group[0].registration["region_of_origin"]},
                    "funding": {"amount": str(sum(amounts)), "currency": "XOF"},
                    "level": "collective" if len(group) > 1 else "individual",
                    "launched_at": launched.isoformat().replace("+00:00", "Z"),
                },
                share_amounts=amounts,
            )
        )
    return activities
