"""HTTP routes: what was sent to a returnee, or is still on its way."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from retour_kit.auth import Principal, Role, require_roles
from retour_kit.unit_of_work import UnitOfWork
from retour_notifications.adapters.ledger_views import PgLedgerViews

# Individual-level data: people who work on cases, not analysts.
Reader = Annotated[Principal, Depends(require_roles(Role.CASE_WORKER, Role.SUPERVISOR, Role.ADMIN))]


class NotificationView(BaseModel):
    notification_id: UUID
    event_id: UUID
    event_type: str
    rule: str
    channel: str
    recipient: str
    template: str
    language: str | None
    status: str
    attempts: int
    last_error: str | None
    segments: int | None
    created_at: datetime
    next_attempt_at: datetime | None
    sent_at: datetime | None
    finished_at: datetime | None
    delivery_report: str | None = None
    """Kannel's latest report on an SMS (delivered, undelivered, smsc_accepted, ...)."""
    reported_at: datetime | None = None


class NotificationList(BaseModel):
    returnee_id: UUID
    items: list[NotificationView]


def notifications_router(ledger: UnitOfWork[PgLedgerViews]) -> APIRouter:
    router = APIRouter(tags=["notifications"])

    @router.get("/notifications", response_model=NotificationList)
    async def list_notifications(returnee_id: UUID, reader: Reader) -> NotificationList:
        # Another centre's returnee gets an empty list, exactly like an unknown one.
        async with ledger.reading() as views:
            rows = await views.notifications_of(returnee_id, centres=reader.centre_filter)
        return NotificationList(
            returnee_id=returnee_id, items=[NotificationView(**row) for row in rows]
        )

    return router
