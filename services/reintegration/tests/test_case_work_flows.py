"""Case work against the real Postgres: the consumer's handler and the use cases run on the
service's schema, and what they queue in the outbox is read back and parsed as the contracts'
events, inside one transaction that is rolled back (nothing reaches Kafka from here)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from retour_contracts import (
    RETURNEE_MERGED_V1,
    RETURNEE_REGISTERED_V1,
    RETURNEE_UPDATED_V1,
    CaseAssigned,
    CaseClosed,
    CaseReopened,
    ClosureReason,
    EventSpec,
    FollowUpScheduled,
    ParsedEvent,
    ReceptionCentre,
    ReintegrationAssessed,
    ReopeningReason,
    ReturneeUpdated,
    VisitOutcome,
    Vulnerability,
    build_envelope,
    parse_envelope,
)
from retour_contracts.examples import example_returnee_merged, example_returnee_registered
from retour_kit.db import Connection, Database
from retour_kit.migrations import migrate
from retour_reintegration.adapters.unit_of_work import CaseWork
from retour_reintegration.domain.actor import Actor
from retour_reintegration.domain.assessments import SustainabilityBaseline, VulnerabilityFamily
from retour_reintegration.domain.commands import RecordVisit
from retour_reintegration.domain.errors import CaseWorkerUnknown, FollowUpCompleted
from retour_reintegration.domain.follow_up import example_answers, follow_up_id_of
from retour_reintegration.domain.staff import CaseWorkerSeen
from retour_reintegration.entrypoints.returnee_events import apply_returnee_events
from retour_reintegration.main import MIGRATIONS_PACKAGE, SCHEMA
from retour_reintegration.usecases import (
    assign_case,
    close_case,
    record_assessment,
    record_follow_up_visit,
    reopen_case,
)
from retour_test_infra import Infra

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC)
TRACE = f"00-{uuid4().hex}-b7ad6b7169203331-01"
GAO = frozenset({ReceptionCentre.GAO})
SUPERVISOR = Actor("supervisor.gao", centres=GAO)
WORKER = Actor("worker.gao.flows", centres=GAO)


@pytest.fixture(scope="module")
async def database(infra: Infra) -> AsyncIterator[Database]:
    await migrate(infra.dsn("reintegration"), schema=SCHEMA, package=MIGRATIONS_PACKAGE)
    database = Database(infra.dsn("reintegration"), schema=SCHEMA)
    await database.open(min_size=1, max_size=2)
    yield database
    await database.close()


class Flow:
    """One transaction on the service's schema: records handled as the consumer handles them,
    use cases run as the routes run them, and the events they queued."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.work = CaseWork(conn)
        self.outbox = self.work.events(traceparent=TRACE)

    async def consume(self, spec: EventSpec[Any], *events: Any) -> list[ParsedEvent]:
        records = []
        for event in events:
            envelope = build_envelope(spec, event, source="/intake")
            records.append(
                parse_envelope(envelope.topic, envelope.key, envelope.value, envelope.headers)
            )
        await apply_returnee_events(self.work, records)
        return records

    async def register(self, arrival: str = "2024-08-31", **facts: Any) -> UUID:
        registration = example_returnee_registered(
            returnee_id=uuid4(),
            arrival_date=arrival,
            registered_at=NOW,
            reception_centre="gao",
            personal={"date_of_birth": None},  # the example's would not match every arrival
            **facts,
        )
        await self.consume(RETURNEE_REGISTERED_V1, registration)
        return registration.returnee_id

    async def update(self, returnee_id: UUID, version: int, **facts: Any) -> None:
        update = ReturneeUpdated.model_validate(
            {
                "returnee_id": str(returnee_id),
                "version": version,
                "updated_at": NOW.isoformat(),
                "updated_by": "agent.gao.7",
                "reason": "relocation",
                "changed": list(facts),
                "facts": facts,
            }
        )
        await self.consume(RETURNEE_UPDATED_V1, update)

    async def published(self, *returnee_ids: UUID) -> list[tuple[ParsedEvent, Any]]:
        """The events queued about these returnees, in publication order, as parsed off the
        wire (with their envelope)."""
        rows = await self.conn.fetch(
            "SELECT topic, key, value, headers FROM outbox WHERE key = ANY($1::bytea[])"
            " ORDER BY id",
            [str(returnee_id).encode() for returnee_id in returnee_ids],
        )
        parsed = [
            parse_envelope(
                row["topic"],
                row["key"],
                row["value"],
                [(name, value.encode()) for name, value in row["headers"]],
            )
            for row in rows
        ]
        return [(p, p.event) for p in parsed]

    async def events(self, *returnee_ids: UUID) -> list[Any]:
        return [event for _, event in await self.published(*returnee_ids)]

    async def scheduled(self, returnee_id: UUID) -> list[FollowUpScheduled]:
        return [e for e in await self.events(returnee_id) if isinstance(e, FollowUpScheduled)]

    async def close(self, returnee_id: UUID, reason: ClosureReason) -> None:
        await close_case(
            self.work.cases,
            self.outbox,
            returnee_id=returnee_id,
            reason=reason,
            actor=WORKER,
            now=NOW,
        )

    async def visit(self, returnee_id: UUID, period_months: int, command: RecordVisit) -> Any:
        return await record_follow_up_visit(
            self.work.cases,
            self.work.follow_ups,
            self.outbox,
            returnee_id=returnee_id,
            follow_up_id=follow_up_id_of(returnee_id, period_months),
            command=command,
            actor=WORKER,
            now=NOW,
        )

    async def assess(self, returnee_id: UUID, command: Any) -> Any:
        return await record_assessment(
            self.work.cases,
            self.work.assessments,
            self.outbox,
            returnee_id=returnee_id,
            command=command,
            actor=WORKER,
            now=NOW,
        )


