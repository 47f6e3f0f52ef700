"""The access log: who read or changed which returnee's personal data, when, through what.

Written in the transaction of the read or change it records, so a read whose record cannot be
written fails instead of going unrecorded. A record holds no personal data: the returnee's id,
the route's template (never the URL, whose query could carry a name), and the names of the
personal fields involved, never their values. The table is append-only for the service's own
role (retour_kit/tables/access_log.sql); only the data protection officer reads it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from retour_kit.db import Connection

MAX_PAGE = 500


class Access(StrEnum):
    READ = "read"
    LISTED = "listed"
    CREATED = "created"
    CHANGED = "changed"
    ERASED = "erased"
    KEY_RELEASED = "key_released"
    """A service or partner obtained the data key that opens the person's sealed block."""


@dataclass(frozen=True)
class AccessRecord:
    at: datetime
    service: str
    actor: str
    roles: list[str]
    action: str
    route: str
    fields: list[str]
    returnee_id: UUID

    def as_json(self) -> dict[str, Any]:
        return {**self.__dict__, "at": self.at.isoformat(), "returnee_id": str(self.returnee_id)}


class PgAccessLog:
    """The log of one unit of work's connection (retour_kit.unit_of_work)."""

    def __init__(self, conn: Connection, *, service: str) -> None:
        self._conn = conn
        self._service = service

    async def record(
        self,
        actor: str,
        roles: Iterable[str],
        action: Access,
        *,
        route: str,
        returnee_ids: Sequence[UUID],
        fields: Sequence[str],
    ) -> None:
        """One row per returnee, all in one statement (a listed page records every person).
        ``actor`` is the token's subject: a staff account, never a returnee."""
        if not returnee_ids:
            return
        await self._conn.execute(
            "INSERT INTO access_log (service, actor, roles, action, route, fields, returnee_id)"
            " SELECT $1, $2, $3, $4, $5, $6, unnest($7::uuid[])",
            self._service,
            actor,
            sorted(roles),
            action.value,
            route,
            list(fields),
            list(returnee_ids),
        )

    async def of_returnee(
        self, returnee_id: UUID, *, after: int | None, limit: int
    ) -> tuple[list[AccessRecord], int | None]:
        """Oldest first; returns the page and the position to continue after, if any.

        Keyset on the identity: a record whose transaction commits after a page was read, with
        a smaller id than that page's last, is missed by that pagination (the window is the
        length of one request); reading again from the start finds it."""
        limit = min(limit, MAX_PAGE)
        rows = await self._conn.fetch(
            "SELECT id, at, service, actor, roles, action, route, fields, returnee_id"
            " FROM access_log WHERE returnee_id = $1 AND id > $2 ORDER BY id LIMIT $3",
            returnee_id,
            after or 0,
            limit + 1,
        )
        more = len(rows) > limit
        rows = rows[:limit]
        records = [AccessRecord(**{k: v for k, v in row.items() if k != "id"}) for row in rows]
        return records, (rows[-1]["id"] if more else None)
