"""Issue 15, reporting: the events of a case's life (closures and reopenings, agreed plans,
referrals, scheduled visits and sustainability scores) through the real Kafka and PostgreSQL.

A seeded history of returnees (corrected, some registered twice and merged) and their cases is
published shuffled across the eleven topics reporting reads: case events before their
registrations, a referral's later status before its first, a visit's newer schedule before the
older, a reopening before its closure. The five case reports must equal what the oracle below
computes from the raw events in plain Python (no SQL, no service code), before and after the
events held back are read; small cells are suppressed; redeliveries change nothing; and a
rebuild with one or three workers gives the very same tables.
"""

from __future__ import annotations

import csv
import io
import json
import random
import statistics
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from uuid import UUID

import pytest
from test_reporting_corrections import seeded_corrections
from test_reporting_history import History, Oracle, Query, registration, seeded_history
from test_reporting_merges import expected_history, merge, registered_again
from test_reporting_sandbox import (
    PROJECTION_KEYS,
    Published,
    Record,
    Reporting,
    Sandbox,
    inbox_count,
    oracle_query,
    reporting_api,
    reporting_sandbox,
    table_checksums,
)

from retour_contracts import (
    ActivityLaunched,
    AidGranted,
    CaseClosed,
    CaseReopened,
    ClosureReason,
    FollowUpScheduled,
    PlanAgreed,
    ReceptionCentre,
    ReferralStatus,
    ReferralUpdated,
    ReintegrationAssessed,
    ReopeningReason,
    ReturneeMerged,
    ReturneeRegistered,
    ReturneeRegisteredV2,
    ReturneeUpdated,
)
from retour_contracts.examples import example_for
from retour_kit.auth import issue_dev_token
from retour_test_infra import Infra, eventually

pytestmark = pytest.mark.integration

RETURNEES = 300
RECENT = 60
PAIRS = 12
SMALL_CELL_LIMIT = 5
AIM_DAYS = 30
PERIODS = (3, 6, 12)
METHOD, NEW_METHOD = "rss-2017", "rss-2017-rev1"
DIMENSIONS = ("economic", "social", "psychosocial", "composite")
PROGRESS = {"sent": 0, "accepted": 1, "declined": 2, "completed": 3}
PARTNERS = [
    (UUID(int=0xC0FFEE00 + n, version=4), name)
    for n, name in enumerate(
        [
            "Centre de formation professionnelle de Bamako",
            "Association des jeunes entrepreneurs de Kayes",
            "Caisse d'epargne et de credit de Gao",
            "Clinique psychosociale de Mopti",
            "Cooperative agricole de Segou",
            "Union des artisans de Tombouctou",
        ]
    )
]
PARTNER_WEIGHTS = [40, 25, 15, 10, 6, 4]
REPORTS = ("plans", "referrals", "follow-ups", "sustainability", "closures")

Timed = tuple[Published, datetime | None]
"""An event and when it was published (``ce_time``; ``None``: whenever it is)."""


def _at(day: date, hours: float = 10) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC) + timedelta(hours=hours)


def _scores(rng: random.Random) -> dict[str, float]:
    return {name: round(rng.uniform(0.1, 0.95), 3) for name in DIMENSIONS}


# ---- the history of cases -----------------------------------------------------------------------


