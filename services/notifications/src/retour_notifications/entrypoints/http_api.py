"""HTTP routes: what was sent to a returnee, or is still on its way."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, JsonValue

from retour_contracts.examples import RETURNEE_ID
from retour_kit.auth import Principal, Role, require_roles
from retour_kit.unit_of_work import UnitOfWork
from retour_notifications.adapters.ledger_views import PgLedgerViews
from retour_notifications.domain.planning import notification_id
from retour_notifications.domain.rules import Channel

# Individual-level data: people who work on cases, not analysts.
Reader = Annotated[Principal, Depends(require_roles(Role.CASE_WORKER, Role.SUPERVISOR, Role.ADMIN))]

# Examples: what the example returnee's registration and aid (retour_contracts.examples) gave.
# Her preferred language, Bambara, has no templates: French, the fallback, was used.
_REGISTERED_EVENT = UUID("0b9f6f1c-3c1e-4f0a-9d55-6f2f1f1e2a10")
_AID_EVENT = UUID("c2d3e4f5-0a1b-4c2d-8e3f-4a5b6c7d8e9f")
_RETURNEE = f"returnee:{RETURNEE_ID}"
_CENTRE_TEAM = "centre_team:bamako"


def _example(event_id: UUID, recipient: str, channel: Channel) -> dict[str, JsonValue]:
    return {
        "notification_id": str(notification_id(event_id, recipient, channel)),
        "event_id": str(event_id),
        "recipient": recipient,
        "channel": channel.value,
    }


WELCOME_EXAMPLE: dict[str, JsonValue] = {
    **_example(_REGISTERED_EVENT, _RETURNEE, Channel.SMS),
    "event_type": "returnee.registered",
    "rule": "welcome_sms",
    "template": "welcome",
    "language": "fr",
    "status": "sent",
    "attempts": 1,
    "last_error": None,
    "segments": 1,
    "created_at": "2024-06-12T09:30:03Z",
    "next_attempt_at": None,
    "sent_at": "2024-06-12T09:30:05Z",
    "finished_at": "2024-06-12T09:30:05Z",
    "delivery_report": "delivered",
    "reported_at": "2024-06-12T09:30:41Z",
}
"""The welcome SMS, sent and delivered to her phone."""
_TEAM_EXAMPLE: dict[str, JsonValue] = {
    **_example(_REGISTERED_EVENT, _CENTRE_TEAM, Channel.EMAIL),
    "event_type": "returnee.registered",
    "rule": "vulnerable_arrival_email",
    "template": "vulnerable_arrival",
    "language": "fr",
    "status": "sent",
    "attempts": 1,
    "last_error": None,
    "segments": None,
    "created_at": "2024-06-12T09:30:03Z",
    "next_attempt_at": None,
    "sent_at": "2024-06-12T09:30:06Z",
    "finished_at": "2024-06-12T09:30:06Z",
    "delivery_report": None,
    "reported_at": None,
}
"""The Bamako team told of a vulnerable arrival (she is pregnant or lactating)."""
_RETRY_EXAMPLE: dict[str, JsonValue] = {
    **_example(_AID_EVENT, _RETURNEE, Channel.SMS),
    "event_type": "aid.granted",
    "rule": "aid_granted_sms",
    "template": "aid_granted",
    "language": "fr",
    "status": "queued",
    "attempts": 2,
    "last_error": "kannel unreachable (ConnectError)",
    "segments": 1,
    "created_at": "2024-07-03T14:00:02Z",
    "next_attempt_at": "2024-07-03T14:00:17Z",
    "sent_at": None,
    "finished_at": None,
    "delivery_report": None,
    "reported_at": None,
}
"""The aid SMS, waiting for the SMS gateway to come back before its third attempt."""


class NotificationView(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [WELCOME_EXAMPLE, _RETRY_EXAMPLE]})

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
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "returnee_id": str(RETURNEE_ID),
                    "items": [WELCOME_EXAMPLE, _TEAM_EXAMPLE, _RETRY_EXAMPLE],
                }
            ]
        }
    )

    returnee_id: UUID
    items: list[NotificationView]


def notifications_router(ledger: UnitOfWork[PgLedgerViews]) -> APIRouter:
    router = APIRouter(tags=["notifications"])

    @router.get("/notifications", response_model=NotificationList)
    async def list_notifications(returnee_id: UUID, reader: Reader) -> NotificationList:
        """What was sent about a returnee, or is still on its way, oldest first (at most 500).

        Messages to the returnee (`recipient`: `returnee:{id}`) and to staff about them (a case
        worker, a centre team), each with its `status`, attempts and, for an SMS, the gateway's
        latest delivery report; never an address or a text. Case workers, supervisors and
        admins: a returnee of a centre outside yours gets an empty list, exactly like an unknown
        one."""
        async with ledger.reading() as views:
            rows = await views.notifications_of(returnee_id, centres=reader.centre_filter)
        return NotificationList(
            returnee_id=returnee_id, items=[NotificationView(**row) for row in rows]
        )

    return router
