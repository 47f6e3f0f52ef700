from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from uuid import UUID, uuid4

from retour_contracts import ActivityLaunched, Location
from retour_reintegration.domain.activity import (
    check_linked_aid,
    check_participants,
    check_shares,
)
from retour_reintegration.domain.actor import Actor
from retour_reintegration.domain.aid import check_moment
from retour_reintegration.domain.commands import LaunchActivity
from retour_reintegration.domain.errors import CaseClosed, CaseMerged, CaseNotFound
from retour_reintegration.usecases.ports import CaseRepository, EventOutbox


async def launch_activity(
    cases: CaseRepository,
    outbox: EventOutbox,
    *,
    command: LaunchActivity,
    actor: Actor,
    now: datetime,
    new_id: Callable[[], UUID] = uuid4,
) -> ActivityLaunched:
    participants = command.returnee_ids
    check_participants(command.level, participants)
    found = await cases.lock_shared(participants)
    missing = [
        returnee_id
        for returnee_id in participants
        if returnee_id not in found or not actor.works_at(found[returnee_id].reception_centre)
    ]
    if missing:
        raise CaseNotFound(missing)
    merged = {c.returnee_id: c.merged_into for c in found.values() if c.merged_into is not None}
    if merged:
        # A duplicate registration's case is closed; its person's case is the one to name.
        raise CaseMerged(merged, field="returnee_ids")
    closed = [case.returnee_id for case in found.values() if not case.is_open]
    if closed:
        raise CaseClosed(closed)
    check_linked_aid(command.aid_ids, await cases.aid_owners(command.aid_ids), participants)
    check_shares(command.level, participants, command.funding, command.shares)
    launched_at = command.launched_at or now
    for case in found.values():
        check_moment(launched_at, case, now=now, field="launched_at")
    activity = ActivityLaunched(
        activity_id=new_id(),
        returnee_ids=participants,
        launched_at=launched_at,
        sector=command.sector,
        location=Location(**dict(command.location)),  # the contract's own type
        funding=command.funding,
        shares=command.shares,
        aid_ids=command.aid_ids,
        level=command.level,
    )
    await cases.add_activity(activity, launched_by=actor.subject)
    await outbox.emit(activity)
    return activity
