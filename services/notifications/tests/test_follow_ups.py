"""The rules of monitoring visits (domain/follow_ups.py), pure: when a reminder and an overdue
email are due, when a visit is live, whatever the order its five kinds of events are read in,
and who is told that a visit is overdue."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from retour_contracts import (
    CaseAssigned,
    CaseClosed,
    CaseReopened,
    FollowUpScheduled,
    ReintegrationAssessed,
)
from retour_contracts.examples import example_case_event
from retour_notifications.domain.follow_ups import (
    CASE_CLOSED,
    VISIT_RECORDED,
    Case,
    FollowUpEvent,
    FollowUps,
    FollowUpTimes,
    overdue_addressee,
    overdue_context,
    overdue_due,
    overdue_notification_id,
    reminder_context,
    reminder_due,
    reminder_notification_id,
)

TIMES = FollowUpTimes(reminder_days=3, overdue_days=7)
RETURNEE = UUID("5f0c6d1e-8a3b-4c2d-9e7f-1a2b3c4d5e6f")
VISIT = uuid4()
T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=UTC)


# When: the reminder's moment, and the overdue one.


def test_a_reminder_is_due_from_three_days_before_the_visit_at_eight() -> None:
    due_on = date(2025, 9, 15)

    assert not TIMES.reminder_due(due_on, at(date(2025, 9, 12), 7, 59))
    assert TIMES.reminder_due(due_on, at(date(2025, 9, 12), 8, 0))
    # Scheduled late, or read late: at once, as long as the visit is not due yet.
    assert TIMES.reminder_due(due_on, at(date(2025, 9, 14), 23, 59))
    assert not TIMES.reminder_due(due_on, at(date(2025, 9, 15), 0, 0))
    assert not TIMES.reminder_due(due_on, at(date(2025, 10, 1), 12, 0))


@pytest.mark.parametrize("reminder_days", [1, 3, 10])
def test_the_query_window_says_exactly_what_the_rule_says(reminder_days: int) -> None:
    times = FollowUpTimes(reminder_days=reminder_days, overdue_days=7)
    first = date(2025, 2, 25)
    moments = [
        at(first + timedelta(days=d), hour, minute)
        for d in range(4)
        for hour, minute in ((0, 0), (7, 59), (8, 0), (8, 1), (23, 59))
    ]
    for now in moments:
        after, until = times.reminder_window(now)
        for offset in range(-3, reminder_days + 4):
            due_on = now.date() + timedelta(days=offset)
            in_window = after < due_on <= until
            assert in_window == times.reminder_due(due_on, now), (now, due_on)


def test_a_visit_is_overdue_seven_days_after_it_was_due() -> None:
    due_on = date(2025, 9, 15)

    assert not TIMES.overdue(due_on, at(date(2025, 9, 21), 23, 59))
    assert TIMES.overdue(due_on, at(date(2025, 9, 22), 0, 0))
    # ... and emailed about for 30 days more at most: older ones stay on the due list only.
    assert TIMES.overdue(due_on, at(date(2025, 10, 21), 23, 59))
    assert not TIMES.overdue(due_on, at(date(2025, 10, 22), 0, 0))
    for days in range(0, 45):
        now = at(due_on + timedelta(days=days), 10)
        after, until = TIMES.overdue_window(now)
        assert (after < due_on <= until) == TIMES.overdue(due_on, now)


# Live: scheduled, not recorded, on an open case, scheduled after its latest closure.


def scheduled(due_on: date = date(2025, 9, 15), **changes: Any) -> FollowUpScheduled:
    return example_case_event(
        FollowUpScheduled,
        follow_up_id=str(VISIT),
        returnee_id=str(RETURNEE),
        due_on=due_on.isoformat(),
        **changes,
    )


def assessed(**changes: Any) -> ReintegrationAssessed:
    fields: dict[str, Any] = {"follow_up_id": str(VISIT), "returnee_id": str(RETURNEE), **changes}
    return example_case_event(ReintegrationAssessed, **fields)


def closed() -> CaseClosed:
    return example_case_event(CaseClosed, returnee_id=str(RETURNEE))


def reopened() -> CaseReopened:
    return example_case_event(CaseReopened, returnee_id=str(RETURNEE))


def assigned(to: str, assigned_at: datetime) -> CaseAssigned:
    return example_case_event(
        CaseAssigned,
        returnee_id=str(RETURNEE),
        assigned_to=to,
        assigned_at=assigned_at.isoformat(),
    )


Published = tuple[FollowUpEvent, UUID, datetime]


def published(*events: FollowUpEvent) -> list[Published]:
    """``events`` as reintegration published them: one second apart, in this order."""
    return [(e, uuid4(), T0 + timedelta(seconds=n)) for n, e in enumerate(events)]


def read(events: list[Published]) -> FollowUps:
    state = FollowUps.of(RETURNEE)
    for event, event_id, published_at in events:
        state = state.applied(event, event_id, published_at)
    return state.settled()[0]


def live(events: list[Published]) -> bool:
    return read(events).visits[VISIT].live


def test_a_scheduled_visit_on_an_open_case_is_live() -> None:
    assert live(published(scheduled()))


def test_a_recorded_visit_is_not_live_even_if_the_recording_came_first() -> None:
    assert not live(published(scheduled(), assessed()))
    assert not live(published(assessed(), scheduled()))
    unreachable = assessed(outcome="unreachable", scores=None)
    assert not live(published(scheduled(), unreachable))


def test_a_baseline_assessment_records_no_visit() -> None:
    baseline = assessed(kind="baseline", follow_up_id=None, period_months=None)

    assert live(published(scheduled(), baseline))


def test_a_closure_stops_the_visit_and_only_a_reopening_then_a_new_scheduling_rearms_it() -> None:
    assert not live(published(scheduled(), closed()))
    assert not live(published(scheduled(), closed(), reopened()))
    # A transfer of a closed case schedules the visit again: the case is still closed.
    assert not live(published(scheduled(), closed(), scheduled(reception_centre="gao")))
    assert live(published(scheduled(), closed(), reopened(), scheduled()))
    assert not live(published(scheduled(), closed(), reopened(), scheduled(), closed()))


@pytest.mark.parametrize(
    "story",
    [
        [scheduled(), closed(), reopened(), scheduled(date(2025, 10, 1))],
        [scheduled(), closed(), reopened()],
        [scheduled(), assigned("cw.1", T0), scheduled(date(2025, 10, 1)), assessed()],
        [scheduled(), closed(), scheduled(date(2025, 10, 1)), reopened()],
    ],
)
def test_the_state_is_the_same_whatever_order_the_topics_are_read_in(
    story: list[FollowUpEvent],
) -> None:
    """Each event keeps the time reintegration published it; only the reading order changes
    (the five topics are read independently)."""
    events = published(*story)
    expected = read(events)

    for order in itertools.permutations(events):
        assert read(list(order)) == expected


def test_the_latest_scheduling_wins_and_one_read_late_changes_nothing() -> None:
    first, moved = published(scheduled(date(2025, 9, 15)), scheduled(date(2025, 10, 20)))

    for order in ([first, moved], [moved, first], [first, moved, first]):
        schedule = read(order).visits[VISIT].schedule
        assert schedule is not None and schedule.due_on == date(2025, 10, 20)
        assert schedule.event_id == moved[1]


def test_a_visit_that_stops_says_why() -> None:
    running = read(published(scheduled()))
    recorded = running.applied(assessed(), uuid4(), T0 + timedelta(hours=1)).settled()[1]
    shut = running.applied(closed(), uuid4(), T0 + timedelta(hours=1)).settled()[1]
    again = running.settled()[1]

    assert [s.reason for s in recorded] == [VISIT_RECORDED]
    assert [s.reason for s in shut] == [CASE_CLOSED]
    assert again == []  # still live: nothing to cancel


# Once per visit.


def test_a_visit_is_reminded_once_whatever_schedulings_follow() -> None:
    state = read(published(scheduled(date(2025, 9, 15))))
    visit = state.visits[VISIT]
    now = at(date(2025, 9, 13), 9)
    assert reminder_due(visit, state.case, TIMES, now)

    reminded = state.with_visit(replace(visit, reminder_id=reminder_notification_id(visit)))
    moved = reminded.applied(
        scheduled(date(2025, 9, 14)), uuid4(), T0 + timedelta(days=1)
    ).settled()[0]

    assert not reminder_due(moved.visits[VISIT], moved.case, TIMES, now)
    assert moved.visits[VISIT].reminder_id == reminder_notification_id(visit)


def test_a_reminder_cancelled_before_it_left_can_be_rearmed_by_a_new_scheduling() -> None:
    state = read(published(scheduled()))
    visit = state.visits[VISIT]
    reminder = reminder_notification_id(visit)
    reminded = state.with_visit(replace(visit, reminder_id=reminder))
    shut, [stop] = reminded.applied(closed(), uuid4(), T0 + timedelta(hours=1)).settled()
    assert stop.waiting == [reminder]

    unsent = shut.with_reminders_unsent({reminder})
    rearmed = (
        unsent.applied(reopened(), uuid4(), T0 + timedelta(hours=2))
        .applied(scheduled(), uuid4(), T0 + timedelta(hours=3))
        .settled()[0]
    )
    again = rearmed.visits[VISIT]

    assert reminder_due(again, rearmed.case, TIMES, at(date(2025, 9, 13), 9))
    assert reminder_notification_id(again) != reminder  # a row of its own in the ledger
    # A reminder that was in a sender's hands may have left: it stays the visit's only one.
    kept = shut.with_reminders_unsent(set())
    assert kept.visits[VISIT].reminder_id == reminder


def test_a_visit_is_chased_once_and_only_while_live() -> None:
    state = read(published(scheduled(date(2025, 9, 15))))
    visit, now = state.visits[VISIT], at(date(2025, 9, 23), 10)

    assert overdue_due(visit, state.case, TIMES, now)
    chased = replace(visit, overdue_id=overdue_notification_id(VISIT))
    assert not overdue_due(chased, state.case, TIMES, now)
    recorded = read(published(scheduled(date(2025, 9, 15)), assessed()))
    assert not overdue_due(recorded.visits[VISIT], recorded.case, TIMES, now)
    shut = read(published(scheduled(date(2025, 9, 15)), closed()))
    assert not overdue_due(shut.visits[VISIT], shut.case, TIMES, now)


# Who is told, and what.

STAFF = {"caseworker.bamako.3": "a.traore@example.org"}
TEAMS = {"bamako": "equipe.bamako@example.org", "gao": "equipe.gao@example.org"}


def test_an_overdue_visit_goes_to_the_latest_case_worker_or_else_the_centre_team() -> None:
    early, late = T0, T0 + timedelta(days=2)
    first, second = assigned("caseworker.gao.9", early), assigned("caseworker.bamako.3", late)
    for order in ([first, second], [second, first]):
        case = Case(RETURNEE)
        for event in order:
            case = case.assigned(event.assigned_to, event.assigned_at)
        to = overdue_addressee(case, "bamako", staff_addresses=STAFF, team_addresses=TEAMS)
        assert (to.recipient, to.address, to.team_because) == (
            "case_worker:caseworker.bamako.3",
            "a.traore@example.org",
            None,
        )

    nobody = overdue_addressee(Case(RETURNEE), "gao", staff_addresses=STAFF, team_addresses=TEAMS)
    unknown = overdue_addressee(
        Case(RETURNEE).assigned("caseworker.gao.9", early),
        "gao",
        staff_addresses=STAFF,
        team_addresses=TEAMS,
    )
    assert (nobody.recipient, nobody.address, nobody.team_because) == (
        "centre_team:gao",
        "equipe.gao@example.org",
        "unassigned",
    )
    assert (unknown.recipient, unknown.team_because) == ("centre_team:gao", "address_unknown")


def test_messages_carry_the_visit_and_the_case_reference_and_nothing_personal() -> None:
    visit = read(published(scheduled(date(2025, 9, 15), reception_centre="kayes"))).visits[VISIT]
    to = overdue_addressee(Case(RETURNEE), "kayes", staff_addresses={}, team_addresses=TEAMS)

    reminder = reminder_context(visit)
    overdue = overdue_context(visit, to, at(date(2025, 9, 25), 10))

    assert reminder == {
        "returnee_id": str(RETURNEE),
        "reference": "5F0C6D1E",
        "reception_centre": "kayes",
        "period_months": 3,
        "due_on": "2025-09-15",
        "due_month": 9,
        "due_year": 2025,
    }
    assert overdue == {**reminder, "days_late": 10, "team_because": "unassigned"}
