"""A seeded history of returnees, their aid and their activities, and the reports it should
give, computed here from the raw events with plain Python (no SQL, no service code), so the
acceptance tests compare the service against an independent oracle.

The tests at the bottom check the generator itself: its events are valid contract events and
cover the cases the reports must get right.
"""

from __future__ import annotations

import random
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from retour_contracts import (
    ActivityLaunched,
    AidCategory,
    AidGranted,
    Event,
    MaliRegion,
    ReceptionCentre,
    ReturneeRegistered,
    ReturnType,
    Sector,
    Sex,
    Vulnerability,
)

CANARY = "CANARYQX"
"""Part of every personal value generated, so a test can look for it in the projections."""
SMALL_CELL_LIMIT = 5
FIRST_ARRIVAL = date(2023, 12, 1)
LAST_ARRIVAL = date(2024, 6, 30)
HOST_COUNTRIES = ("CI", "DZ", "LY", "NE", "MR", "SN", "GN", "MA")
IMMEDIATE = (AidCategory.LODGING, AidCategory.FOOD, AidCategory.MEDICAL, AidCategory.TRANSPORT)
WITH_MONEY = (AidCategory.CASH, AidCategory.BUSINESS_START_UP_GRANT)
WITHOUT_MONEY = (
    AidCategory.VOCATIONAL_TRAINING,
    AidCategory.PSYCHOSOCIAL,
    AidCategory.IN_KIND_KIT,
    AidCategory.EDUCATION,
)


@dataclass
class History:
    registrations: list[ReturneeRegistered] = field(default_factory=list)
    aid: list[AidGranted] = field(default_factory=list)
    activities: list[ActivityLaunched] = field(default_factory=list)

    def events(self) -> list[Event]:
        return [*self.registrations, *self.aid, *self.activities]

    def extend(self, events: Iterable[Event]) -> None:
        for event in events:
            if isinstance(event, ReturneeRegistered):
                self.registrations.append(event)
            elif isinstance(event, AidGranted):
                self.aid.append(event)
            elif isinstance(event, ActivityLaunched):
                self.activities.append(event)
            else:
                raise TypeError(f"this history holds version 1 registrations, not {event!r}")


def _uuid(rng: random.Random) -> UUID:
    return UUID(int=rng.getrandbits(128), version=4)


def _moment(day: date, hours: float) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC) + timedelta(hours=hours)


def registration(rng: random.Random, arrival: date, **changes: Any) -> ReturneeRegistered:
    age = rng.choice(
        [rng.randint(0, 17), rng.randint(18, 44), rng.randint(18, 44), rng.randint(45, 80)]
    )
    vulnerabilities = rng.sample(list(Vulnerability), k=rng.choice([0, 0, 0, 1, 1, 2]))
    sms = rng.random() < 0.5
    fields: dict[str, Any] = {
        "returnee_id": _uuid(rng),
        "registered_at": _moment(arrival, rng.uniform(8, 60)),
        "reception_centre": rng.choices(list(ReceptionCentre), weights=[40, 20, 20, 12, 8])[0],
        "arrival_date": arrival,
        "return_type": rng.choice(list(ReturnType)),
        "host_country": rng.choice(HOST_COUNTRIES),
        "region_of_origin": rng.choice(list(MaliRegion)[:12]),
        "sex": rng.choices(list(Sex), weights=[30, 70])[0],
        "age_years": age,
        "age_is_estimated": True,
        "household_size": rng.randint(1, 9),
        "vulnerabilities": vulnerabilities,
        "consents": {"data_processing": True, "sms_contact": sms, "partner_sharing": True},
        "personal": {
            "given_name": f"Awa{CANARY}{rng.randint(0, 10**6)}",
            "family_name": f"Traore{CANARY}",
            "phone": "+22365012345" if sms else None,
            "national_id": f"NINA{CANARY}{rng.randint(0, 10**9)}",
        },
    }
    fields.update(changes)
    return ReturneeRegistered.model_validate(fields)


def aid(
    rng: random.Random, returnee: UUID, granted_at: datetime, phase: str, **changes: Any
) -> AidGranted:
    category = rng.choice(IMMEDIATE if phase == "immediate" else WITH_MONEY + WITHOUT_MONEY)
    amount: dict[str, str] | None = None
    if category in WITH_MONEY:
        currency = "EUR" if rng.random() < 0.04 else "XOF"
        amount = {"amount": str(rng.randrange(25_000, 500_000, 500)), "currency": currency}
    referral = rng.random() < 0.25
    fields: dict[str, Any] = {
        "aid_id": _uuid(rng),
        "returnee_id": returnee,
        "granted_at": granted_at,
        "phase": phase,
        "category": category,
        "dimension": rng.choice(["economic", "social", "psychosocial"]),
        "level": rng.choices(["individual", "collective", "community"], weights=[80, 15, 5])[0],
        "modality": "referral" if referral else "direct",
        "partner": "Partner NGO" if referral else None,
        "amount": amount,
        "granted_by": "agent.test",
    }
    fields.update(changes)
    return AidGranted.model_validate(fields)


