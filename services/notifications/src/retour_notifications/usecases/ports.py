"""What the use cases need from the outside world."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

from retour_notifications.domain.contacts import Contact
from retour_notifications.domain.corrections import Corrections
from retour_notifications.domain.delivery import Notification, OutgoingMessage
from retour_notifications.domain.rules import Channel


class TemplateProblem(Exception):
    """A template is missing or failed to render; the reason names the template, not data."""


@dataclass(frozen=True)
class Rendered:
    language: str
    """The language actually used: the one asked for, or the fallback."""
    subject: str | None
    body: str


class Renderer(Protocol):
    def render(
        self, template: str, channel: Channel, language: str, context: Mapping[str, Any]
    ) -> Rendered: ...


class Contacts(Protocol):
    async def save_all(self, contacts: Sequence[Contact]) -> None:
        """Saves them in order: a later contact of the same returnee replaces an earlier one."""
        ...

    async def find(self, returnee_ids: Collection[UUID]) -> dict[UUID, Contact]: ...

    async def corrections_waiting(self, returnee_ids: Collection[UUID]) -> dict[UUID, Corrections]:
        """Corrections read before the registration of these returnees, kept until it comes."""
        ...

    async def keep_waiting(self, corrections: Sequence[Corrections]) -> None:
        """Replaces the waiting corrections of these returnees (personal data: a phone)."""
        ...

    async def drop_waiting(self, returnee_ids: Collection[UUID]) -> None:
        """Forgets the waiting corrections of these returnees, now applied to their contact."""
        ...


class LedgerWriter(Protocol):
    """The ledger as the consumer sees it, inside the transaction that claims the event."""

    async def add(self, notifications: Sequence[Notification]) -> int:
        """Inserts the notifications not recorded yet; returns how many were new."""
        ...

    async def held_for(self, returnee_ids: Collection[UUID]) -> list[Notification]:
        """The notifications still held for these returnees' registrations."""
        ...

    async def release(self, notification: Notification) -> None:
        """Replaces a held notification by its composed (queued or failed) version."""
        ...

    async def drop(self, notification_id: UUID) -> None: ...

    async def readdress_sms(self, returnee_id: UUID, phone: str | None) -> int:
        """Points the returnee's SMS still to be sent at ``phone``; without one, cancels them.
        Returns how many were changed."""
        ...


class Gateway(Protocol):
    """One channel's provider (Kannel, an SMTP relay, ...).

    Raises ``DeliveryRejected`` when the message can never be delivered, and
    ``GatewayUnavailable`` when it may be later.
    """

    async def send(self, message: OutgoingMessage) -> None: ...