@dataclass
class CaseBook:
    """One returnee's case, written as reintegration would publish it."""

    rng: random.Random
    person: ReturneeRegistered
    today: date
    events: list[Timed] = field(default_factory=list)

    @property
    def rid(self) -> UUID:
        return self.person.returnee_id

    def add(self, event: Published, published_at: datetime | None = None) -> None:
        self.events.append((event, published_at))

    def uuid(self) -> UUID:
        return UUID(int=self.rng.getrandbits(128), version=4)

    def schedules(self) -> list[tuple[UUID, int, date]]:
        """Visits at 3, 6 and 12 months; a few scheduled again (a transfer, a corrected arrival),
        one now and then twice at one moment. Returns each visit's newest schedule."""
        visits = []
        opened = _at(self.person.arrival_date, 20)
        for months in PERIODS:
            follow_up_id, due = self.uuid(), self.person.arrival_date + timedelta(days=30 * months)
            centre = self.person.reception_centre
            self.add(self._visit(follow_up_id, months, due, centre), opened)
            moment = opened
            if self.rng.random() < 0.12:
                moment = opened + timedelta(days=self.rng.randint(1, 80))
                due += timedelta(days=self.rng.randint(-10, 10))
                centre = self.rng.choice(list(ReceptionCentre))
                self.add(self._visit(follow_up_id, months, due, centre), moment)
            if self.rng.random() < 0.03:
                # Two schedules at one moment: the greater due date is kept.
                other = due + timedelta(days=self.rng.choice([-5, 5]))
                self.add(self._visit(follow_up_id, months, other, centre), moment)
                due = max(due, other)
            visits.append((follow_up_id, months, due))
        return visits

    def _visit(
        self, follow_up_id: UUID, months: int, due: date, centre: ReceptionCentre
    ) -> FollowUpScheduled:
        return example_for(
            FollowUpScheduled,
            follow_up_id=follow_up_id,
            returnee_id=self.rid,
            reception_centre=centre,
            period_months=months,
            due_on=due,
        )

    def baseline(self) -> None:
        for _ in range(self.rng.choice([1, 1, 1, 1, 2])):  # sometimes taken again
            day = self.person.arrival_date + timedelta(days=self.rng.randint(1, 40))
            self.add(self._survey("baseline", None, None, "completed", _at(day)))

    def _survey(
        self,
        kind: str,
        follow_up_id: UUID | None,
        months: int | None,
        outcome: str,
        at: datetime,
    ) -> ReintegrationAssessed:
        return example_for(
            ReintegrationAssessed,
            assessment_id=self.uuid(),
            returnee_id=self.rid,
            kind=kind,
            follow_up_id=follow_up_id,
            period_months=months,
            outcome=outcome,
            scores=_scores(self.rng) if outcome == "completed" else None,
            method=NEW_METHOD if self.rng.random() < 0.15 else METHOD,
            assessed_at=at,
        )

    def plan(self) -> None:
        agreed = self.person.arrival_date + timedelta(days=self.rng.randint(2, 75))
        revisions = [agreed]
        if self.rng.random() < 0.2:
            revisions.append(agreed + timedelta(days=self.rng.randint(20, 120)))
        for revision, day in enumerate(revisions, start=1):
            self.add(
                example_for(PlanAgreed, returnee_id=self.rid, revision=revision, agreed_on=day)
            )
        for _ in range(self.rng.choice([0, 1, 1, 2])):
            self.referral(_at(agreed, 15))

    def referral(self, sent: datetime) -> None:
        partner_id, name = self.rng.choices(PARTNERS, weights=PARTNER_WEIGHTS)[0]
        referral_id = self.uuid()
        life = [(ReferralStatus.SENT, sent)]
        roll, later = self.rng.random(), sent + timedelta(days=self.rng.randint(1, 20))
        if roll < 0.15:
            life.append((ReferralStatus.DECLINED, later))
        elif roll < 0.8:
            life.append((ReferralStatus.ACCEPTED, later))
            if self.rng.random() < 0.6:
                life.append((ReferralStatus.COMPLETED, later + timedelta(days=30)))
            elif self.rng.random() < 0.1:
                life.append((ReferralStatus.DECLINED, later))  # at the same moment: a tie
        for status, at in life:
            self.add(
                example_for(
                    ReferralUpdated,
                    referral_id=referral_id,
                    returnee_id=self.rid,
                    partner_id=partner_id,
                    partner_name=name,
                    status=status,
                    sent_at=sent,
                    status_at=at,
                )
            )

    def visit(self, follow_up_id: UUID, months: int, due: date) -> None:
        """The visit made (or the returnee unreachable, then perhaps reached), or not yet."""
        roll = self.rng.random()
        first = due + timedelta(days=self.rng.randint(-5, 20))
        if first >= self.today:
            return
        if roll < 0.6:
            self.add(self._survey("follow_up", follow_up_id, months, "completed", _at(first)))
        elif roll < 0.78:
            self.add(self._survey("follow_up", follow_up_id, months, "unreachable", _at(first)))
            again = first + timedelta(days=14)
            if self.rng.random() < 0.5 and again < self.today:
                self.add(self._survey("follow_up", follow_up_id, months, "completed", _at(again)))

    def close(self, after: date) -> None:
        reasons = [r for r in ClosureReason if r is not ClosureReason.DUPLICATE_REGISTRATION]
        closed = _at(after + timedelta(days=self.rng.randint(1, 60)), 9)
        self.add(
            example_for(
                CaseClosed, returnee_id=self.rid, reason=self.rng.choice(reasons), closed_at=closed
            )
        )
        if self.rng.random() < 0.35:
            reopened = closed + timedelta(days=self.rng.randint(5, 90))
            reason = self.rng.choice(list(ReopeningReason))
            self.add(
                example_for(CaseReopened, returnee_id=self.rid, reason=reason, reopened_at=reopened)
            )
            if self.rng.random() < 0.4:
                again = reopened + timedelta(days=self.rng.randint(5, 90))
                reason2 = self.rng.choice(reasons)
                self.add(
                    example_for(CaseClosed, returnee_id=self.rid, reason=reason2, closed_at=again)
                )


def case_of(rng: random.Random, person: ReturneeRegistered, today: date) -> list[Timed]:
    book = CaseBook(rng, person, today)
    visits = book.schedules()
    if rng.random() < 0.75:
        book.baseline()
    if rng.random() < 0.8:
        book.plan()
    for follow_up_id, months, due in visits:
        book.visit(follow_up_id, months, due)
    if rng.random() < 0.3:
        book.close(person.arrival_date + timedelta(days=rng.randint(30, 400)))
    return book.events


