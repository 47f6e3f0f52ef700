"""The PostgreSQL side of expected arrivals (migrations/0009_expected_arrivals.sql), on one unit
of work's connection: waves, expected people, their data keys, their events' outbox rows."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

from retour_contracts import (
    EXPECTED_ARRIVAL_CLOSED_V1,
    RETURNEE_EXPECTED_V1,
    ExpectedArrivalClosed,
    ExpectedPersonal,
    ReturneeExpected,
    build_envelope,
)
from retour_intake.adapters.data_keys import KeyWrapping, PgExpectedDataKeys
from retour_intake.domain.duplicates import BIRTH_YEAR_TOLERANCE, PersonKeys
from retour_intake.domain.expected import (
    ClosingPerson,
    ExpectedPerson,
    ExpectedStatus,
    OpenExpected,
    Wave,
)
from retour_kit import outbox
from retour_kit.access_log import Access, PgAccessLog
from retour_kit.db import Connection
from retour_kit.idempotency import PgIdempotencyKeys
from retour_kit.pagination import decode_cursor, encode_cursor

SCHEMA = "intake"
SOURCE = "/intake"
EXPECTED_PERSONAL_FIELDS = tuple(
    f"expected.personal.{name}" for name in ExpectedPersonal.model_fields
)
"""What the access log names when an expected person is shown (their id in returnee_id)."""


@dataclass(frozen=True)
class ListCursor:
    """Position after the last item of a page: (expected_date, expected_id) is a total order."""

    expected_date: date
    expected_id: UUID

    def encode(self) -> str:
        return encode_cursor(self.expected_date, self.expected_id)

    @classmethod
    def decode(cls, text: str) -> ListCursor:
        return cls(*decode_cursor(text, date.fromisoformat, UUID))


# Every open row match_strength could call a match, each condition on its own partial index
# (as intake's _KNOWN_PEOPLE does for registrations).
_OPEN_MATCHING = """
SELECT expected_id, reception_centre, announced_at, name_key, family_key, birth_date,
       birth_year, phone, national_id_key
FROM expected_people
WHERE status = 'open'
  AND ((name_key = $1 AND birth_year BETWEEN $6::int - $7::int AND $6::int + $7::int)
       OR phone = $2
       OR (family_key = $3 AND birth_date = $4)
       OR national_id_key = $5)
"""

_SHOWN = """
SELECT p.expected_id, p.wave_id, w.wave_name, p.reception_centre, p.expected_date,
       w.host_country, p.status, p.sex, p.age_years, p.vulnerabilities, p.personal,
       p.returnee_id, p.announced_at, p.arrived_at, p.closed_at, p.closure_reason
FROM expected_people p JOIN expected_waves w USING (wave_id)
"""

_PAGE = (
    _SHOWN
    + """
WHERE ($1::text[] IS NULL OR p.reception_centre = ANY($1))
  AND ($2::uuid IS NULL OR p.wave_id = $2)
  AND ($3::text IS NULL OR p.status = $3)
  AND ($4::date IS NULL OR (p.expected_date, p.expected_id) > ($4, $5::uuid))
ORDER BY p.expected_date, p.expected_id
LIMIT $6
"""
)

_WAVES = """
SELECT w.wave_id, w.wave_name, w.reception_centre, w.expected_date, w.host_country,
       w.announced_at, w.size AS expected,
       count(*) FILTER (WHERE p.status = 'arrived') AS arrived,
       count(*) FILTER (WHERE p.status = 'open') AS open,
       count(*) FILTER (WHERE p.status = 'closed') AS closed
FROM expected_waves w JOIN expected_people p USING (wave_id)
WHERE ($1::text[] IS NULL OR w.reception_centre = ANY($1))
GROUP BY w.wave_id
ORDER BY w.announced_at DESC, w.wave_id
LIMIT $2
"""

# Personal data and match keys go; the row keeps what counts need (centre, wave, dates).
_FORGET = """
UPDATE expected_people
SET personal = NULL, name_key = NULL, family_key = NULL, birth_date = NULL, birth_year = NULL,
    phone = NULL, national_id_key = NULL
"""

_CLOSE = (
    _FORGET
    + """,
    status = 'closed', closed_at = $2, closure_reason = $3, closed_by = $4,
    withdrawal_reason = $5
