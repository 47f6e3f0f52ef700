"""Kannel's delivery reports (DLR): what each kind says, and the signature that lets Kannel's
report about one notification in, and nobody's about another."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from uuid import UUID

from retour_notifications.domain.delivery import Status


class KannelReport(IntEnum):
    """Kannel's DLR types (the `%d` of a dlr-url), one bit each."""

    DELIVERED = 1
    UNDELIVERED = 2
    QUEUED_AT_SMSC = 4
    SMSC_ACCEPTED = 8
    SMSC_REJECTED = 16


# Every report that settles an uncertain send: the phone's (delivered or not) and the SMS
# centre's (accepted or not). 4 (queued at the SMS centre) would add a report per message and
# settle nothing the SMS centre's acceptance does not.
REQUESTED_REPORTS = (
    KannelReport.DELIVERED
    | KannelReport.UNDELIVERED
    | KannelReport.SMSC_ACCEPTED
    | KannelReport.SMSC_REJECTED
)


class ReportedDelivery(StrEnum):
    """What the ledger keeps of a report (column delivery_report)."""

    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    QUEUED_AT_SMSC = "queued_at_smsc"
    SMSC_ACCEPTED = "smsc_accepted"
    SMSC_REJECTED = "smsc_rejected"

    @property
    def settles_as(self) -> Status:
        """What an uncertain send becomes on this report: any sign that the network took the
        message makes it sent; a refusal makes it failed (never sent again automatically:
        the operator's refusal may be for the number)."""
        if self in (ReportedDelivery.UNDELIVERED, ReportedDelivery.SMSC_REJECTED):
            return Status.FAILED
        return Status.SENT


_REPORTED = {
    KannelReport.DELIVERED: ReportedDelivery.DELIVERED,
    KannelReport.UNDELIVERED: ReportedDelivery.UNDELIVERED,
    KannelReport.QUEUED_AT_SMSC: ReportedDelivery.QUEUED_AT_SMSC,
    KannelReport.SMSC_ACCEPTED: ReportedDelivery.SMSC_ACCEPTED,
    KannelReport.SMSC_REJECTED: ReportedDelivery.SMSC_REJECTED,
}


class UnknownReport(ValueError):
    pass


def reported_delivery(kannel_type: int) -> ReportedDelivery:
    """The ledger's reading of a Kannel DLR type; a combination or an unknown bit is refused."""
    try:
        return _REPORTED[KannelReport(kannel_type)]
    except ValueError:
        raise UnknownReport(f"unknown delivery report type {kannel_type}") from None


@dataclass(frozen=True)
class ReportSignature:
    """An HMAC of the notification id under a secret of the deployment. Kannel calls back the
    URL it was given with the message, signature included: a report is accepted only for the
    notification it was signed for, and a leaked URL settles that one message at most."""

    secret: bytes

    def sign(self, notification_id: UUID) -> str:
        digest = hmac.new(self.secret, notification_id.bytes, hashlib.sha256).hexdigest()
        return digest[:32]

    def verifies(self, notification_id: UUID, signature: str) -> bool:
        return hmac.compare_digest(self.sign(notification_id), signature)