def duplicate_case(
    rng: random.Random, b: ReturneeRegistered, merged: ReturneeMerged
) -> list[Timed]:
    """B's own case, opened before B was found to be A: a visit, a baseline and a referral,
    then closed as a duplicate registration when the merge was decided."""
    book = CaseBook(rng, b, date.max)
    [(follow_up_id, months, due), *_] = book.schedules()
    book.baseline()
    book.referral(_at(b.arrival_date, 30))
    book.visit(follow_up_id, months, due)
    book.add(
        example_for(
            CaseClosed,
            returnee_id=b.returnee_id,
            reason=ClosureReason.DUPLICATE_REGISTRATION,
            closed_at=merged.merged_at,
        )
    )
    return book.events


@dataclass
class Scenario:
    first: list[Timed]
    """Published first, shuffled."""
    late: list[Timed]
    """Held back: registrations, closures and merges the other events are read before."""


def scenario(today: date) -> Scenario:
    rng = random.Random(151)
    history = seeded_history(RETURNEES, seed=152)
    # The recent arrivals move with the day, and with them which of their visits are made: they
    # draw from a generator of their own, so the rest of the history is the same every day.
    recent_rng = random.Random(153)
    recent = [
        registration(recent_rng, today - timedelta(days=recent_rng.randint(0, 200)))
        for _ in range(RECENT)
    ]
    people = [*history.registrations, *recent]
    updates = seeded_corrections(History(registrations=people), seed=154)
    cases: dict[UUID, list[Timed]] = {}
    for person, draw in [
        *((p, rng) for p in history.registrations),
        *((p, recent_rng) for p in recent),
    ]:
        if draw.random() < 0.92:
            cases[person.returnee_id] = case_of(draw, person, today)
    duplicates: list[Timed] = []
    merges = []
    for a in history.registrations[:PAIRS]:
        b = registered_again(rng, a)
        decided = _at(b.arrival_date + timedelta(days=40), 12)
        merged = merge(b, a, decided)
        merges.append(merged)
        duplicates += [(b, None), *duplicate_case(rng, b, merged)]
    everything: list[Timed] = [
        *((p, None) for p in people),
        *((u, None) for u in updates),
        *((m, None) for m in merges),
        *(timed for case in cases.values() for timed in case),
        *duplicates,
    ]
    late_ids = {id(p) for p in people[PAIRS : PAIRS + 25]}
    late_ids |= {id(m) for m in merges[::2]}
    late_ids |= {
        id(event) for event, _ in everything if isinstance(event, CaseClosed) and rng.random() < 0.3
    }
    first = [timed for timed in everything if id(timed[0]) not in late_ids]
    late = [timed for timed in everything if id(timed[0]) in late_ids]
    random.Random(155).shuffle(first)
    random.Random(156).shuffle(late)
    return Scenario(first, late)


# ---- the oracle ---------------------------------------------------------------------------------


def _small(n: int) -> bool:
    return 0 < n < SMALL_CELL_LIMIT


def _share(part: int, whole: int, unit: str) -> dict[str, Any]:
    return {
        unit: part,
        "of": whole,
        "share": round(part / whole, 4) if whole else None,
        "small_cell": _small(part) or _small(whole),
    }


def _in_days(day: date, query: Query) -> bool:
    return (query.first_day is None or day >= query.first_day) and (
        query.last_day is None or day <= query.last_day
    )


def _in_moments(moment: datetime, query: Query) -> bool:
    return _in_days(moment.astimezone(UTC).date(), query)


def _first_of_each(items: Iterable[Any], key: Callable[[Any], Any]) -> list[Any]:
    kept: dict[Any, Any] = {}
    for item in items:
        kept.setdefault(key(item), item)
    return list(kept.values())


def _newest_of_each(
    items: Iterable[Any], key: Callable[[Any], Any], version: Callable[[Any], Any]
) -> list[Any]:
    kept: dict[Any, Any] = {}
    for item in items:
        held = kept.get(key(item))
        if held is None or version(item) > version(held):
            kept[key(item)] = item
    return list(kept.values())