WHERE expected_id = ANY($1::uuid[]) AND status = 'open'
"""
)


def match_arguments(keys: PersonKeys) -> tuple[object, ...]:
    """The parameters of a matching query ($1 to $7), the same for registrations and expected
    people: each condition of match_strength (domain/duplicates.py) on its own index."""
    return (
        keys.name_key,
        keys.phone,
        keys.family_key,
        keys.birth_date,
        keys.national_id,
        keys.birth_year,
        BIRTH_YEAR_TOLERANCE,
    )


class PgExpected:
    """Expected arrivals on one unit of work's connection."""

    def __init__(self, conn: Connection, wrapping: KeyWrapping) -> None:
        self._conn = conn
        self._keys = PgExpectedDataKeys(conn, wrapping)
        self.access_log = PgAccessLog(conn, service=SCHEMA)
        self.idempotency_keys = PgIdempotencyKeys(conn)

    @classmethod
    def binder(cls, wrapping: KeyWrapping) -> Callable[[Connection], PgExpected]:
        return lambda conn: cls(conn, wrapping)

    # -- a manifest ------------------------------------------------------------------------

    async def add_wave(self, wave: Wave) -> None:
        await self._conn.execute(
            "INSERT INTO expected_waves (wave_id, wave_name, reception_centre, expected_date,"
            " host_country, size, announced_at, announced_by)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            wave.wave_id,
            wave.wave_name,
            wave.reception_centre.value,
            wave.expected_date,
            wave.host_country,
            wave.size,
            wave.announced_at,
            wave.announced_by,
        )

    async def add_people(self, people: Sequence[ExpectedPerson]) -> None:
        await self._conn.executemany(
            "INSERT INTO expected_people (expected_id, wave_id, reception_centre, expected_date,"
            " lapse_from, announced_at, sex, age_years, vulnerabilities, personal, name_key,"
            " family_key, birth_date, birth_year, phone, national_id_key)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
            [_person_row(person) for person in people],
        )

    async def issue_data_keys(self, expected_ids: Sequence[UUID]) -> dict[UUID, bytes]:
        return await self._keys.issue_many(expected_ids)

    async def data_keys(self, expected_ids: Sequence[UUID]) -> dict[UUID, bytes]:
        return await self._keys.of(expected_ids)

    async def publish_expected(
        self, events: Sequence[tuple[ReturneeExpected, UUID]], *, traceparent: str
    ) -> None:
        envelopes = [
            build_envelope(
                RETURNEE_EXPECTED_V1,
                event,
                source=SOURCE,
                event_id=str(event_id),
                time=event.announced_at,
                traceparent=traceparent,
            )
            for event, event_id in events
        ]
        await outbox.enqueue_many(self._conn, envelopes)

    # -- matching ----------------------------------------------------------------------------

    async def open_matching(self, keys: PersonKeys) -> list[OpenExpected]:
        rows = await self._conn.fetch(_OPEN_MATCHING, *match_arguments(keys))
        return [
            OpenExpected(
                expected_id=row["expected_id"],
                reception_centre=row["reception_centre"],
                announced_at=row["announced_at"],
                keys=PersonKeys.stored(row),
            )
            for row in rows
        ]

    async def lock_open(self, expected_id: UUID) -> bool:
        """Locks the expected person until the transaction ends; True if still open. Two
        registrations linking one person serialise here, and the second finds it arrived."""
        status = await self._conn.fetchval(
            "SELECT status FROM expected_people WHERE expected_id = $1 FOR UPDATE", expected_id
        )
        return bool(status == ExpectedStatus.OPEN)

    async def mark_arrived(self, expected_id: UUID, returnee_id: UUID, *, at: datetime) -> None:
        """The person registered: from now on their registration holds their data, so what the
        manifest said of them, and the key of its sealed copies, are forgotten at once."""
        await self._conn.execute(
            _FORGET + ", status = 'arrived', returnee_id = $2, arrived_at = $3"
            " WHERE expected_id = $1 AND status = 'open'",
            expected_id,
            returnee_id,
            at,
        )
        await self._keys.destroy([expected_id])

    # -- reads -------------------------------------------------------------------------------

    async def page(
        self,
        *,
        centres: list[str] | None,
        wave_id: UUID | None,
        status: str | None,
        after: ListCursor | None,
        limit: int,
    ) -> tuple[list[dict[str, Any]], str | None]:
        rows = await self._conn.fetch(
            _PAGE,
            centres,
            wave_id,
            status,
            after.expected_date if after else None,
            after.expected_id if after else None,
            limit + 1,
        )
        more = len(rows) > limit
        rows = rows[:limit]
        cursor = ListCursor(rows[-1]["expected_date"], rows[-1]["expected_id"]) if more else None
        return [_shown(row) for row in rows], cursor.encode() if cursor else None

    async def shown(self, expected_ids: Sequence[UUID]) -> dict[UUID, dict[str, Any]]:
        rows = await self._conn.fetch(
            _SHOWN + " WHERE p.expected_id = ANY($1::uuid[])", list(expected_ids)
        )
        return {row["expected_id"]: _shown(row) for row in rows}

    async def waves(self, *, centres: list[str] | None, limit: int) -> list[dict[str, Any]]:
        rows = await self._conn.fetch(_WAVES, centres, limit)
        return [_wave(row) for row in rows]

    async def record_shown(
        self, actor: str, roles: Sequence[str], route: str, expected_ids: Sequence[UUID]
    ) -> None:
        """The access log, in the read's transaction; the expected person's id stands where a
        returnee's would (both are uuid4: they never collide)."""
        await self.access_log.record(
            actor,
            roles,
            Access.LISTED,
            route=route,
            returnee_ids=expected_ids,
            fields=EXPECTED_PERSONAL_FIELDS,
        )

    # -- closing -----------------------------------------------------------------------------

    async def lock_within(
        self, expected_id: UUID, *, centres: list[str] | None
    ) -> ClosingPerson | None:
        row = await self._conn.fetchrow(
            "SELECT expected_id, wave_id, reception_centre, status FROM expected_people"
            " WHERE expected_id = $1 AND ($2::text[] IS NULL OR reception_centre = ANY($2))"
            " FOR UPDATE",
            expected_id,
            centres,
        )
        return None if row is None else ClosingPerson(**dict(row))

    async def lock_due(self, cutoff: date, *, limit: int) -> list[ClosingPerson]:
        """Open people due to close, locked; rows another replica holds are skipped, so two
        replicas never close the same person twice."""
        rows = await self._conn.fetch(
            "SELECT expected_id, wave_id, reception_centre, status FROM expected_people"
            " WHERE status = 'open' AND lapse_from <= $1"
            " ORDER BY lapse_from, expected_id LIMIT $2 FOR UPDATE SKIP LOCKED",
            cutoff,
            limit,
        )
        return [ClosingPerson(**dict(row)) for row in rows]

    async def close(
        self, closing: Sequence[ExpectedArrivalClosed], *, withdrawal_reason: str | None = None
    ) -> None:
        """Closes the people (locked, open), destroys their keys and queues their events."""
        if not closing:
            return
        first = closing[0]
        ids = [event.expected_id for event in closing]
        await self._conn.execute(
            _CLOSE, ids, first.closed_at, first.reason.value, first.closed_by, withdrawal_reason
        )
        await self._keys.destroy(ids)
        envelopes = [
            build_envelope(EXPECTED_ARRIVAL_CLOSED_V1, event, source=SOURCE, time=event.closed_at)
            for event in closing
        ]
        await outbox.enqueue_many(self._conn, envelopes)


