"""Kannel's delivery reports: smsbox calls the `dlr-url` each SMS was sent with.

Kannel holds no bearer token, so a report is authenticated by the signature in its URL, an
HMAC of the notification id under SMS_DELIVERY_REPORT_SECRET (domain/delivery_reports.py).
The answer says nothing about the notification: Kannel does not read it, and nobody else
should learn whether an id exists.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

import structlog
from fastapi import APIRouter, HTTPException, Query, Response

from retour_kit.unit_of_work import UnitOfWork
from retour_notifications.adapters.metrics import NotificationMetrics
from retour_notifications.adapters.pg_delivery_reports import PgDeliveryReports
from retour_notifications.domain.delivery_reports import (
    ReportSignature,
    UnknownReport,
    reported_delivery,
)

log = structlog.stdlib.get_logger(__name__)

DELIVERY_REPORTS_PATH = "/sms/delivery-reports"


def delivery_reports_router(
    reports: UnitOfWork[PgDeliveryReports],
    signature: ReportSignature,
    metrics: NotificationMetrics,
) -> APIRouter:
    router = APIRouter(tags=["delivery reports"])

    @router.get(
        DELIVERY_REPORTS_PATH,
        status_code=204,
        response_class=Response,
        responses={
            400: {"description": "A DLR type Kannel does not send (`bad_request`)"},
            403: {"description": "The signature is not this notification's (`forbidden`)"},
        },
    )
    async def receive_report(
        n: Annotated[UUID, Query(description="the notification id")],
        s: Annotated[str, Query(max_length=64, description="its signature")],
        report_type: Annotated[int, Query(alias="type", description="Kannel's DLR type (%d)")],
    ) -> Response:
        if not signature.verifies(n, s):
            raise HTTPException(403, "bad signature")
        try:
            report = reported_delivery(report_type)
        except UnknownReport as error:
            raise HTTPException(400, str(error)) from None
        async with reports.transaction() as ledger:
            change = await ledger.record(n, report)
        if change is None:
            effect = "unknown"
        else:
            was, now = change
            effect = "settled" if was != now else "kept"
            log.info(
                "delivery report",
                notification_id=str(n),
                report=report.value,
                status_before=was.value,
                status=now.value,
            )
        metrics.delivery_reports.labels(report.value, effect).inc()
        return Response(status_code=204)

    return router