class CaseOracle:
    """The case reports computed from the events published, in any order."""

    def __init__(self, published: Sequence[Timed]) -> None:
        events = [event for event, _ in published]
        self.people = Oracle(expected_history(e for e in events if isinstance(e, _NOT_CASE)))
        merges = [e for e in events if isinstance(e, ReturneeMerged)]
        latest = _newest_of_each(
            merges, lambda m: m.returnee_id, lambda m: (m.merged_at, m.merged_into)
        )
        self.merged_into = {m.returnee_id: m.merged_into for m in latest}

        def of(kind: type[Any]) -> list[Any]:
            return [e for e in events if isinstance(e, kind)]

        self.closures = _first_of_each(of(CaseClosed), lambda c: (c.returnee_id, c.closed_at))
        self.reopenings = _first_of_each(of(CaseReopened), lambda r: (r.returnee_id, r.reopened_at))
        self.plans = _first_of_each(of(PlanAgreed), lambda p: (p.returnee_id, p.revision))
        self.assessments = _first_of_each(of(ReintegrationAssessed), lambda a: a.assessment_id)
        self.referrals = _newest_of_each(
            of(ReferralUpdated),
            lambda r: r.referral_id,
            lambda r: (r.status_at, PROGRESS[r.status.value]),
        )
        schedules = [(e, at) for e, at in published if isinstance(e, FollowUpScheduled)]
        self.schedules = [
            e
            for e, _ in _newest_of_each(
                schedules,
                lambda s: s[0].follow_up_id,
                lambda s: (s[1], s[0].due_on, s[0].reception_centre.value),
            )
        ]

    def person(self, returnee_id: UUID) -> UUID:
        while returnee_id in self.merged_into:
            returnee_id = self.merged_into[returnee_id]
        return returnee_id

    def matching(self, query: Query) -> dict[UUID, ReturneeRegistered]:
        """The people (registrations as corrected, merged ones left out) the filters match."""
        return {r.returnee_id: r for r in self.people.cohort(Query(who=query.who))}

    def closed_now(self, case: UUID) -> CaseClosed | None:
        lifecycle = [(c.closed_at, 0, c) for c in self.closures if c.returnee_id == case]
        lifecycle += [(r.reopened_at, 1, r) for r in self.reopenings if r.returnee_id == case]
        if not lifecycle:
            return None
        latest = max(lifecycle, key=lambda item: item[:2])[2]  # a reopening wins a tie
        return latest if isinstance(latest, CaseClosed) else None

    # -- plans

    def plans_report(self, query: Query) -> dict[str, Any]:
        first: dict[UUID, date] = {}
        for plan in self.plans:
            if plan.revision == 1:
                person = self.person(plan.returnee_id)
                first[person] = min(first.get(person, plan.agreed_on), plan.agreed_on)
        cohort = self.people.cohort(query)

        def outcomes(group: list[ReturneeRegistered]) -> dict[str, Any]:
            days = [
                (first[r.returnee_id] - r.arrival_date).days
                for r in group
                if r.returnee_id in first
            ]
            median = statistics.median(days) if days else None
            return {
                "cohort": {"people": len(group), "small_cell": _small(len(group))},
                "with_plan": {"people": len(days), "small_cell": _small(len(days))},
                "agreed_within_aim": _share(sum(d <= AIM_DAYS for d in days), len(days), "people"),
                "median_days_to_plan": {
                    "days": None if median is None else round(median, 1),
                    "people": len(days),
                    "small_cell": _small(len(days)),
                },
            }

        centres = sorted({r.reception_centre.value for r in cohort})
        return {
            "aim_days": AIM_DAYS,
            **outcomes(cohort),
            "by_centre": [
                {"value": c, **outcomes([r for r in cohort if r.reception_centre.value == c])}
                for c in centres
            ],
        }

    # -- referrals

    def referrals_report(self, query: Query) -> dict[str, Any]:
        matching = self.matching(query)
        chosen = [
            r
            for r in self.referrals
            if self.person(r.returnee_id) in matching and _in_moments(r.sent_at, query)
        ]

        def cell(items: list[ReferralUpdated]) -> dict[str, Any]:
            people = len({self.person(r.returnee_id) for r in items})
            return {"referrals": len(items), "people": people, "small_cell": _small(people)}

        def group(items: list[ReferralUpdated]) -> dict[str, Any]:
            return {
                **cell(items),
                "by_status": {
                    s.value: cell([r for r in items if r.status is s]) for s in ReferralStatus
                },
            }

        # A partner is named as on its most recently updated referral, counted or not.
        latest = sorted(self.referrals, key=lambda r: (r.status_at, r.partner_name))
        names = {r.partner_id: r.partner_name for r in latest}
        names = {partner: names[partner] for partner in {r.partner_id for r in chosen}}
        return {
            "total": group(chosen),
            "partners": [
                {
                    "partner_id": str(partner),
                    "partner_name": name,
                    **group([r for r in chosen if r.partner_id == partner]),
                }
                for partner, name in sorted(names.items(), key=lambda item: (item[1], str(item[0])))
            ],
        }

    # -- follow-up visits

    def follow_ups_report(self, query: Query, as_of: date) -> dict[str, Any]:
        matching = self.matching(query)
        outcomes: dict[UUID, set[str]] = defaultdict(set)
        for a in self.assessments:
            if a.follow_up_id is not None:
                outcomes[a.follow_up_id].add(a.outcome.value)
        visits = []
        for s in self.schedules:
            person = self.person(s.returnee_id)
            if person not in matching or not _in_days(s.due_on, query):
                continue
            completed = "completed" in outcomes[s.follow_up_id]
            unreachable = "unreachable" in outcomes[s.follow_up_id] and not completed
            closed = self.closed_now(s.returnee_id) is not None
            if closed and not (completed or unreachable):
                continue  # cancelled by the closure
            overdue = not completed and not closed and s.due_on < as_of
            centre = matching[person].reception_centre.value
            visits.append((s.period_months, centre, completed, unreachable, overdue))

        def counts(items: list[tuple[int, str, bool, bool, bool]]) -> dict[str, Any]:
            completed = sum(v[2] for v in items)
            unreachable = sum(v[3] for v in items)
            overdue = sum(v[4] for v in items)
            due = sum(v[2] or v[3] or v[4] for v in items)
            n = {
                "scheduled": len(items),
                "completed": completed,
                "unreachable": unreachable,
                "overdue": overdue,
            }
            return {
                **{k: {"visits": v, "small_cell": _small(v)} for k, v in n.items()},
                "completion": _share(completed, due, "visits"),
            }

        periods = []
        for months in sorted({v[0] for v in visits}):
            of_period = [v for v in visits if v[0] == months]
            centres = sorted({v[1] for v in of_period})
            periods.append(
                {
                    "period_months": months,
                    **counts(of_period),
                    "by_centre": [
                        {"value": c, **counts([v for v in of_period if v[1] == c])} for c in centres
                    ],
                }
            )
        return {"as_of": as_of.isoformat(), "periods": periods}

    # -- sustainability scores

    def sustainability_report(self, query: Query) -> dict[str, Any]:
        matching = self.matching(query)
        taken = [
            a
            for a in self.assessments
            if a.outcome.value == "completed"
            and self.person(a.returnee_id) in matching
            and _in_moments(a.assessed_at, query)
        ]
        latest = _newest_of_each(
            taken,
            lambda a: (self.person(a.returnee_id), a.kind, a.period_months),
            lambda a: (a.assessed_at, a.assessment_id),
        )
        series: dict[tuple[str, int | None, str], list[ReintegrationAssessed]] = defaultdict(list)
        for a in latest:
            series[(a.kind.value, a.period_months, a.method)].append(a)

        def cell(value: str, items: list[ReintegrationAssessed]) -> dict[str, Any]:
            small = _small(len(items))
            means = {
                d: round(statistics.fmean(getattr(a.scores, d) for a in items), 4)
                for d in DIMENSIONS
            }
            return {
                "value": value,
                "people": len(items),
                "small_cell": small,
                "means": None if small else means,
            }

        def attribute(a: ReintegrationAssessed, name: str) -> str:
            value: str = getattr(matching[self.person(a.returnee_id)], name).value
            return value

        body = []
        for (kind, months, method), items in sorted(
            series.items(), key=lambda s: (s[0][0], s[0][1] or 0, s[0][2])
        ):
            breakdowns = {}
            for name in ("reception_centre", "return_type", "sex"):
                values = sorted({attribute(a, name) for a in items})
                breakdowns[name] = [
                    cell(v, [a for a in items if attribute(a, name) == v]) for v in values
                ]
            body.append(
                {
                    "kind": kind,
                    "period_months": months,
                    "method": method,
                    "total": cell("all", items),
                    "breakdowns": breakdowns,
                }
            )
        return {"series": body}

    # -- closures

    def closures_report(self, query: Query) -> dict[str, Any]:
        matching = self.matching(query)
        cases = {c.returnee_id for c in self.closures}
        closed = [
            c
            for case in cases
            if (c := self.closed_now(case)) is not None
            and self.person(case) in matching
            and _in_moments(c.closed_at, query)
        ]
        reopened = [
            r
            for r in self.reopenings
            if self.person(r.returnee_id) in matching and _in_moments(r.reopened_at, query)
        ]

        def by_reason(items: list[Any], reasons: Iterable[Any]) -> list[dict[str, Any]]:
            counted = [(r.value, sum(i.reason is r for i in items)) for r in reasons]
            return [{"value": v, "cases": n, "small_cell": _small(n)} for v, n in counted if n]

        return {
            "closed": {"cases": len(closed), "small_cell": _small(len(closed))},
            "by_reason": by_reason(closed, ClosureReason),
            "reopenings": {"cases": len(reopened), "small_cell": _small(len(reopened))},
            "reopenings_by_reason": by_reason(reopened, ReopeningReason),
        }

    def report(self, name: str, query: Query, body: dict[str, Any]) -> dict[str, Any]:
        """Report ``name`` for ``query`` (``body``: the service's, for the day it was made)."""
        if name == "plans":
            return self.plans_report(query)
        if name == "referrals":
            return self.referrals_report(query)
        if name == "follow-ups":
            return self.follow_ups_report(query, date.fromisoformat(body["as_of"]))
        if name == "sustainability":
            return self.sustainability_report(query)
        return self.closures_report(query)


