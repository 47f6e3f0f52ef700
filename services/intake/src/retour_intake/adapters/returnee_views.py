"""Read side: registered returnees by id, listings by centre and arrival date, and search."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

from asyncpg import Record

from retour_intake.domain.search import MAX_RESULTS, SearchQuery
from retour_kit.db import Connection
from retour_kit.pagination import decode_cursor, encode_cursor


@dataclass(frozen=True)
class Cursor:
    """Position after the last item of a page: (arrival_date, returnee_id) is a total order."""

    arrival_date: date
    returnee_id: UUID

    def encode(self) -> str:
        return encode_cursor(self.arrival_date, self.returnee_id)

    @classmethod
    def decode(cls, text: str) -> Cursor:
        return cls(*decode_cursor(text, date.fromisoformat, UUID))


@dataclass(frozen=True)
class Found:
    record: dict[str, Any]
    erased: bool
    version: int
    merged_into: UUID | None = None


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    next_cursor: str | None


_PAGE = """
SELECT record, arrival_date, returnee_id FROM returnees
WHERE erased_at IS NULL AND merged_into IS NULL
  AND ($1::text[] IS NULL OR reception_centre = ANY($1))
  AND ($2::date IS NULL OR arrival_date >= $2)
  AND ($3::date IS NULL OR arrival_date <= $3)
  AND ($4::date IS NULL OR (arrival_date, returnee_id) > ($4, $5::uuid))
ORDER BY arrival_date, returnee_id
LIMIT $6
"""


NEAREST_NAMES = 200
"""How many of the nearest names a search reads to pick its latest registered (see _SEARCH)."""

# Each reading of the query has its own branch, each on its own index, each within the
# caller's centres ($1) and among living registrations. Names: trigram word similarity of the
# searched words to the indexed names, both through search_key() (migrations/0005_search.sql).
# A registration merged into another is that other person: found as them, not twice.
_WITHIN = (
    "erased_at IS NULL AND merged_into IS NULL"
    " AND ($1::text[] IS NULL OR reception_centre = ANY($1))"
)
_SEARCH = f"""
SELECT returnee_id, record, registered_at, 'reference' AS match, 1.0::real AS score
FROM returnees WHERE returnee_id BETWEEN $2::uuid AND $3::uuid AND {_WITHIN}
UNION ALL
(SELECT returnee_id, record, registered_at, 'phone', 1.0 FROM returnees
 WHERE phone = $4 AND {_WITHIN} ORDER BY registered_at DESC LIMIT $7)
UNION ALL
(SELECT returnee_id, record, registered_at, 'national_id', 1.0 FROM returnees
 WHERE national_id_key = $5 AND {_WITHIN} ORDER BY registered_at DESC LIMIT $7)
UNION ALL
-- The best names by id and distance alone, then their records: a common family name matches
-- thousands of rows, which must not all carry their record into the sort. The GiST index
-- returns rows nearest first by word-similarity distance (<<->, migrations/0011), so only the
-- nearest $8 are read; among them, equal distances go to the latest registered. Beyond $8
-- people named alike (a crowd of identical names, which no list of $7 could show anyway) the
-- ones shown are $7 of the nearest $8, not the latest of the whole crowd: reading the whole
-- crowd to sort it by date is what made a name search grow with the registry. The searched
-- key is computed once per query (the sub-selects), not once per candidate row.
(SELECT r.returnee_id, r.record, r.registered_at, 'name', (1 - best.distance)::real
 FROM (SELECT returnee_id, distance
       FROM (SELECT returnee_id, registered_at,
                    (SELECT search_key($6)) OPERATOR(extensions.<<->) search_names AS distance
             FROM returnees
             WHERE (SELECT search_key($6)) OPERATOR(extensions.<%) search_names AND {_WITHIN}
             ORDER BY distance LIMIT $8) AS nearest
       ORDER BY distance, registered_at DESC LIMIT $7) AS best
 JOIN returnees r USING (returnee_id))
"""  # noqa: S608 (constant fragments only; every value is a parameter)


@dataclass(frozen=True)
class Hit:
    record: dict[str, Any]
    matched: list[str]
    score: float


class PgReturneeViews:
    """The read side of one unit of work's connection."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def get(self, returnee_id: UUID, *, centres: list[str] | None) -> Found | None:
        """The record, if it is at one of ``centres`` (None: any centre); an erased
        returnee's is its tombstone, without the personal block."""
        row = await self._conn.fetchrow(
            "SELECT record, erased_at, version, merged_into FROM returnees WHERE returnee_id = $1"
            " AND ($2::text[] IS NULL OR reception_centre = ANY($2))",
            returnee_id,
            centres,
        )
        if row is None:
            return None
        return Found(
            row["record"],
            erased=row["erased_at"] is not None,
            version=row["version"],
            merged_into=row["merged_into"],
        )

    async def page(
        self,
        *,
        centres: list[str] | None,
        arrived_from: date | None,
        arrived_to: date | None,
        after: Cursor | None,
        limit: int,
    ) -> Page:
        rows = await self._conn.fetch(
            _PAGE,
            centres,
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

    async def search(self, query: SearchQuery, *, centres: list[str] | None) -> list[Hit]:
        """The best matches first (exact readings score 1), each person once, with every
        reading that found them."""
        reference = query.reference
        rows = await self._conn.fetch(
            _SEARCH,
            centres,
            reference.low if reference else None,
            reference.high if reference else None,
            query.phone,
            query.national_id,
            query.names,
            MAX_RESULTS,
            NEAREST_NAMES,
        )
        first: dict[UUID, Record] = {}
        matched: dict[UUID, list[str]] = {}
        scores: dict[UUID, float] = {}
        for row in rows:
            returnee_id = row["returnee_id"]
            first.setdefault(returnee_id, row)
            matched.setdefault(returnee_id, []).append(row["match"])
            scores[returnee_id] = max(scores.get(returnee_id, 0.0), float(row["score"]))
        ranked = sorted(first, key=lambda rid: (scores[rid], first[rid]["registered_at"]))
        return [
            Hit(first[rid]["record"], sorted(matched[rid]), round(scores[rid], 3))
            for rid in reversed(ranked[-MAX_RESULTS:])
        ]
