"""Read side: registered returnees by id, and listings by centre and arrival date."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

import asyncpg


class InvalidCursor(ValueError):
    pass


@dataclass(frozen=True)
class Cursor:
    """Position after the last item of a page: (arrival_date, returnee_id) is a total order."""

    arrival_date: date
    returnee_id: UUID

    def encode(self) -> str:
        raw = json.dumps([self.arrival_date.isoformat(), str(self.returnee_id)])
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        try:
            padded = text + "=" * (-len(text) % 4)
            day, returnee_id = json.loads(base64.urlsafe_b64decode(padded))
            return cls(date.fromisoformat(day), UUID(returnee_id))
        except (ValueError, TypeError, binascii.Error) as error:
            raise InvalidCursor("cursor is not one this API returned") from error


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    next_cursor: str | None


async def get_returnee(pool: asyncpg.Pool, returnee_id: UUID) -> dict[str, Any] | None:
    record: dict[str, Any] | None = await pool.fetchval(
        "SELECT record FROM returnees WHERE returnee_id = $1", returnee_id
    )
    return record


async def list_returnees(
    pool: asyncpg.Pool,
    *,
    centre: str | None,
    arrived_from: date | None,
    arrived_to: date | None,
    after: Cursor | None,
    limit: int,
) -> Page:
    rows = await pool.fetch(
        """
        SELECT record, arrival_date, returnee_id FROM returnees
        WHERE ($1::text IS NULL OR reception_centre = $1)
          AND ($2::date IS NULL OR arrival_date >= $2)
          AND ($3::date IS NULL OR arrival_date <= $3)
          AND ($4::date IS NULL OR (arrival_date, returnee_id) > ($4, $5::uuid))
        ORDER BY arrival_date, returnee_id
        LIMIT $6
        """,
        centre,
        arrived_from,
        arrived_to,
        after.arrival_date if after else None,
        after.returnee_id if after else None,
        limit + 1,
    )
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = (
        Cursor(rows[-1]["arrival_date"], rows[-1]["returnee_id"]).encode() if more else None
    )
    return Page(items=[row["record"] for row in rows], next_cursor=next_cursor)