_NOT_CASE = (
    ReturneeRegistered,
    ReturneeRegisteredV2,
    AidGranted,
    ActivityLaunched,
    ReturneeUpdated,
    ReturneeMerged,
)


def _is_case_event(event: Published) -> bool:
    return isinstance(
        event,
        CaseClosed
        | CaseReopened
        | PlanAgreed
        | ReferralUpdated
        | FollowUpScheduled
        | ReintegrationAssessed,
    )


def _means_apart(body: Any) -> tuple[Any, list[Any]]:
    """``body`` with every ``means`` taken out (floating point: compared with a tolerance)."""
    means: list[Any] = []

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            if "means" in node:
                means.append(node["means"])
            return {k: walk(v) for k, v in node.items() if k != "means"}
        if isinstance(node, list):
            return [walk(item) for item in node]
        return node

    return walk(json.loads(json.dumps(body))), means


def assert_as_oracle(
    name: str, body: dict[str, Any], oracle: CaseOracle, params: dict[str, str]
) -> None:
    expected = oracle.report(name, oracle_query(params), body)
    assert_same_report({k: body[k] for k in expected}, expected)


def assert_same_report(got: dict[str, Any], expected: dict[str, Any]) -> None:
    """Equal, mean scores within a rounding step (sums of floats depend on their order)."""
    got_shape, got_means = _means_apart(got)
    expected_shape, expected_means = _means_apart(expected)
    assert got_shape == expected_shape
    assert len(got_means) == len(expected_means)
    for mine, theirs in zip(got_means, expected_means, strict=True):
        assert (mine is None) == (theirs is None)
        if theirs is not None:
            assert mine == pytest.approx(theirs, abs=2e-4)


