"""A case's reintegration plan: items in the economic, social and psychosocial dimensions,
agreed with the returnee, revised with history.

IOM, Reintegration Handbook (2019), module 2, section 2.3 "Reintegration planning and
follow-up" (https://reintegrationhb.iom.int/module/reintegration-planning-and-follow): a plan
per returnee, made with the case manager from their needs and skills and the services
available, says what support is needed and how it will be provided; it is preferably
"developed or refined within one month" of return, with leeway for those who need it. So the
month is a KPI that is measured (``PLAN_TARGET_DAYS``), never a deadline that refuses a plan.

A plan is a sequence of revisions 1, 2, ...; each is a draft until agreed with the returnee,
and only the latest can be agreed. The plan in force is the latest agreed revision. An item
keeps its id across revisions, so its status history and its referrals follow it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import ClassVar
from uuid import UUID

from pydantic import ConfigDict, JsonValue

from retour_contracts import (
    AidCategory,
    Dimension,
    PlanAgreed,
    PlanItemStatus,
    PlanItemSummary,
    Provider,
)
from retour_contracts.examples import PARTNER_ID, PLAN_ITEM_ID, RETURNEE_ID
from retour_reintegration.domain.case import Case
from retour_reintegration.domain.errors import Conflict, NotFound, RuleViolation
from retour_reintegration.domain.partner import DIMENSIONS_OF_SERVICE, Partner
from retour_reintegration.domain.plan_commands import ItemEntered

PLAN_TARGET_DAYS = 30
"""Days from arrival within which a plan should be agreed: the Handbook's "within one month of
a migrant's return" (section 2.3, cited above)."""


PLAN_ITEM_EXAMPLE: dict[str, JsonValue] = {
    "item_id": str(PLAN_ITEM_ID),
    "dimension": "economic",
    "category": "vocational_training",
    "provider": "partner",
    "partner_id": str(PARTNER_ID),
    "target_date": "2024-09-30",
    "status": "planned",
}
"""The plan's training item, provided by a partner (the example of the plan's requests)."""
SECOND_PLAN_ITEM_EXAMPLE: dict[str, JsonValue] = {
    "item_id": "7c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f",
    "dimension": "psychosocial",
    "category": "psychosocial",
    "provider": "retour",
    "partner_id": None,
    "target_date": "2024-08-15",
    "status": "planned",
}
STATUS_CHANGE_EXAMPLE: dict[str, JsonValue] = {
    "returnee_id": str(RETURNEE_ID),
    "item_id": str(PLAN_ITEM_ID),
    "revision": 1,
    "from_status": "planned",
    "to_status": "in_progress",
    "changed_at": "2024-07-12T09:00:00Z",
    "changed_by": "agent.bamako.014",
}
"""The training began: its item went from planned to in progress."""


@dataclass(frozen=True)
class PlanItem:
    __pydantic_config__: ClassVar[ConfigDict] = ConfigDict(
        json_schema_extra={"examples": [{**PLAN_ITEM_EXAMPLE, "status": "in_progress"}]}
    )

    item_id: UUID
    dimension: Dimension
    category: AidCategory
    provider: Provider
    partner_id: UUID | None
    target_date: date
    status: PlanItemStatus

    def summary(self) -> PlanItemSummary:
        """The item as events carry it (no category: the contract leaves it out)."""
        return PlanItemSummary(
            item_id=self.item_id,
            dimension=self.dimension,
            provider=self.provider,
            partner_id=self.partner_id,
            target_date=self.target_date,
            status=self.status,
        )


@dataclass(frozen=True)
class Agreement:
    agreed_on: date
    """The day the returnee agreed, as the staff member says."""
    agreed_by: str
    recorded_at: datetime


@dataclass(frozen=True)
class PlanRevision:
    returnee_id: UUID
    revision: int
    items: tuple[PlanItem, ...]
    drafted_at: datetime
    drafted_by: str
    agreement: Agreement | None = None

    def item(self, item_id: UUID) -> PlanItem | None:
        return next((item for item in self.items if item.item_id == item_id), None)

    def with_status(self, item_id: UUID, status: PlanItemStatus) -> PlanRevision:
        items = tuple(
            replace(item, status=status) if item.item_id == item_id else item for item in self.items
        )
        return replace(self, items=items)

    def agreed_event(self) -> PlanAgreed:
        if self.agreement is None:
            raise ValueError(f"revision {self.revision} is not agreed")
        return PlanAgreed(
            returnee_id=self.returnee_id,
            revision=self.revision,
            agreed_on=self.agreement.agreed_on,
            agreed_by=self.agreement.agreed_by,
            recorded_at=self.agreement.recorded_at,
            items=[item.summary() for item in self.items],
        )