@asynccontextmanager
async def flow(database: Database) -> AsyncIterator[Flow]:
    async with database.pool.acquire() as conn:
        transaction = conn.transaction()
        await transaction.start()
        try:
            yield Flow(conn)
        finally:
            await transaction.rollback()


def due(events: Sequence[FollowUpScheduled]) -> list[tuple[int, date, str]]:
    return [(e.period_months, e.due_on, e.reception_centre.value) for e in events]


class TestVisitsScheduled:
    async def test_a_new_case_schedules_its_visits_months_after_arrival(
        self, database: Database
    ) -> None:
        async with flow(database) as f:
            returnee_id = await f.register(arrival="2024-08-31")
            published = await f.published(returnee_id)
            rows = await f.conn.fetch(
                "SELECT follow_up_id FROM follow_ups WHERE returnee_id = $1", returnee_id
            )

        events = [event for _, event in published]
        assert due(events) == [
            (3, date(2024, 11, 30), "gao"),
            (6, date(2025, 2, 28), "gao"),
            (12, date(2025, 8, 31), "gao"),
        ]
        assert {e.follow_up_id for e in events} == {row["follow_up_id"] for row in rows}
        assert events[0].follow_up_id == follow_up_id_of(returnee_id, 3)
        for parsed, _ in published:
            assert parsed.source == "/reintegration"

    async def test_the_registrations_trace_continues_into_its_visits(
        self, database: Database
    ) -> None:
        async with flow(database) as f:
            registration = example_returnee_registered(returnee_id=uuid4(), registered_at=NOW)
            (record,) = await f.consume(RETURNEE_REGISTERED_V1, registration)
            published = await f.published(registration.returnee_id)

        trace_id = record.traceparent.split("-")[1]
        assert {parsed.traceparent.split("-")[1] for parsed, _ in published} == {trace_id}

    async def test_a_registration_read_again_schedules_nothing_more(
        self, database: Database
    ) -> None:
        async with flow(database) as f:
            registration = example_returnee_registered(returnee_id=uuid4(), registered_at=NOW)
            await f.consume(RETURNEE_REGISTERED_V1, registration)
            await f.consume(RETURNEE_REGISTERED_V1, registration)  # a second event, same person
            events = await f.scheduled(registration.returnee_id)
            kept = await f.conn.fetchval(
                "SELECT count(*) FROM follow_ups WHERE returnee_id = $1", registration.returnee_id
            )

        assert (len(events), kept) == (3, 3)

    async def test_the_periods_are_the_settings(self, database: Database) -> None:
        async with flow(database) as f:
            registration = example_returnee_registered(
                returnee_id=uuid4(),
                registered_at=NOW,
                arrival_date="2024-01-31",
                personal={"date_of_birth": None},
            )
            envelope = build_envelope(RETURNEE_REGISTERED_V1, registration, source="/intake")
            record = parse_envelope(envelope.topic, envelope.key, envelope.value, envelope.headers)
            await apply_returnee_events(f.work, [record], periods=(1, 24))
            events = await f.scheduled(registration.returnee_id)

        assert [(e.period_months, e.due_on) for e in events] == [
            (1, date(2024, 2, 29)),
            (24, date(2026, 1, 31)),
        ]

    async def test_a_correction_read_first_opens_the_case_with_corrected_visits(
        self, database: Database
    ) -> None:
        async with flow(database) as f:
            registration = example_returnee_registered(
                returnee_id=uuid4(), registered_at=NOW, arrival_date="2024-06-11"
            )
            await f.update(registration.returnee_id, 2, reception_centre="kayes")
            await f.consume(RETURNEE_REGISTERED_V1, registration)
            events = await f.scheduled(registration.returnee_id)

        assert due(events) == [
            (3, date(2024, 9, 11), "kayes"),
            (6, date(2024, 12, 11), "kayes"),
            (12, date(2025, 6, 11), "kayes"),
        ]


