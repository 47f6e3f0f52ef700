"""A background worker that counts, every IMMEDIATE_CARE_CHECK_SECONDS, the open cases at risk
of missing immediate care (domain.immediate_care), for the metrics and their alerts."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import asyncpg
import structlog

from retour_kit.safe_errors import describe_error
from retour_kit.waiting import pause_unless_stopped
from retour_reintegration.adapters.immediate_care_metrics import ImmediateCareGauge
from retour_reintegration.adapters.immediate_care_pg import care_at_risk
from retour_reintegration.domain.immediate_care import CareDeadlines

log = structlog.stdlib.get_logger(__name__)


class ImmediateCareWatch:
    name = "immediate-care-watch"

    def __init__(self, pool: asyncpg.Pool, gauge: ImmediateCareGauge, *, every: float) -> None:
        self._pool = pool
        self._gauge = gauge
        self._every = every

    async def run(self, stopping: asyncio.Event) -> None:
        await self.check_once()  # at start: the figures are current from the first scrape on
        while not await pause_unless_stopped(stopping, self._every):
            await self.check_once()

    async def check_once(self) -> None:
        try:
            async with self._pool.acquire() as conn:
                found = await care_at_risk(conn, CareDeadlines(now=datetime.now(UTC)))
        except (OSError, asyncpg.PostgresError, TimeoutError) as error:
            # The figures keep their last values, and their check time says how old they are.
            log.warning("immediate care watch could not count", error=describe_error(error))
            return
        self._gauge.publish(found, at=time.time())