@dataclass(frozen=True)
class StatusChange:
    """An item's status changed: set on its own (``revision``: the newest live revision
    holding the item), or by a new revision carrying it over with another (that revision)."""

    __pydantic_config__: ClassVar[ConfigDict] = ConfigDict(
        json_schema_extra={"examples": [STATUS_CHANGE_EXAMPLE]}
    )

    returnee_id: UUID
    item_id: UUID
    revision: int
    from_status: PlanItemStatus
    to_status: PlanItemStatus
    changed_at: datetime
    changed_by: str


@dataclass(frozen=True)
class Plan:
    """What decisions need of a case's plan: its latest revision, and the one in force."""

    latest: PlanRevision | None = None
    in_force: PlanRevision | None = None
    """The latest agreed revision."""

    @property
    def live(self) -> list[PlanRevision]:
        """The revisions work goes on in: the plan in force and the draft that will replace it
        (one revision when the latest is agreed). Earlier ones are history and never change."""
        revisions = [r for r in (self.in_force, self.latest) if r is not None]
        return list({r.revision: r for r in revisions}.values())


def draft(
    plan: Plan,
    entered: Sequence[ItemEntered],
    *,
    case: Case,
    partners: Mapping[UUID, Partner],
    at: datetime,
    by: str,
    new_id: Callable[[], UUID],
) -> tuple[PlanRevision, list[StatusChange]]:
    """The next revision of the plan from the items entered (``partners``: those they name),
    and the status changes of the items it carries over."""
    previous = plan.latest
    revision = 1 if previous is None else previous.revision + 1
    items: list[PlanItem] = []
    changes: list[StatusChange] = []
    seen: set[UUID] = set()
    for position, entry in enumerate(entered):
        field = f"body.items.{position}"
        carried = _carried(previous, entry.item_id, seen, field=field)
        _check_item(entry, case, partners, field=field)
        item = PlanItem(
            item_id=entry.item_id or new_id(),
            dimension=entry.dimension,
            category=entry.category,
            provider=entry.provider,
            partner_id=entry.partner_id,
            target_date=entry.target_date,
            status=entry.status,
        )
        items.append(item)
        if carried is not None and carried.status is not item.status:
            changes.append(
                StatusChange(
                    returnee_id=case.returnee_id,
                    item_id=item.item_id,
                    revision=revision,
                    from_status=carried.status,
                    to_status=item.status,
                    changed_at=at,
                    changed_by=by,
                )
            )
    drafted = PlanRevision(case.returnee_id, revision, tuple(items), drafted_at=at, drafted_by=by)
    return drafted, changes


def _carried(
    previous: PlanRevision | None, item_id: UUID | None, seen: set[UUID], *, field: str
) -> PlanItem | None:
    """The previous revision's item carried over as ``item_id``, if one is named."""
    if item_id is None:
        return None
    if item_id in seen:
        raise RuleViolation(
            "plan_item_repeated",
            f"{field}.item_id: item {item_id} is named twice",
            field=f"{field}.item_id",
        )
    seen.add(item_id)
    carried = None if previous is None else previous.item(item_id)
    if carried is None:
        raise RuleViolation(
            "plan_item_unknown",
            f"{field}.item_id: no item {item_id} in the previous revision; leave item_id out"
            " for a new item",
            field=f"{field}.item_id",
        )
    return carried


def _check_item(
    entry: ItemEntered, case: Case, partners: Mapping[UUID, Partner], *, field: str
) -> None:
    if entry.dimension not in DIMENSIONS_OF_SERVICE[entry.category]:
        raise RuleViolation(
            "category_outside_dimension",
            f"{field}.category: {entry.category} is not a service of the {entry.dimension}"
            " dimension",
            field=f"{field}.category",
        )
    if entry.target_date < case.arrival_date:
        raise RuleViolation(
            "target_date_before_arrival",
            f"{field}.target_date is before the returnee's arrival",
            field=f"{field}.target_date",
        )
    at = f"{field}.partner_id"
    if entry.provider is Provider.RETOUR:
        if entry.partner_id is not None:
            raise RuleViolation(
                "partner_not_expected",
                f"{at}: retour provides this item, not a partner",
                field=at,
            )
        return
    if entry.partner_id is None:
        raise RuleViolation(
            "partner_required", f"{at}: name the partner that provides this item", field=at
        )
    partner = partners.get(entry.partner_id)
    check_partner_for(partner, entry.partner_id, case, entry.category, field=at)


