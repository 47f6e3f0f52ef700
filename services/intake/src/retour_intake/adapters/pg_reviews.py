"""The PostgreSQL side of the duplicate review queue, on one unit of work's connection."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from asyncpg import Record

from retour_contracts import RETURNEE_MERGED_V1, ReturneeMerged, build_envelope
from retour_intake.adapters.unit_of_work import PERSONAL_FIELDS, SCHEMA, SOURCE
from retour_intake.domain.reviews import Review, ReviewStatus
from retour_intake.protection import Staff
from retour_intake.reviews import Standing
from retour_kit import outbox
from retour_kit.access_log import Access, PgAccessLog
from retour_kit.db import Connection
from retour_kit.idempotency import PgIdempotencyKeys
from retour_kit.pagination import decode_cursor, encode_cursor

DECISION_ROUTE = "POST /duplicates/{review_id}/decision"
LIST_ROUTE = "GET /duplicates"

_COLUMNS = (
    "d.review_id, d.returnee_id, d.candidate_id, d.strength, d.status, d.created_at,"
    " d.decided_at, d.decided_by, d.reason"
)

# Both registrations of each pair come along, for the supervisor to compare them; the
# candidate's only when it is within the caller's centres too.
_PAGE = f"""
SELECT {_COLUMNS},
       r.record AS returnee_record,
       CASE WHEN $2::text[] IS NULL OR c.reception_centre = ANY($2) THEN c.record END
           AS candidate_record,
       c.reception_centre AS candidate_centre
FROM duplicate_reviews d
JOIN returnees r ON r.returnee_id = d.returnee_id
JOIN returnees c ON c.returnee_id = d.candidate_id
WHERE d.status = $1 AND ($2::text[] IS NULL OR r.reception_centre = ANY($2))
  AND ($3::timestamptz IS NULL OR (d.created_at, d.review_id) > ($3, $4::uuid))
ORDER BY d.created_at, d.review_id
LIMIT $5
"""  # noqa: S608 (constant fragments only; every value is a parameter)


_LOCK_REVIEW = f"""
SELECT {_COLUMNS} FROM duplicate_reviews d JOIN returnees r ON r.returnee_id = d.returnee_id
WHERE d.review_id = $1 AND ($2::text[] IS NULL OR r.reception_centre = ANY($2))
FOR UPDATE OF d
"""  # noqa: S608 (constant fragments only; every value is a parameter)


@dataclass(frozen=True)
class ReviewPage:
    items: list[dict[str, Any]]
    shown: list[UUID]
    next_cursor: str | None


def _review(row: Record) -> Review:
    return Review(
        review_id=row["review_id"],
        returnee_id=row["returnee_id"],
        candidate_id=row["candidate_id"],
        strength=row["strength"],
        status=ReviewStatus(row["status"]),
        created_at=row["created_at"],
        decided_at=row["decided_at"],
        decided_by=row["decided_by"],
        reason=row["reason"],
    )


def review_json(review: Review) -> dict[str, Any]:
    return {
        "review_id": str(review.review_id),
        "returnee_id": str(review.returnee_id),
        "candidate_id": str(review.candidate_id),
        "strength": review.strength,
        "status": review.status.value,
        "created_at": review.created_at.isoformat(),
        "decided_at": review.decided_at.isoformat() if review.decided_at else None,
        "decided_by": review.decided_by,
        "reason": review.reason,
    }


class PgReviews:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._access_log = PgAccessLog(conn, service=SCHEMA)
        self.idempotency_keys = PgIdempotencyKeys(conn)

    async def page(
        self, status: ReviewStatus, *, centres: list[str] | None, after: str | None, limit: int
    ) -> ReviewPage:
        created, review_id = (
            decode_cursor(after, datetime.fromisoformat, UUID) if after else (None, None)
        )
        rows = await self._conn.fetch(_PAGE, status.value, centres, created, review_id, limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        items, shown = [], []
        for row in rows:
            candidate = row["candidate_record"] or {
                "returnee_id": str(row["candidate_id"]),
                "reception_centre": row["candidate_centre"],
            }
            items.append(
                {
                    **review_json(_review(row)),
                    "returnee": row["returnee_record"],
                    "candidate": candidate,
                }
            )
            shown.append(row["returnee_id"])
            if row["candidate_record"] is not None:
                shown.append(row["candidate_id"])
        last = rows[-1] if rows else None
        next_cursor = (
            encode_cursor(last["created_at"], last["review_id"]) if more and last else None
        )
        return ReviewPage(items, shown, next_cursor)

    async def record_listed(self, staff: Staff, shown: Sequence[UUID]) -> None:
        await self._access_log.record(
            staff.subject,
            staff.roles,
            Access.LISTED,
            route=LIST_ROUTE,
            returnee_ids=list(dict.fromkeys(shown)),
            fields=PERSONAL_FIELDS,
        )

    async def lock_review(self, review_id: UUID, *, centres: list[str] | None) -> Review | None:
        row = await self._conn.fetchrow(_LOCK_REVIEW, review_id, centres)
        return None if row is None else _review(row)

    async def lock_registrations(self, returnee_ids: Sequence[UUID]) -> dict[UUID, Standing]:
        # NO KEY UPDATE, as a correction's: a registration's review rows reference these.
        rows = await self._conn.fetch(
            "SELECT returnee_id, erased_at IS NOT NULL AS erased, merged_into, reception_centre"
            " FROM returnees WHERE returnee_id = ANY($1::uuid[])"
            " ORDER BY returnee_id FOR NO KEY UPDATE",
            list(returnee_ids),
        )
        return {
            row["returnee_id"]: Standing(row["erased"], row["merged_into"], row["reception_centre"])
            for row in rows
        }

    async def decide(self, review: Review) -> None:
        await self._conn.execute(
            "UPDATE duplicate_reviews SET status = $2, decided_at = $3, decided_by = $4,"
            " reason = $5 WHERE review_id = $1",
            review.review_id,
            review.status.value,
            review.decided_at,
            review.decided_by,
            review.reason,
        )

    async def merge(self, returnee_id: UUID, *, into: UUID, at: datetime) -> list[UUID]:
        # Whoever was merged into the registration that goes follows it: no chains.
        rows = await self._conn.fetch(
            "UPDATE returnees SET merged_into = $2, merged_at = $3"
            " WHERE returnee_id = $1 OR merged_into = $1 RETURNING returnee_id",
            returnee_id,
            into,
            at,
        )
        return sorted(row["returnee_id"] for row in rows)

    async def publish_merge(self, event: ReturneeMerged) -> None:
        envelope = build_envelope(RETURNEE_MERGED_V1, event, source=SOURCE, time=event.merged_at)
        await outbox.enqueue(self._conn, envelope, topic=RETURNEE_MERGED_V1.topic)

    async def record_decision(self, staff: Staff, review: Review) -> None:
        await self._access_log.record(
            staff.subject,
            staff.roles,
            Access.CHANGED,
            route=DECISION_ROUTE,
            returnee_ids=[review.returnee_id, review.candidate_id],
            fields=["duplicate_review"],
        )