# ---- the service over the scenario --------------------------------------------------------------


@dataclass
class Lifecycle(Reporting[Published]):
    published: list[Timed] = field(default_factory=list)
    read_first: int = 0
    """How many of ``published`` were read before the late ones."""
    after_first: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    """Reports read then, by report and case."""

    async def publish_timed(self, events: Sequence[Timed]) -> list[Record]:
        records = self.sandbox.records([e for e, _ in events], times=[t for _, t in events])
        await self.sandbox.produce(records)
        self.records.extend(records)
        self.published.extend(events)
        await self.settled()
        return records

    def oracle(self) -> CaseOracle:
        return CaseOracle(self.published)


CASES: dict[str, dict[str, str]] = {
    "all time": {},
    "first half of 2024": {"from": "2024-01-01", "to": "2024-06-30"},
    "since 2025": {"from": "2025-01-01"},
    "gao": {"centre": "gao"},
    "tombouctou": {"centre": "tombouctou"},
    "women in tombouctou": {"centre": "tombouctou", "sex": "female"},
    "women on avrr": {"sex": "female", "return_type": "avrr"},
    "bamako in 2024": {"centre": "bamako", "from": "2024-01-01", "to": "2024-12-31"},
}


@pytest.fixture(scope="module")
async def lifecycle(infra: Infra) -> AsyncIterator[Lifecycle]:
    plan = scenario(datetime.now(UTC).date())
    async with reporting_sandbox(infra) as sandbox, reporting_api(sandbox) as http:
        state = Lifecycle(sandbox=sandbox, http=http, records=[])
        await state.publish_timed(plan.first)
        for name in REPORTS:
            for case in ("all time", "gao"):
                state.after_first[(name, case)] = await state.report(name, CASES[case])
        state.read_first = len(state.published)
        await state.publish_timed(plan.late)
        yield state


async def case_checksums(sandbox: Sandbox) -> dict[str, str]:
    kept = {"registration_changes": "returnee_id, field", "merges": "returnee_id"}
    return await table_checksums(sandbox, {**PROJECTION_KEYS, **kept})


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("name", REPORTS)
async def test_each_case_report_is_what_the_events_say(
    lifecycle: Lifecycle, name: str, case: str
) -> None:
    body = await lifecycle.report(name, CASES[case])

    assert_as_oracle(name, body, lifecycle.oracle(), CASES[case])


@pytest.mark.parametrize("name", REPORTS)
async def test_before_the_late_events_the_reports_showed_what_had_been_read(
    lifecycle: Lifecycle, name: str
) -> None:
    # Case events read before their registrations counted nowhere yet; reopenings read before
    # their closures left the case open; merges not read yet left both registrations counted.
    oracle = CaseOracle(lifecycle.published[: lifecycle.read_first])

    for case in ("all time", "gao"):
        assert_as_oracle(name, lifecycle.after_first[(name, case)], oracle, CASES[case])


async def test_the_scenario_covers_what_the_reports_must_get_right(lifecycle: Lifecycle) -> None:
    oracle = lifecycle.oracle()
    everything = oracle_query({})
    sustainability = oracle.sustainability_report(everything)
    follow_ups = oracle.follow_ups_report(everything, datetime.now(UTC).date())
    closures = oracle.closures_report(everything)

    assert {s["method"] for s in sustainability["series"]} == {METHOD, NEW_METHOD}
    assert {s["kind"] for s in sustainability["series"]} == {"baseline", "follow_up"}
    assert [p["period_months"] for p in follow_ups["periods"]] == list(PERIODS)
    assert all(
        p["overdue"]["visits"] > 0 and p["unreachable"]["visits"] > 0 for p in follow_ups["periods"]
    )
    assert closures["reopenings"]["cases"] > 0
    assert any(c["value"] == "duplicate_registration" for c in closures["by_reason"])
    assert len(oracle.referrals) < sum(
        isinstance(e, ReferralUpdated) for e, _ in lifecycle.published
    )
    assert len(oracle.schedules) < sum(
        isinstance(e, FollowUpScheduled) for e, _ in lifecycle.published
    )


