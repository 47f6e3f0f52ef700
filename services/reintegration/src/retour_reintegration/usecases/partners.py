"""Managing the partner registry: supervisors register partners and change them, each within
their centres (domain/partner.py: check_may_manage)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID, uuid4

from retour_reintegration.domain.actor import Actor
from retour_reintegration.domain.errors import NotAllowed, NotFound
from retour_reintegration.domain.partner import (
    Partner,
    check_may_manage,
    check_reach,
    outside_centres,
)
from retour_reintegration.domain.partner_commands import ChangePartner, RegisterPartner


class PartnerRegistry(Protocol):
    async def add(self, partner: Partner, *, at: datetime, by: str) -> None: ...

    async def lock(self, partner_id: UUID) -> Partner | None:
        """The partner, locked until the transaction ends (changes take turns)."""
        ...

    async def save(self, partner: Partner, *, at: datetime, by: str) -> None: ...

    async def many(self, partner_ids: Sequence[UUID]) -> dict[UUID, Partner]:
        """The partners that exist among ``partner_ids``."""
        ...


def partner_not_found(partner_id: UUID) -> NotFound:
    return NotFound("partner_not_found", f"no partner {partner_id}", partner_id=str(partner_id))


async def register_partner(
    partners: PartnerRegistry,
    *,
    command: RegisterPartner,
    actor: Actor,
    now: datetime,
    new_id: Callable[[], UUID] = uuid4,
) -> Partner:
    centres, regions = frozenset(command.centres), frozenset(command.regions)
    check_reach(centres, regions)
    check_may_manage(actor.centres, centres, regions)
    partner = Partner(
        partner_id=new_id(),
        name=command.name,
        centres=centres,
        regions=regions,
        services=frozenset(command.services),
        contact=None if command.contact is None else command.contact.contact(),
    )
    await partners.add(partner, at=now, by=actor.subject)
    return partner


async def change_partner(
    partners: PartnerRegistry,
    *,
    partner_id: UUID,
    command: ChangePartner,
    actor: Actor,
    now: datetime,
) -> Partner:
    partner = await partners.lock(partner_id)
    if partner is None:
        raise partner_not_found(partner_id)
    try:
        # The partner as it is: one serving another centre too is not this supervisor's.
        check_may_manage(actor.centres, partner.centres, partner.regions)
    except NotAllowed:
        raise outside_centres("path.partner_id", partner_id=str(partner_id)) from None
    changed = replace(partner, **_changes(command))
    check_reach(changed.centres, changed.regions)
    check_may_manage(actor.centres, changed.centres, changed.regions)
    if changed != partner:
        await partners.save(changed, at=now, by=actor.subject)
    return changed


def _changes(command: ChangePartner) -> dict[str, Any]:
    """The fields the merge patch names, as the partner keeps them."""
    given = command.model_fields_set
    changes: dict[str, Any] = {}
    if "name" in given:
        changes["name"] = command.name
    for name in ("centres", "regions", "services"):
        if name in given:
            changes[name] = frozenset(getattr(command, name))
    if "contact" in given:
        changes["contact"] = None if command.contact is None else command.contact.contact()
    if "active" in given:
        changes["active"] = command.active
    return changes
