"""Response bodies of a case's plan, built from the domain's revisions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from retour_reintegration.domain.plan import (
    PLAN_TARGET_DAYS,
    PlanItem,
    PlanRevision,
    StatusChange,
    agreed_within_target,
    days_to_agreement,
)
from retour_reintegration.views import examples as ex
from retour_reintegration.views.examples import examples


class PlanRevisionView(BaseModel):
    model_config = ConfigDict(json_schema_extra=examples(ex.agreed_revision, ex.draft_revision))

    revision: int
    drafted_at: datetime
    drafted_by: str
    agreed_on: date | None
    """The day the returnee agreed to it; None while it is a draft."""
    agreed_by: str | None
    agreed_at: datetime | None
    """When the agreement was recorded."""
    items: list[PlanItem]

    @classmethod
    def of(cls, revision: PlanRevision) -> PlanRevisionView:
        agreement = revision.agreement
        return cls(
            revision=revision.revision,
            drafted_at=revision.drafted_at,
            drafted_by=revision.drafted_by,
            agreed_on=None if agreement is None else agreement.agreed_on,
            agreed_by=None if agreement is None else agreement.agreed_by,
            agreed_at=None if agreement is None else agreement.recorded_at,
            items=list(revision.items),
        )


class PlanView(BaseModel):
    model_config = ConfigDict(json_schema_extra=examples(ex.plan))

    returnee_id: UUID
    current: PlanRevisionView | None
    """The latest revision, draft or agreed; None before a first draft."""
    agreed: PlanRevisionView | None
    """The plan in force: the latest agreed revision."""
    revisions: list[PlanRevisionView]
    """Every revision, oldest first."""
    status_changes: list[StatusChange]
    """Every change of an item's status, oldest first."""
    target_days: int = PLAN_TARGET_DAYS
    """The Handbook's aim: a plan agreed within about a month of arrival."""
    days_from_arrival_to_agreement: int | None
    """From arrival to the day the first revision ever agreed was agreed."""
    agreed_within_a_month: bool | None
    """Whether that was within ``target_days``; None while no revision is agreed."""

    @classmethod
    def of(
        cls,
        returnee_id: UUID,
        arrival_date: date,
        revisions: Sequence[PlanRevision],
        changes: Sequence[StatusChange],
    ) -> PlanView:
        agreed = [r for r in revisions if r.agreement is not None]
        first = agreed[0].agreement if agreed else None
        days = days_to_agreement(arrival_date, None if first is None else first.agreed_on)
        return cls(
            returnee_id=returnee_id,
            current=PlanRevisionView.of(revisions[-1]) if revisions else None,
            agreed=PlanRevisionView.of(agreed[-1]) if agreed else None,
            revisions=[PlanRevisionView.of(revision) for revision in revisions],
            status_changes=list(changes),
            days_from_arrival_to_agreement=days,
            agreed_within_a_month=agreed_within_target(days),
        )