async def test_scores_of_two_methods_are_never_averaged_together(lifecycle: Lifecycle) -> None:
    body = await lifecycle.report("sustainability", {})
    oracle = lifecycle.oracle()
    baselines = {s["method"]: s for s in body["series"] if s["kind"] == "baseline"}
    people = {
        method: {
            oracle.person(a.returnee_id)
            for a in oracle.assessments
            if a.kind.value == "baseline" and a.method == method
        }
        for method in (METHOD, NEW_METHOD)
    }

    assert set(baselines) == {METHOD, NEW_METHOD}
    # Each person counts once per kind and visit, under the method of their latest survey.
    assert sum(s["total"]["people"] for s in baselines.values()) == len(
        people[METHOD] | people[NEW_METHOD]
    )


# ---- small cells --------------------------------------------------------------------------------


def _json_cells(body: Any) -> list[dict[str, Any]]:
    """Every object of a report that carries a ``small_cell`` flag."""
    if isinstance(body, dict):
        own = [body] if "small_cell" in body else []
        return own + [cell for value in body.values() for cell in _json_cells(value)]
    if isinstance(body, list):
        return [cell for item in body for cell in _json_cells(item)]
    return []


@pytest.mark.parametrize("name", REPORTS)
async def test_small_cells_are_suppressed_in_the_csv_and_flagged_in_json(
    lifecycle: Lifecycle, name: str
) -> None:
    params = CASES["women in tombouctou"]
    body = await lifecycle.report(name, params)
    response = await lifecycle.http.get(f"/reports/{name}.csv", params=params)
    rows = list(csv.DictReader(io.StringIO(response.text)))
    flags = [cell["small_cell"] for cell in _json_cells(body)]
    suppressed = [row for row in rows if row["suppressed"] == "true"]
    shown = [row for row in rows if row["suppressed"] == "false"]
    measures = [k for k in rows[0] if k not in _LABELS]

    assert response.status_code == 200
    assert any(flags) and suppressed, "the scenario must have small cells there"
    assert sum(flags) == len(suppressed)
    assert all(row[k] == "" for row in suppressed for k in measures)
    assert all(_count(row) == 0 or _count(row) >= SMALL_CELL_LIMIT for row in shown)
    if name == "sustainability":
        small = [c for c in _json_cells(body) if "means" in c and c["small_cell"]]
        assert small and all(c["means"] is None for c in small)


_LABELS = {"group", "indicator", "partner_id", "partner_name", "status", "period_months", "kind"}
_LABELS |= {"method", "breakdown", "value", "event", "reason", "suppressed"}


def _count(row: dict[str, str]) -> int:
    """The count of people, visits or cases of a CSV row shown in full."""
    for column in ("people", "visits", "cases"):
        if row.get(column):
            return int(row[column])
    return 0


async def test_case_reports_need_an_analyst_token(lifecycle: Lifecycle) -> None:
    case_worker = issue_dev_token(lifecycle.sandbox.infra.jwt_secret, "case_worker")

    for name in REPORTS:
        anonymous = await lifecycle.http.get(f"/reports/{name}", headers={"Authorization": ""})
        wrong = await lifecycle.http.get(
            f"/reports/{name}.csv", headers={"Authorization": f"Bearer {case_worker}"}
        )
        assert (anonymous.status_code, wrong.status_code) == (401, 403)


# ---- redelivery and rebuild ---------------------------------------------------------------------


async def test_redelivered_and_republished_case_events_change_nothing(lifecycle: Lifecycle) -> None:
    before = await case_checksums(lifecycle.sandbox)
    duplicates_before = await lifecycle.duplicates()
    case_topics = {lifecycle.sandbox.topics[t] for t in _CASE_TOPICS}
    redelivered = [r for r in lifecycle.records if r[0] in case_topics]
    redelivered = random.Random(157).sample(redelivered, 300)
    # Published again under new event ids, and at the moment they were first published: each
    # is a fact kept already, a status or a schedule already superseded, or the one kept.
    republished = random.Random(158).sample(
        [(e, at) for e, at in lifecycle.published if _is_case_event(e)], 300
    )

    await lifecycle.sandbox.produce(redelivered)
    await lifecycle.publish_timed(republished)
    await eventually(
        lifecycle.duplicates,
        until=lambda now: now - duplicates_before >= len(redelivered),
        what=f"{len(redelivered)} more duplicates skipped (from {duplicates_before})",
    )

    assert await case_checksums(lifecycle.sandbox) == before


_CASE_TOPICS = (
    "case.closed",
    "case.reopened",
    "reintegration.plan_agreed",
    "referral.updated",
    "follow_up.scheduled",
    "reintegration.assessed",
)