class TestVisitsMoved:
    async def test_a_transfer_publishes_the_visits_not_done_with_the_new_centre(
        self, database: Database
    ) -> None:
        async with flow(database) as f:
            returnee_id = await f.register(arrival="2024-08-31")
            await f.visit(returnee_id, 3, completed_on(date(2024, 12, 1)))
            await f.update(returnee_id, 2, reception_centre="kayes")
            events = await f.scheduled(returnee_id)

        assert due(events[3:]) == [
            (6, date(2025, 2, 28), "kayes"),
            (12, date(2025, 8, 31), "kayes"),
        ]
        assert [e.follow_up_id for e in events[3:]] == [e.follow_up_id for e in events[1:3]]

    async def test_a_corrected_arrival_moves_the_due_dates(self, database: Database) -> None:
        async with flow(database) as f:
            returnee_id = await f.register(arrival="2024-08-31")
            await f.update(returnee_id, 2, arrival_date="2024-08-15")
            await f.update(returnee_id, 3, region_of_origin="mopti")  # no visit changes
            events = await f.scheduled(returnee_id)
            kept = await f.conn.fetch(
                "SELECT due_on FROM follow_ups WHERE returnee_id = $1 ORDER BY period_months",
                returnee_id,
            )

        assert due(events[3:]) == [
            (3, date(2024, 11, 15), "gao"),
            (6, date(2025, 2, 15), "gao"),
            (12, date(2025, 8, 15), "gao"),
        ]
        assert [row["due_on"] for row in kept] == [e.due_on for e in events[3:]]

    async def test_a_closed_cases_visits_move_silently_and_are_published_when_it_reopens(
        self, database: Database
    ) -> None:
        async with flow(database) as f:
            returnee_id = await f.register(arrival="2024-08-31")
            await f.close(returnee_id, ClosureReason.RETURNEE_UNREACHABLE)
            await f.update(returnee_id, 2, reception_centre="kayes")
            silent = await f.events(returnee_id)
            await reopen_case(
                f.work.cases,
                f.work.follow_ups,
                f.outbox,
                returnee_id=returnee_id,
                reason=ReopeningReason.CONTACT_REGAINED,
                actor=Actor("worker.kayes", centres=frozenset({ReceptionCentre.KAYES})),
                now=NOW,
            )
            events = await f.events(returnee_id)

        assert [type(e) for e in silent] == [FollowUpScheduled] * 3 + [CaseClosed]
        reopened, *again = events[len(silent) :]
        assert isinstance(reopened, CaseReopened)
        assert (reopened.reason, reopened.reopened_by) == (
            ReopeningReason.CONTACT_REGAINED,
            "worker.kayes",
        )
        assert due(again) == [
            (3, date(2024, 11, 30), "kayes"),
            (6, date(2025, 2, 28), "kayes"),
            (12, date(2025, 8, 31), "kayes"),
        ]


