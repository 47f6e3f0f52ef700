"""The roster of case workers (domain/staff.py) on the service's Postgres schema."""

from __future__ import annotations

from retour_contracts import ReceptionCentre
from retour_kit.db import Connection
from retour_reintegration.domain.staff import CaseWorkerSeen


class PgCaseWorkerRoster:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def centres_of(self, subject: str) -> frozenset[ReceptionCentre] | None:
        centres = await self._conn.fetchval(
            "SELECT centres FROM case_workers WHERE subject = $1", subject
        )
        return None if centres is None else frozenset(ReceptionCentre(c) for c in centres)

    async def record(self, seen: CaseWorkerSeen) -> None:
        # A sighting older than the one kept (two pods, two requests) does not roll it back.
        await self._conn.execute(
            "INSERT INTO case_workers (subject, centres, last_seen) VALUES ($1, $2, $3)"
            " ON CONFLICT (subject) DO UPDATE"
            " SET centres = excluded.centres, last_seen = excluded.last_seen"
            " WHERE case_workers.last_seen <= excluded.last_seen",
            seen.subject,
            sorted(seen.centres),
            seen.seen_at,
        )
