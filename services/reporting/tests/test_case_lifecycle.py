"""The events of a case's life in the projections: what is kept of each (ids, codes, dates and
scores, never who acted), which status of a referral and which schedule of a visit is kept
whatever order they come in, and the wiring that hands a visit's schedule over with the moment
it was published."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast
from uuid import uuid4

import pytest

from retour_contracts import (
    CASE_ASSIGNED_V1,
    CASE_EVENTS,
    FOLLOW_UP_SCHEDULED_V1,
    CaseAssigned,
    CaseClosed,
    CaseReopened,
    FollowUpScheduled,
    PlanAgreed,
    ReferralStatus,
    ReferralUpdated,
    ReintegrationAssessed,
    build_envelope,
    parse_envelope,
    personal_field_names,
)
from retour_contracts.examples import example_for
from retour_reporting.adapters.pg_projections import PgProjectionStore
from retour_reporting.domain.case_lifecycle import (
    AssessmentRow,
    ClosureRow,
    FollowUpRow,
    PlanRow,
    ReferralRow,
    ReopeningRow,
    ScheduledVisit,
)
from retour_reporting.domain.projection import Projected, ProjectionRows, rows_for
from retour_reporting.entrypoints.projection_consumer import projecting
from retour_reporting.main import SERVICE
from retour_reporting.settings import Settings
from retour_reporting.usecases.projecting import apply_rows

MOMENT = datetime(2024, 9, 16, 10, 0, tzinfo=UTC)
CASE_ROWS = (ClosureRow, ReopeningRow, PlanRow, ReferralRow, FollowUpRow, AssessmentRow)


def referral(status: ReferralStatus, at: datetime, **overrides: Any) -> ReferralUpdated:
    return example_for(ReferralUpdated, status=status, status_at=at, **overrides)


def visit(published_at: datetime, **overrides: Any) -> ScheduledVisit:
    return ScheduledVisit(example_for(FollowUpScheduled, **overrides), published_at)


class TestWhatIsKept:
    def test_no_row_has_a_personal_field_nor_who_acted(self) -> None:
        fields = {name for row in CASE_ROWS for name in row._fields}

        assert fields.isdisjoint(personal_field_names())
        assert {"closed_by", "reopened_by", "agreed_by", "updated_by", "assessed_by"}.isdisjoint(
            fields
        )

    def test_each_event_gives_its_row(self) -> None:
        published = MOMENT + timedelta(minutes=5)
        events: list[Projected] = [
            example_for(CaseClosed),
            example_for(CaseReopened),
            example_for(PlanAgreed),
            example_for(ReferralUpdated),
            ScheduledVisit(example_for(FollowUpScheduled), published),
            example_for(ReintegrationAssessed),
        ]

        rows = rows_for(events)

        [closure], [reopening], [plan] = rows.closures, rows.reopenings, rows.plans
        [referred], [scheduled], [assessed] = rows.referrals, rows.follow_ups, rows.assessments
        assert (closure.reason, reopening.reason) == ("reintegration_completed", "new_needs")
        assert (plan.revision, plan.agreed_on) == (1, date(2024, 7, 5))
        assert (referred.status, referred.partner_name) == (
            "accepted",
            "Centre de formation professionnelle de Bamako",
        )
        assert (scheduled.period_months, scheduled.scheduled_at) == (3, published)
        assert (assessed.kind, assessed.method, assessed.composite) == (
            "follow_up",
            "rss-2017",
            0.6,
        )
        assert "caseworker" not in repr(rows) and "supervisor" not in repr(rows)

    def test_an_unreachable_visit_has_no_scores(self) -> None:
        event = example_for(ReintegrationAssessed, outcome="unreachable", scores=None)

        [row] = rows_for([event]).assessments

        assert (row.outcome, row.economic, row.composite) == ("unreachable", None, None)

    def test_a_baseline_has_no_visit(self) -> None:
        event = example_for(
            ReintegrationAssessed, kind="baseline", follow_up_id=None, period_months=None
        )

        [row] = rows_for([event]).assessments

        assert (row.kind, row.follow_up_id, row.period_months) == ("baseline", None, None)

    def test_a_schedule_without_the_moment_it_was_published_is_refused(self) -> None:
        with pytest.raises(TypeError, match="published"):
            rows_for([cast(Projected, example_for(FollowUpScheduled))])

    def test_a_fact_seen_twice_keeps_its_first_event(self) -> None:
        # Published again under another event id: the business key is what counts.
        first = example_for(CaseClosed, reason="remigrated")
        again = example_for(CaseClosed, reason="relocated")
        plan = example_for(PlanAgreed)
        plan_again = example_for(PlanAgreed, agreed_on="2024-08-01")

        rows = rows_for([first, again, plan, plan_again])

        assert [row.reason for row in rows.closures] == ["remigrated"]
        assert [row.agreed_on for row in rows.plans] == [date(2024, 7, 5)]

    def test_closures_of_one_case_at_two_moments_are_two_facts(self) -> None:
        later = MOMENT + timedelta(days=30)

        rows = rows_for([example_for(CaseClosed), example_for(CaseClosed, closed_at=later)])

        assert len(rows.closures) == 2


class TestTheNewestStatusAndSchedule:
    def test_a_referral_keeps_its_latest_status_in_any_order(self) -> None:
        referral_id = uuid4()
        life = [
            referral(ReferralStatus.SENT, MOMENT, referral_id=referral_id),
            referral(ReferralStatus.ACCEPTED, MOMENT + timedelta(days=2), referral_id=referral_id),
            referral(ReferralStatus.COMPLETED, MOMENT + timedelta(days=9), referral_id=referral_id),
        ]

        for order in itertools.permutations(life):
            [row] = rows_for(order).referrals
            assert row.status == "completed"

    def test_of_two_statuses_given_at_one_moment_the_later_in_a_referrals_life_wins(
        self,
    ) -> None:
        referral_id = uuid4()
        statuses = [referral(s, MOMENT, referral_id=referral_id) for s in ReferralStatus]

        for order in itertools.permutations(statuses):
            [row] = rows_for(order).referrals
            assert row.status == "completed"

    def test_referrals_are_kept_apart(self) -> None:
        rows = rows_for(
            [
                referral(ReferralStatus.SENT, MOMENT, referral_id=uuid4()),
                referral(ReferralStatus.DECLINED, MOMENT, referral_id=uuid4()),
            ]
        )

        assert sorted(row.status for row in rows.referrals) == ["declined", "sent"]

    def test_a_visit_keeps_its_newest_schedule_in_any_order(self) -> None:
        # Opened in Gao, transferred to Bamako, then the arrival date was corrected.
        follow_up_id = uuid4()
        schedules = [
            visit(MOMENT, follow_up_id=follow_up_id, reception_centre="gao", due_on="2024-09-15"),
            visit(
                MOMENT + timedelta(days=3),
                follow_up_id=follow_up_id,
                reception_centre="bamako",
                due_on="2024-09-15",
            ),
            visit(
                MOMENT + timedelta(days=8),
                follow_up_id=follow_up_id,
                reception_centre="bamako",
                due_on="2024-09-01",
            ),
        ]

        for order in itertools.permutations(schedules):
            [row] = rows_for(order).follow_ups
            assert (row.reception_centre, row.due_on) == ("bamako", date(2024, 9, 1))


# ---- wiring -----------------------------------------------------------------------------------


class WrittenRows:
    """The store's ``write`` only, recording the rows and whether a lock was taken."""

    def __init__(self) -> None:
        self.written: list[ProjectionRows] = []
        self.locked = False

    async def lock_registrations(self, *, exclusive: bool) -> None:
        self.locked = True

    async def write(self, rows: ProjectionRows) -> None:
        self.written.append(rows)


