"""HTTP routes of the partner registry: supervisors (and admins) manage it within their
centres; case workers, supervisors and admins read it. Analysts read none of it, as they read
no individual record. A partner's contact is never logged."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import structlog
from fastapi import APIRouter
from fastapi.responses import JSONResponse

from retour_contracts import AidCategory, ReceptionCentre
from retour_reintegration.adapters.unit_of_work import CaseWork
from retour_reintegration.domain.partner_commands import ChangePartner, RegisterPartner
from retour_reintegration.entrypoints.access import Reader
from retour_reintegration.entrypoints.context import ApiContext
from retour_reintegration.entrypoints.writes import PartnerWrite
from retour_reintegration.usecases.partners import (
    change_partner,
    partner_not_found,
    register_partner,
)
from retour_reintegration.views.partner_models import PartnerList, PartnerView

log = structlog.stdlib.get_logger(__name__)

REFUSALS: dict[int | str, dict[str, Any]] = {
    403: {
        "description": "Not a supervisor or an admin, or the partner serves (or would serve)"
        " a reception centre the caller's token does not name (outside_your_centres).",
    },
    404: {"description": "No such partner (partner_not_found)."},
    422: {"description": "A field is invalid, or the partner serves nobody."},
}


def partners_router(context: ApiContext) -> APIRouter:
    router = APIRouter(prefix="/partners", tags=["partners"])
    work = context.work

    async def answer(adapters: CaseWork, partner_id: UUID, status: int) -> tuple[int, Any]:
        view = await adapters.partners.view(partner_id)
        assert view is not None  # written in this transaction
        return status, view.model_dump(mode="json")

    @router.post("", status_code=201, response_model=PartnerView, responses=REFUSALS)
    async def post_partner(command: RegisterPartner, write: PartnerWrite) -> JSONResponse:
        """Registers a partner organisation that plan items and referrals can name.

        It serves at least one reception centre or region (a region serves the centre standing
        in it), offers one or more services (aid categories), and may have a contact for staff.
        Supervisors and admins only; one whose token names centres registers only partners that
        serve none but those (`403 outside_your_centres`). A retry with the same
        `Idempotency-Key` gets the first answer."""

        async def register(adapters: CaseWork) -> tuple[int, Any]:
            partner = await register_partner(
                adapters.partners, command=command, actor=write.actor, now=write.now
            )
            log.info("partner registered", partner_id=str(partner.partner_id))
            return await answer(adapters, partner.partner_id, 201)

        return await write.once(work, command, register)

    @router.patch("/{partner_id}", response_model=PartnerView, responses=REFUSALS)
    async def patch_partner(
        partner_id: UUID, command: ChangePartner, write: PartnerWrite
    ) -> JSONResponse:
        """Changes a partner: the fields given replace its own (a merge patch).

        `contact: null` removes the contact; `active: false` deactivates the partner (never
        deleted: referrals and plan items keep pointing at it; new ones cannot name it) and
        `true` activates it again. Supervisors and admins only, for a partner serving none but
        their centres before and after the change (else `403 outside_your_centres`). Unknown:
        `404 partner_not_found`. A retry with the same `Idempotency-Key` gets the first answer."""

        async def change(adapters: CaseWork) -> tuple[int, Any]:
            partner = await change_partner(
                adapters.partners,
                partner_id=partner_id,
                command=command,
                actor=write.actor,
                now=write.now,
            )
            log.info(
                "partner changed",
                partner_id=str(partner_id),
                fields=sorted(command.model_fields_set),
                active=partner.active,
            )
            return await answer(adapters, partner_id, 200)

        return await write.once(work, command, change)

    @router.get("", response_model=PartnerList)
    async def get_partners(
        reader: Reader,
        centre: ReceptionCentre | None = None,
        service: AidCategory | None = None,
        active: bool | None = None,
    ) -> PartnerList:
        """Partners serving ``centre`` (named, or through its region), offering ``service``,
        active or not, by name. Every centre's: partners are organisations, not people."""
        async with work.reading() as adapters:
            items = await adapters.partners.listing(centre=centre, service=service, active=active)
        return PartnerList(items=items)

    @router.get("/{partner_id}", response_model=PartnerView, responses={404: REFUSALS[404]})
    async def get_partner(partner_id: UUID, reader: Reader) -> PartnerView:
        """One partner: what it offers, the centres it serves, its contact, whether active.

        Case workers, supervisors and admins, whatever the partner's centres: partners are
        organisations, not people. Unknown: `404 partner_not_found`."""
        async with work.reading() as adapters:
            view = await adapters.partners.view(partner_id)
        if view is None:
            raise partner_not_found(partner_id)
        return view

    return router