class TestClosures:
    async def test_closing_publishes_the_reason_who_and_when(self, database: Database) -> None:
        async with flow(database) as f:
            returnee_id = await f.register()
            await f.close(returnee_id, ClosureReason.REMIGRATED)
            (closed,) = [e for e in await f.events(returnee_id) if isinstance(e, CaseClosed)]

        assert closed == CaseClosed(
            returnee_id=returnee_id,
            reason=ClosureReason.REMIGRATED,
            closed_at=NOW,
            closed_by=WORKER.subject,
        )

    async def test_a_merge_closes_the_duplicates_case_as_an_event_once(
        self, database: Database
    ) -> None:
        async with flow(database) as f:
            person, duplicate = await f.register(), await f.register()
            merge = example_returnee_merged(returnee_id=str(duplicate), merged_into=str(person))
            await f.consume(RETURNEE_MERGED_V1, merge)
            await f.consume(RETURNEE_MERGED_V1, merge)  # a second event of the same decision
            events = await f.events(duplicate)
            persons = await f.events(person)

        closed = [e for e in events if isinstance(e, CaseClosed)]
        assert [(e.reason, e.closed_by, e.closed_at) for e in closed] == [
            (ClosureReason.DUPLICATE_REGISTRATION, merge.merged_by, merge.merged_at)
        ]
        assert not any(isinstance(e, CaseClosed) for e in persons)

    async def test_a_merge_read_first_gives_the_same_events(self, database: Database) -> None:
        async with flow(database) as f:
            person, duplicate = await f.register(), uuid4()
            merge = example_returnee_merged(returnee_id=str(duplicate), merged_into=str(person))
            await f.consume(RETURNEE_MERGED_V1, merge)
            nothing_yet = await f.events(duplicate)
            registration = example_returnee_registered(returnee_id=duplicate, registered_at=NOW)
            await f.consume(RETURNEE_REGISTERED_V1, registration)
            events = await f.events(duplicate)

        assert nothing_yet == []
        assert [type(e) for e in events] == [FollowUpScheduled] * 3 + [CaseClosed]
        assert events[-1].reason is ClosureReason.DUPLICATE_REGISTRATION

    async def test_a_case_closed_before_its_merge_publishes_no_second_closure(
        self, database: Database
    ) -> None:
        async with flow(database) as f:
            person, duplicate = await f.register(), await f.register()
            await f.close(duplicate, ClosureReason.RELOCATED)
            merge = example_returnee_merged(returnee_id=str(duplicate), merged_into=str(person))
            await f.consume(RETURNEE_MERGED_V1, merge)
            closed = [e for e in await f.events(duplicate) if isinstance(e, CaseClosed)]

        assert [e.reason for e in closed] == [ClosureReason.RELOCATED]


async def every_due_visit(work: CaseWork, centre: str) -> list[Any]:
    """The centre's whole due list, page by page: the test database keeps earlier runs' cases,
    so one page, however long, may end before this test's visit."""
    found: list[Any] = []
    after: tuple[date, UUID] | None = None
    while True:
        page = await work.views.due_follow_ups(
            due_before=None, centres=[centre], assigned_to=None, after=after, limit=1000
        )
        found += page
        if len(page) < 1000:
            return found
        after = (page[-1].due_on, page[-1].follow_up_id)


def completed_on(day: date) -> RecordVisit:
    return RecordVisit(
        outcome=VisitOutcome.COMPLETED, visited_on=day, answers=dict(example_answers())
    )