@pytest.mark.parametrize("workers", [1, 3])
async def test_a_rebuild_gives_the_same_tables_and_reports(
    lifecycle: Lifecycle, workers: int
) -> None:
    before = await case_checksums(lifecycle.sandbox)
    reports = {name: await lifecycle.report(name, {}) for name in REPORTS}
    await _forge_rows(lifecycle.sandbox)

    returncode, summary = await lifecycle.sandbox.rebuild(workers=workers)

    assert returncode == 0
    assert summary["records"] >= lifecycle.produced
    assert await case_checksums(lifecycle.sandbox) == before
    assert all(not before[table].startswith("0:") for table in _CASE_TABLES)
    assert await inbox_count(lifecycle.sandbox) == lifecycle.produced
    for name, body in reports.items():
        again = await lifecycle.report(name, {})
        if name == "follow-ups" and again["as_of"] != body["as_of"]:
            continue  # midnight passed between the two: what is overdue moved, not the tables
        assert_same_report(again, body)


_CASE_TABLES = (
    "case_closures",
    "case_reopenings",
    "plans_agreed",
    "referrals",
    "follow_ups",
    "assessments",
)


async def _forge_rows(sandbox: Sandbox) -> None:
    """Rows no event made: the rebuild must forget them with the rest."""
    conn = await sandbox.connect()
    try:
        await conn.execute("UPDATE referrals SET status = 'declined'")
        await conn.execute("DELETE FROM case_reopenings")
        await conn.execute("UPDATE follow_ups SET due_on = due_on + 1")
    finally:
        await conn.close()


# ---- one case, step by step ---------------------------------------------------------------------


async def test_one_case_from_its_plan_to_its_reopening_in_every_report(
    lifecycle: Lifecycle,
) -> None:
    """The acceptance, from reporting's side: a returnee who arrived in May 2021 (a period no
    other case touches) agrees a plan with a referral, is visited twice, then the case is
    closed and reopened; each step shows in the reports."""
    rng = random.Random(159)
    person = registration(rng, date(2021, 5, 3), reception_centre=ReceptionCentre.MOPTI)
    book = CaseBook(rng, person, date.max)
    visits = book.schedules()
    book.add(
        example_for(
            ReintegrationAssessed,
            returnee_id=person.returnee_id,
            assessment_id=book.uuid(),
            kind="baseline",
            follow_up_id=None,
            period_months=None,
            assessed_at=_at(date(2021, 5, 10)),
        )
    )
    book.add(example_for(PlanAgreed, returnee_id=person.returnee_id, agreed_on=date(2021, 5, 20)))
    book.referral(_at(date(2021, 5, 21)))
    for follow_up_id, months, due in visits[:2]:
        book.add(
            example_for(
                ReintegrationAssessed,
                returnee_id=person.returnee_id,
                assessment_id=book.uuid(),
                follow_up_id=follow_up_id,
                period_months=months,
                assessed_at=_at(due),
            )
        )
    closed = example_for(
        CaseClosed, returnee_id=person.returnee_id, closed_at=_at(date(2022, 6, 1))
    )
    reopened = example_for(
        CaseReopened, returnee_id=person.returnee_id, reopened_at=_at(date(2022, 7, 1))
    )
    arrived = {"from": "2021-05-01", "to": "2021-05-31"}
    whole = {"from": "2021-01-01", "to": "2022-12-31"}

    await lifecycle.publish_timed([*book.events, (person, None), (closed, None)])
    plans = await lifecycle.report("plans", arrived)
    referrals = await lifecycle.report("referrals", whole)
    while_closed = await lifecycle.report("follow-ups", whole)
    closures = await lifecycle.report("closures", whole)
    scores = await lifecycle.report("sustainability", whole)
    await lifecycle.publish_timed([(reopened, None)])
    after_reopening = await lifecycle.report("closures", whole)
    reopened_visits = await lifecycle.report("follow-ups", whole)

    assert plans["with_plan"]["people"] == 1
    assert plans["agreed_within_aim"]["people"] == 1
    assert plans["median_days_to_plan"]["days"] == 17
    assert plans["by_centre"][0]["value"] == "mopti"
    assert referrals["total"]["referrals"] == 1
    assert [p["partner_id"] for p in referrals["partners"]] == [str(_partner_of(book))]
    # Closed: the 12-month visit not made is cancelled; the two made are completed.
    assert [p["period_months"] for p in while_closed["periods"]] == [3, 6]
    assert all(p["completion"]["share"] == 1.0 for p in while_closed["periods"])
    assert closures["closed"]["cases"] == 1
    assert closures["by_reason"] == [
        {"value": "reintegration_completed", "cases": 1, "small_cell": True}
    ]
    assert {(s["kind"], s["period_months"]) for s in scores["series"]} == {
        ("baseline", None),
        ("follow_up", 3),
        ("follow_up", 6),
    }
    assert all(s["total"]["means"] is None for s in scores["series"])  # one person: no mean
    # Reopened: no longer closed; the 12-month visit is due again, and overdue.
    assert after_reopening["closed"]["cases"] == 0
    assert after_reopening["reopenings"]["cases"] == 1
    twelve = reopened_visits["periods"][-1]
    assert (twelve["period_months"], twelve["overdue"]["visits"]) == (12, 1)
    assert twelve["completion"]["share"] == 0.0


def _partner_of(book: CaseBook) -> UUID:
    [partner] = {e.partner_id for e, _ in book.events if isinstance(e, ReferralUpdated)}
    return partner