def activity(
    rng: random.Random, participants: list[UUID], launched_at: datetime
) -> ActivityLaunched:
    return ActivityLaunched.model_validate(
        {
            "activity_id": _uuid(rng),
            "returnee_ids": participants,
            "launched_at": launched_at,
            "sector": rng.choice(list(Sector)),
            "location": {"region": rng.choice(list(MaliRegion)[:8])},
            "funding": {"amount": str(rng.randrange(50_000, 900_000, 1000)), "currency": "XOF"}
            if rng.random() < 0.9
            else None,
            "level": "individual" if len(participants) == 1 else "collective",
        }
    )


def seeded_history(returnees: int, *, seed: int = 6) -> History:
    """Arrivals from December 2023 to June 2024; most get immediate care (some after 72 h),
    many get reintegration aid, some launch activities alone or in groups. A few aid events
    belong to returnees never registered (their registration is lost or still to come)."""
    rng = random.Random(seed)
    history = History()
    span = (LAST_ARRIVAL - FIRST_ARRIVAL).days
    reintegrated: list[ReturneeRegistered] = []
    for _ in range(returnees):
        arrival = FIRST_ARRIVAL + timedelta(days=rng.randint(0, span))
        person = registration(rng, arrival)
        history.registrations.append(person)
        if rng.random() < 0.85:
            for _ in range(rng.randint(1, 3)):
                hours = rng.choice([rng.uniform(1, 72), rng.uniform(1, 72), rng.uniform(60, 140)])
                history.aid.append(
                    aid(
                        rng,
                        person.returnee_id,
                        _moment(arrival, hours),
                        "immediate",
                        late=hours > 72,
                    )
                )
        if rng.random() < 0.6:
            reintegrated.append(person)
            for _ in range(rng.randint(1, 2)):
                when = _moment(arrival, rng.uniform(24 * 20, 24 * 200))
                history.aid.append(aid(rng, person.returnee_id, when, "reintegration"))
    rng.shuffle(reintegrated)
    while reintegrated:
        group = [
            reintegrated.pop() for _ in range(min(len(reintegrated), rng.choice([1, 1, 1, 3])))
        ]
        if rng.random() < 0.5:
            latest = max(p.arrival_date for p in group)
            when = _moment(latest, rng.uniform(24 * 30, 24 * 250))
            history.activities.append(activity(rng, [p.returnee_id for p in group], when))
    for _ in range(7):
        history.aid.append(
            aid(rng, _uuid(rng), _moment(date(2024, 3, 1), rng.uniform(0, 48)), "immediate")
        )
    return history


# ---- the oracle: reports computed from the raw events ----------------------------------------


@dataclass(frozen=True)
class Query:
    """The same query as the HTTP parameters express (``params`` gives them)."""

    first_day: date | None = None
    last_day: date | None = None
    who: dict[str, str] = field(default_factory=dict)  # centre, host_country, sex, ...
    what: dict[str, str] = field(default_factory=dict)  # phase, category, sector, level, ...

    @property
    def params(self) -> dict[str, str]:
        period = {"from": self.first_day, "to": self.last_day}
        return {
            **{k: str(v) for k, v in period.items() if v is not None},
            **self.who,
            **self.what,
        }


_FILTER_FIELDS = {
    "centre": "reception_centre",
    "host_country": "host_country",
    "return_type": "return_type",
    "region": "region_of_origin",
    "sex": "sex",
    "age_group": "age_group",
}


def age_group(age: int) -> str:
    return "0-17" if age < 18 else "18-44" if age < 45 else "45+"


def _attributes(r: ReturneeRegistered) -> dict[str, Any]:
    return {
        "reception_centre": r.reception_centre.value,
        "host_country": r.host_country,
        "return_type": r.return_type.value,
        "region_of_origin": r.region_of_origin.value,
        "sex": r.sex.value,
        "age_group": age_group(r.age_years),
        "vulnerabilities": sorted(v.value for v in r.vulnerabilities),
    }


def _first_of_each(items: Iterable[Any], key: Callable[[Any], UUID]) -> list[Any]:
    seen: set[UUID] = set()
    kept = []
    for item in items:
        if key(item) not in seen:
            seen.add(key(item))
            kept.append(item)
    return kept