class TestCaseWork:
    async def test_an_assignment_needs_the_case_worker_on_the_roster(
        self, database: Database
    ) -> None:
        async with flow(database) as f:
            returnee_id = await f.register()

            async def assign(to: str) -> Any:
                return await assign_case(
                    f.work.cases,
                    f.work.roster,
                    f.outbox,
                    returnee_id=returnee_id,
                    case_worker=to,
                    actor=SUPERVISOR,
                    supervises=True,
                    now=NOW,
                )

            with pytest.raises(CaseWorkerUnknown):
                await assign("worker.gao.never.seen")
            await f.work.roster.record(CaseWorkerSeen("worker.gao.a", GAO, NOW))
            await f.work.roster.record(CaseWorkerSeen("worker.gao.b", GAO, NOW))
            await assign("worker.gao.a")
            case = await assign("worker.gao.b")
            history = await f.conn.fetch(
                "SELECT assigned_to, previous, assigned_by FROM case_assignments"
                " WHERE returnee_id = $1 ORDER BY assignment_id",
                returnee_id,
            )
            events = [e for e in await f.events(returnee_id) if isinstance(e, CaseAssigned)]

        assert case.assigned_to == "worker.gao.b"
        assert [tuple(row) for row in history] == [
            ("worker.gao.a", None, "supervisor.gao"),
            ("worker.gao.b", "worker.gao.a", "supervisor.gao"),
        ]
        assert [(e.assigned_to, e.previous) for e in events] == [
            ("worker.gao.a", None),
            ("worker.gao.b", "worker.gao.a"),
        ]

    async def test_vulnerabilities_found_are_added_to_the_case_once(
        self, database: Database
    ) -> None:
        async with flow(database) as f:
            returnee_id = await f.register(vulnerabilities=["disability"])
            found = VulnerabilityFamily.model_validate(
                {
                    "kind": "vulnerability_family",
                    "vulnerabilities": ["disability", "gbv_survivor"],
                    "household_size": 5,
                    "dependants": 2,
                    "family_support": "none",
                    "family_attitude": "hostile",
                }
            )
            for _ in range(2):
                await f.assess(returnee_id, found)
            details = await f.work.views.assessments(returnee_id, centres=["gao"])
            case = await f.work.cases.lock(returnee_id)
            later = await f.work.assessments.vulnerabilities_found(returnee_id)
            events = await f.events(returnee_id)

        assert details is not None and len(details) == 2
        assert details[0].document["family_support"] == "none"
        assert case is not None and case.vulnerabilities == (Vulnerability.DISABILITY,)
        assert later == [Vulnerability.GBV_SURVIVOR]
        assert not any(isinstance(e, ReintegrationAssessed) for e in events)

    async def test_the_baseline_publishes_its_scores(self, database: Database) -> None:
        async with flow(database) as f:
            returnee_id = await f.register()
            baseline = SustainabilityBaseline.model_validate(
                {"kind": "sustainability_baseline", "answers": dict(example_answers())}
            )
            recorded = await f.assess(returnee_id, baseline)
            (assessed,) = [
                e for e in await f.events(returnee_id) if isinstance(e, ReintegrationAssessed)
            ]

        assert assessed.assessment_id == recorded.assessment_id
        assert assessed.scores == recorded.scores
        assert assessed.follow_up_id is None

    async def test_an_unreachable_visit_stays_due_until_the_survey_is_taken(
        self, database: Database
    ) -> None:
        async with flow(database) as f:
            returnee_id = await f.register(arrival=(NOW - timedelta(days=100)).date().isoformat())
            visit_id = follow_up_id_of(returnee_id, 3)
            today = NOW.date()
            await f.visit(
                returnee_id, 3, RecordVisit(outcome=VisitOutcome.UNREACHABLE, visited_on=today)
            )
            still_due = await every_due_visit(f.work, "gao")
            await f.visit(returnee_id, 3, completed_on(today))
            with pytest.raises(FollowUpCompleted):
                await f.visit(returnee_id, 3, completed_on(today))
            done_due = await every_due_visit(f.work, "gao")
            events = [
                e for e in await f.events(returnee_id) if isinstance(e, ReintegrationAssessed)
            ]

        (listed,) = [d for d in still_due if d.follow_up_id == visit_id]
        assert listed.unreachable_visits == 1
        assert visit_id not in {d.follow_up_id for d in done_due}
        assert [(e.outcome, e.scores is not None, e.period_months) for e in events] == [
            (VisitOutcome.UNREACHABLE, False, 3),
            (VisitOutcome.COMPLETED, True, 3),
        ]
