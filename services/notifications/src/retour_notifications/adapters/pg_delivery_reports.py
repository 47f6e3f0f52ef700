"""Kannel's delivery reports, kept on the ledger's SMS rows (entrypoints/delivery_reports.py)."""

from __future__ import annotations

from uuid import UUID

from retour_kit.db import Connection
from retour_notifications.domain.delivery import Status
from retour_notifications.domain.delivery_reports import ReportedDelivery

PHONE_REPORTS = [ReportedDelivery.DELIVERED.value, ReportedDelivery.UNDELIVERED.value]

# Kept on any SMS row; an uncertain (or ambiguous) one is settled by it. The phone's own
# report is final: an SMS centre's report arriving after it does not replace it.
_RECORD_REPORT = """
WITH before AS (
    SELECT notification_id, status FROM deliveries
    WHERE notification_id = $1 AND channel = 'sms' FOR UPDATE
)
UPDATE deliveries d SET delivery_report = $2, reported_at = now(),
    status = CASE WHEN d.status IN ('uncertain', 'ambiguous') THEN $3 ELSE d.status END,
    sent_at = CASE WHEN d.status IN ('uncertain', 'ambiguous') AND $3 = 'sent' THEN now()
        ELSE d.sent_at END,
    finished_at = CASE WHEN d.status IN ('uncertain', 'ambiguous') THEN now()
        ELSE d.finished_at END,
    last_error = CASE WHEN d.status IN ('uncertain', 'ambiguous') AND $3 = 'failed'
        THEN 'delivery report: ' || $2 ELSE d.last_error END
FROM before
WHERE d.notification_id = before.notification_id
  AND NOT (coalesce(d.delivery_report = ANY($4::text[]), false) AND $2 <> ALL($4::text[]))
RETURNING before.status AS was, d.status AS now
"""


class PgDeliveryReports:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def record(
        self, notification_id: UUID, report: ReportedDelivery
    ) -> tuple[Status, Status] | None:
        """Keeps Kannel's report on the SMS row and settles it if it was uncertain or
        ambiguous. Returns (status before, status after), or None: no such SMS (pruned,
        unknown), or a report older than the phone's own."""
        row = await self._conn.fetchrow(
            _RECORD_REPORT,
            notification_id,
            report.value,
            report.settles_as.value,
            PHONE_REPORTS,
        )
        return None if row is None else (Status(row["was"]), Status(row["now"]))