class Oracle:
    def __init__(self, history: History) -> None:
        self.registrations = _first_of_each(history.registrations, lambda r: r.returnee_id)
        self.aid = _first_of_each(history.aid, lambda a: a.aid_id)
        self.activities = _first_of_each(history.activities, lambda a: a.activity_id)

    def _matches(self, r: ReturneeRegistered, query: Query) -> bool:
        attributes = _attributes(r)
        for param, value in query.who.items():
            if param == "vulnerability":
                matches = value in attributes["vulnerabilities"]
            else:
                wanted = value.upper() if param == "host_country" else value
                matches = attributes[_FILTER_FIELDS[param]] == wanted
            if not matches:
                return False
        return True

    def _matching_ids(self, query: Query) -> set[UUID]:
        return {r.returnee_id for r in self.registrations if self._matches(r, query)}

    def cohort(self, query: Query) -> list[ReturneeRegistered]:
        return [
            r
            for r in self.registrations
            if _in_days(r.arrival_date, query) and self._matches(r, query)
        ]

    def registrations_report(self, query: Query) -> dict[str, Any]:
        cohort = self.cohort(query)
        counters: dict[str, Counter[str]] = defaultdict(Counter)
        for r in cohort:
            attributes = _attributes(r)
            for name in (
                "reception_centre",
                "host_country",
                "return_type",
                "region_of_origin",
                "sex",
                "age_group",
            ):
                counters[name][attributes[name]] += 1
            for v in attributes["vulnerabilities"] or ["none"]:
                counters["vulnerability"][v] += 1
        return {
            "total": {"people": len(cohort)},
            "breakdowns": {
                name: [_people(value, n) for value, n in sorted(counter.items())]
                for name, counter in sorted(counters.items())
            },
        }

    def monthly_report(self, query: Query) -> dict[str, Any]:
        counter = Counter(
            (r.arrival_date.strftime("%Y-%m"), r.reception_centre.value) for r in self.cohort(query)
        )
        return {
            "rows": [
                {"month": m, "reception_centre": c, "people": n, "small_cell": _small(n)}
                for (m, c), n in sorted(counter.items())
            ]
        }

    def aid_report(self, query: Query) -> dict[str, Any]:
        matching = self._matching_ids(query) if query.who else None
        selected = [
            a
            for a in self.aid
            if _in_moments(a.granted_at, query)
            and (matching is None or a.returnee_id in matching)
            and all(getattr(a, k).value == v for k, v in query.what.items())
        ]
        groups: dict[str, dict[str, list[AidGranted]]] = defaultdict(lambda: defaultdict(list))
        for a in selected:
            for name in ("phase", "category", "dimension", "level", "modality"):
                groups[name][getattr(a, name).value].append(a)
        return {
            "total": _aid_cell("all", selected),
            "breakdowns": {
                name: [_aid_cell(value, items) for value, items in sorted(cells.items())]
                for name, cells in sorted(groups.items())
            },
        }

    def activities_report(self, query: Query) -> dict[str, Any]:
        matching = self._matching_ids(query) if query.who else None
        chosen: list[tuple[ActivityLaunched, set[UUID]]] = []
        for a in self.activities:
            if not _in_moments(a.launched_at, query):
                continue
            if not all(getattr(a, k).value == v for k, v in query.what.items()):
                continue
            people = {p for p in a.returnee_ids if matching is None or p in matching}
            if people:
                chosen.append((a, people))
        groups: dict[str, dict[str, list[tuple[ActivityLaunched, set[UUID]]]]] = defaultdict(
            lambda: defaultdict(list)
        )
        for a, people in chosen:
            for name in ("sector", "level"):
                groups[name][getattr(a, name).value].append((a, people))
        return {
            "total": _activity_cell("all", chosen),
            "breakdowns": {
                name: [_activity_cell(value, items) for value, items in sorted(cells.items())]
                for name, cells in sorted(groups.items())
            },
        }

    def kpis_report(self, query: Query) -> dict[str, Any]:
        cohort = self.cohort(query)
        aid_by_person: dict[UUID, list[AidGranted]] = defaultdict(list)
        for a in self.aid:
            aid_by_person[a.returnee_id].append(a)
        in_activity = {p for a in self.activities for p in a.returnee_ids}
        overall = _outcomes(cohort, aid_by_person, in_activity)
        centres = sorted({r.reception_centre.value for r in cohort})
        return {
            **overall,
            "by_centre": [
                {
                    "value": centre,
                    **_outcomes(
                        [r for r in cohort if r.reception_centre.value == centre],
                        aid_by_person,
                        in_activity,
                    ),
                }
                for centre in centres
            ],
        }