async def test_the_consumer_hands_a_schedule_over_with_the_moment_it_was_published() -> None:
    store = WrittenRows()
    published = datetime(2024, 9, 1, 8, 30, 15, 250_000, tzinfo=UTC)
    envelope = build_envelope(
        FOLLOW_UP_SCHEDULED_V1, example_for(FollowUpScheduled), source="/r", time=published
    )
    parsed = parse_envelope(envelope.topic, envelope.key, envelope.value, envelope.headers)

    await projecting(None)(cast(PgProjectionStore, store), [parsed])

    [rows] = store.written
    assert [row.scheduled_at for row in rows.follow_ups] == [published]


async def test_the_consumer_refuses_a_case_event_reporting_does_not_read() -> None:
    envelope = build_envelope(CASE_ASSIGNED_V1, example_for(CaseAssigned), source="/r")
    parsed = parse_envelope(envelope.topic, envelope.key, envelope.value, envelope.headers)

    with pytest.raises(TypeError, match=r"case\.assigned"):
        await projecting(None)(cast(PgProjectionStore, WrittenRows()), [parsed])


async def test_case_events_are_written_without_the_registration_lock() -> None:
    # Each is a row of its own, settled by its own key: nothing to wait for.
    store = WrittenRows()
    events: Sequence[Any] = [example_for(CaseClosed), example_for(ReferralUpdated)]

    await apply_rows(cast(Any, store), rows_for(events))

    assert not store.locked
    assert len(store.written) == 1


def test_the_service_and_its_rebuild_read_the_case_events_meant_for_reporting() -> None:
    meant = {spec.topic for spec in CASE_EVENTS if "reporting" in spec.consumers}
    settings = Settings(
        database_url="postgresql://reporting@localhost/retour",
        auth_jwt_secret="x" * 32,
        follow_up_scheduled_topic="copy.follow_up.scheduled",
    )

    assert meant == {
        "case.closed",
        "case.reopened",
        "reintegration.plan_agreed",
        "referral.updated",
        "follow_up.scheduled",
        "reintegration.assessed",
    }
    assert meant <= {spec.topic for spec in SERVICE.consumes}
    assert CASE_ASSIGNED_V1 not in SERVICE.consumes
    assert settings.topic_of(FOLLOW_UP_SCHEDULED_V1) == "copy.follow_up.scheduled"
