"""Rules for launching an income-generating activity with one or more returnees."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from uuid import UUID

from retour_contracts import Level, Money, Share
from retour_reintegration.domain.errors import RuleViolation


def check_participants(level: Level, returnee_ids: Sequence[UUID]) -> None:
    if level is Level.INDIVIDUAL and len(returnee_ids) != 1:
        raise RuleViolation(
            "individual_activity_has_one_participant",
            "an individual activity has exactly one participant",
            field="returnee_ids",
        )
    if level is Level.COLLECTIVE and len(returnee_ids) < 2:
        raise RuleViolation(
            "collective_activity_has_several_participants",
            "a collective activity has at least two participants",
            field="returnee_ids",
        )


def check_linked_aid(
    aid_ids: Sequence[UUID], owners: Mapping[UUID, UUID], returnee_ids: Sequence[UUID]
) -> None:
    """Linked aid must exist and have been granted to one of the participants."""
    foreign = [aid_id for aid_id in aid_ids if owners.get(aid_id) not in returnee_ids]
    if foreign:
        raise RuleViolation(
            "aid_not_granted_to_participants",
            "linked aid must have been granted to a participant of the activity",
            aid_ids=[str(aid_id) for aid_id in foreign],
        )


def check_shares(
    level: Level, returnee_ids: Sequence[UUID], funding: Money | None, shares: Sequence[Share]
) -> None:
    """A collective activity with funding records each participant's share of it."""
    if not shares:
        if level is Level.COLLECTIVE and funding is not None:
            raise RuleViolation(
                "shares_required",
                "a funded collective activity records each participant's share of the funding",
                field="shares",
            )
        return
    if funding is None:
        raise RuleViolation("shares_without_funding", "shares need a funding", field="shares")
    holders = [share.returnee_id for share in shares]
    if sorted(holders) != sorted(returnee_ids):
        raise RuleViolation(
            "one_share_per_participant",
            "shares must name every participant exactly once, and participants only",
            field="shares",
        )
    if any(share.amount.currency != funding.currency for share in shares):
        raise RuleViolation(
            "share_currency", f"shares must be in {funding.currency}", field="shares"
        )
    total = sum((share.amount.amount for share in shares), Decimal(0))
    if total != funding.amount:
        raise RuleViolation(
            "shares_add_up_to_funding",
            f"shares add up to {total:f} {funding.currency}, the funding is"
            f" {funding.amount:f} {funding.currency}",
            field="shares",
        )