async def erase_linked(conn: Connection, returnee_id: UUID, *, at: datetime) -> None:
    """An erasure reaches the expected record the returnee's registration confirmed: its
    personal data and match keys go, and its data key is destroyed (in the erasure's
    transaction)."""
    found = await conn.fetch(
        "SELECT expected_id FROM expected_people WHERE returnee_id = $1 FOR UPDATE", returnee_id
    )
    ids = [row["expected_id"] for row in found]
    if not ids:
        return
    await conn.execute(_FORGET + ", erased_at = $2 WHERE expected_id = ANY($1::uuid[])", ids, at)
    await conn.execute("DELETE FROM expected_data_keys WHERE expected_id = ANY($1::uuid[])", ids)


def _person_row(person: ExpectedPerson) -> tuple[Any, ...]:
    wave, entry, keys = person.wave, person.entry, person.keys
    return (
        person.expected_id,
        wave.wave_id,
        wave.reception_centre.value,
        wave.expected_date,
        wave.lapse_from,
        wave.announced_at,
        entry.sex.value if entry.sex else None,
        person.age_years,
        [v.value for v in entry.vulnerabilities],
        entry.personal().model_dump(mode="json"),
        keys.name_key,
        keys.family_key,
        keys.birth_date,
        keys.birth_year,
        keys.phone,
        keys.national_id,
    )


def _shown(row: Any) -> dict[str, Any]:
    return {
        "expected_id": str(row["expected_id"]),
        "wave_id": str(row["wave_id"]),
        "wave_name": row["wave_name"],
        "reception_centre": row["reception_centre"],
        "expected_date": row["expected_date"].isoformat(),
        "host_country": row["host_country"],
        "status": row["status"],
        "sex": row["sex"],
        "age_years": row["age_years"],
        "vulnerabilities": list(row["vulnerabilities"]),
        "personal": row["personal"],
        "returnee_id": str(row["returnee_id"]) if row["returnee_id"] else None,
        "announced_at": row["announced_at"].isoformat(),
        "arrived_at": row["arrived_at"].isoformat() if row["arrived_at"] else None,
        "closed_at": row["closed_at"].isoformat() if row["closed_at"] else None,
        "closure_reason": row["closure_reason"],
    }


def _wave(row: Any) -> dict[str, Any]:
    return {
        "wave_id": str(row["wave_id"]),
        "wave_name": row["wave_name"],
        "reception_centre": row["reception_centre"],
        "expected_date": row["expected_date"].isoformat(),
        "host_country": row["host_country"],
        "announced_at": row["announced_at"].isoformat(),
        "expected": row["expected"],
        "arrived": row["arrived"],
        "open": row["open"],
        "closed": row["closed"],
    }