def _in_days(day: date, query: Query) -> bool:
    return (query.first_day is None or day >= query.first_day) and (
        query.last_day is None or day <= query.last_day
    )


def _in_moments(moment: datetime, query: Query) -> bool:
    return _in_days(moment.astimezone(UTC).date(), query)


def _small(people: int) -> bool:
    return 0 < people < SMALL_CELL_LIMIT


def _people(value: str, people: int) -> dict[str, Any]:
    return {"value": value, "people": people, "small_cell": _small(people)}


def _aid_cell(value: str, items: list[AidGranted]) -> dict[str, Any]:
    people = len({a.returnee_id for a in items})
    xof = sum(
        (a.amount.amount for a in items if a.amount and a.amount.currency == "XOF"), Decimal(0)
    )
    return {
        "value": value,
        "aids": len(items),
        "people": people,
        "total_xof": xof,
        "other_currency_aids": sum(1 for a in items if a.amount and a.amount.currency != "XOF"),
        "small_cell": _small(people),
    }


def _activity_cell(value: str, items: list[tuple[ActivityLaunched, set[UUID]]]) -> dict[str, Any]:
    people = len(set().union(*(p for _, p in items))) if items else 0
    funding = sum(
        (a.funding.amount for a, _ in items if a.funding and a.funding.currency == "XOF"),
        Decimal(0),
    )
    return {
        "value": value,
        "activities": len(items),
        "participants": people,
        "funding_xof": funding,
        "small_cell": _small(people),
    }


def _share(people: int, of: int) -> dict[str, Any]:
    return {
        "people": people,
        "of": of,
        "share": round(people / of, 4) if of else None,
        "small_cell": _small(people) or _small(of),
    }


def _outcomes(
    cohort: list[ReturneeRegistered],
    aid_by_person: dict[UUID, list[AidGranted]],
    in_activity: set[UUID],
) -> dict[str, Any]:
    aided = [r for r in cohort if aid_by_person[r.returnee_id]]
    hours: list[float] = []
    on_time = reintegration = 0
    for r in aided:
        arrived = _moment(r.arrival_date, 0)
        given = aid_by_person[r.returnee_id]
        hours.append((min(a.granted_at for a in given) - arrived).total_seconds() / 3600)
        on_time += any(
            a.phase.value == "immediate" and a.granted_at - arrived <= timedelta(hours=72)
            for a in given
        )
        reintegration += any(a.phase.value == "reintegration" for a in given)
    with_activity = sum(1 for r in cohort if r.returnee_id in in_activity)
    aided_with_activity = sum(1 for r in aided if r.returnee_id in in_activity)
    return {
        "cohort": {"people": len(cohort), "small_cell": _small(len(cohort))},
        "immediate_assistance_within_72h": _share(on_time, len(cohort)),
        "median_hours_to_first_aid": {
            "hours": statistics.median(hours) if hours else None,
            "people": len(aided),
            "small_cell": _small(len(aided)),
        },
        "reintegration_aid": _share(reintegration, len(cohort)),
        "launched_activity": _share(with_activity, len(cohort)),
        "funnel": [
            _funnel("registered", len(cohort)),
            _funnel("aided", len(aided)),
            _funnel("activity_launched", aided_with_activity),
        ],
    }


def _funnel(stage: str, people: int) -> dict[str, Any]:
    return {"stage": stage, "people": people, "small_cell": _small(people)}


# ---- checks of the generator itself ---------------------------------------------------------


def test_the_history_is_made_of_valid_events_with_distinct_ids() -> None:
    history = seeded_history(300)

    assert len({r.returnee_id for r in history.registrations}) == 300
    assert len({a.aid_id for a in history.aid}) == len(history.aid)
    assert len({a.activity_id for a in history.activities}) == len(history.activities)


def test_the_history_covers_what_the_reports_must_get_right() -> None:
    history = seeded_history(1000)
    registered = {r.returnee_id for r in history.registrations}
    oracle = Oracle(history)
    kpis = oracle.kpis_report(Query())

    assert any(a.returnee_id not in registered for a in history.aid), "aid without registration"
    assert any(a.late for a in history.aid), "immediate care after 72 hours"
    assert any(a.amount and a.amount.currency != "XOF" for a in history.aid), "non-XOF money"
    assert any(len(a.returnee_ids) > 1 for a in history.activities), "collective activities"
    assert any(r.arrival_date < date(2024, 1, 1) for r in history.registrations), "outside a period"
    assert 0 < kpis["immediate_assistance_within_72h"]["people"] < kpis["cohort"]["people"]
    few = oracle.registrations_report(Query(who={"centre": "tombouctou", "sex": "female"}))
    assert any(cell["small_cell"] for cell in few["breakdowns"]["region_of_origin"])