def check_partner_for(
    partner: Partner | None,
    partner_id: UUID,
    case: Case,
    category: AidCategory,
    *,
    field: str,
) -> Partner:
    """The partner can take this returnee for this service now: it exists, is active, serves
    the case's centre and offers the service."""
    if partner is None:
        raise RuleViolation(
            "partner_unknown",
            f"{field}: no partner {partner_id}",
            field=field,
            partner_id=str(partner_id),
        )
    if not partner.active:
        refusal = ("partner_inactive", f"{field}: partner {partner_id} is no longer active")
    elif not partner.serves(case.reception_centre):
        refusal = (
            "partner_outside_centre",
            f"{field}: partner {partner_id} does not serve the {case.reception_centre} centre",
        )
    elif not partner.offers(category):
        refusal = ("partner_does_not_offer", f"{field}: partner {partner_id} offers no {category}")
    else:
        return partner
    raise RuleViolation(*refusal, field=field, partner_id=str(partner_id))


def agree(
    plan: Plan, revision: int, agreed_on: date, *, case: Case, at: datetime, by: str
) -> PlanRevision:
    """The latest revision, agreed with the returnee on ``agreed_on`` by ``by``."""
    latest = plan.latest
    if latest is None or revision > latest.revision:
        raise RuleViolation(
            "plan_revision_unknown",
            f"body.revision: the plan has no revision {revision}",
            field="body.revision",
        )
    if revision < latest.revision:
        raise Conflict(
            "plan_revision_outdated",
            f"revision {revision} was replaced by revision {latest.revision}: agree the latest",
            field="body.revision",
            current_revision=latest.revision,
        )
    if latest.agreement is not None:
        raise Conflict(
            "plan_revision_agreed",
            f"revision {revision} was agreed on {latest.agreement.agreed_on} already",
            field="body.revision",
            current_revision=latest.revision,
        )
    _check_agreement_day(agreed_on, plan, case, today=at.date())
    return replace(latest, agreement=Agreement(agreed_on=agreed_on, agreed_by=by, recorded_at=at))


def _check_agreement_day(agreed_on: date, plan: Plan, case: Case, *, today: date) -> None:
    # Mali keeps UTC all year: the day of ``at`` is the day at the centre.
    if agreed_on > today:
        problem = ("agreed_on_in_future", "body.agreed_on is in the future")
    elif agreed_on < case.arrival_date:
        problem = ("agreed_on_before_arrival", "body.agreed_on is before the returnee's arrival")
    elif (
        plan.in_force is not None
        and plan.in_force.agreement is not None
        and (agreed_on < plan.in_force.agreement.agreed_on)
    ):
        problem = (
            "agreed_on_before_previous_agreement",
            f"body.agreed_on is before the day revision {plan.in_force.revision} was agreed",
        )
    else:
        return
    raise RuleViolation(*problem, field="body.agreed_on")


@dataclass(frozen=True)
class ItemStatusSet:
    item: PlanItem
    """The item as it is now."""
    revisions: list[PlanRevision]
    """The live revisions whose copy of the item changed: to be saved."""
    change: StatusChange | None
    """What to keep in the history; None when the item had that status already."""


def change_status(
    plan: Plan, item_id: UUID, status: PlanItemStatus, *, at: datetime, by: str
) -> ItemStatusSet:
    """Sets the status of an item of the live revisions (see ``Plan.live``): work on an item
    goes on while its next revision is drafted, and both copies show where it stands."""
    holding = [revision for revision in plan.live if revision.item(item_id) is not None]
    if not holding:
        raise NotFound(
            "plan_item_not_found",
            f"no item {item_id} in the plan in force or its draft",
            item_id=str(item_id),
        )
    newest = holding[-1]
    current = newest.item(item_id)
    assert current is not None  # holding holds it
    item = replace(current, status=status)
    differing = [r for r in holding if _status_in(r, item_id) is not status]
    if not differing:
        return ItemStatusSet(item=item, revisions=[], change=None)
    # The item's status is the newest revision's, unless only the plan in force lagged.
    was = current.status if current.status is not status else _status_in(differing[-1], item_id)
    change = StatusChange(
        returnee_id=newest.returnee_id,
        item_id=item_id,
        revision=newest.revision,
        from_status=was,
        to_status=status,
        changed_at=at,
        changed_by=by,
    )
    revisions = [revision.with_status(item_id, status) for revision in differing]
    return ItemStatusSet(item=item, revisions=revisions, change=change)


def _status_in(revision: PlanRevision, item_id: UUID) -> PlanItemStatus:
    item = revision.item(item_id)
    if item is None:
        raise ValueError(f"revision {revision.revision} has no item {item_id}")
    return item.status


def days_to_agreement(arrival: date, first_agreed_on: date | None) -> int | None:
    """Days from arrival to the first agreed plan (None: none agreed yet)."""
    return None if first_agreed_on is None else (first_agreed_on - arrival).days


def agreed_within_target(days: int | None) -> bool | None:
    return None if days is None else days <= PLAN_TARGET_DAYS
