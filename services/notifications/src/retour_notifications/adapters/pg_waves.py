"""Waves announced by a manifest and the people read of them, inside the consumer's transaction
(migration 0009)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from uuid import UUID

import asyncpg

from retour_kit.db import Connection
from retour_notifications.domain.waves import ExpectedPerson, Wave

# The first event read of a wave describes it; later ones (the same manifest) change nothing.
# Waves are inserted and locked in wave_id order, so two batches sharing waves never wait on
# each other in a cycle.
_ADD_WAVES = """
INSERT INTO expected_waves (wave_id, wave_name, wave_size, reception_centre, expected_date,
    host_country)
SELECT * FROM unnest($1::uuid[], $2::text[], $3::integer[], $4::text[], $5::date[], $6::text[])
ORDER BY 1
ON CONFLICT (wave_id) DO NOTHING
"""

# FOR UPDATE: whoever completes the wave decides its summary alone; a batch that waited here
# reads, in its next statements, the people and the mark the first one committed.
_LOCK_WAVES = """
SELECT wave_id, wave_name, wave_size, reception_centre, expected_date, host_country,
    summary IS NOT NULL AS summarised
FROM expected_waves WHERE wave_id = ANY($1::uuid[])
ORDER BY wave_id
FOR UPDATE
"""

_ADD_PEOPLE = """
INSERT INTO expected_people (expected_id, wave_id, sex, age_years, vulnerabilities)
SELECT p.expected_id, p.wave_id, p.sex, p.age_years,
    CASE WHEN p.vulnerabilities = '' THEN '{}'::text[]
         ELSE string_to_array(p.vulnerabilities, ',') END
FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::smallint[], $5::text[])
    AS p(expected_id, wave_id, sex, age_years, vulnerabilities)
ON CONFLICT (expected_id) DO NOTHING
"""

_PEOPLE = """
SELECT expected_id, wave_id, sex, age_years, vulnerabilities
FROM expected_people WHERE wave_id = $1
"""

_SUMMARISED = """
UPDATE expected_waves SET summary = $2, summarised_at = now()
WHERE wave_id = $1 AND summary IS NULL
"""


# A wave still missing people long after it was first read will not be completed (intake
# publishes a manifest's people together): given up, its people forgotten, so that nothing
# grows without bound. A person of it read later is then only recorded, like one of a wave
# summarised. Each row is skipped while a consumer batch holds it.
_GIVE_UP = """
WITH given_up AS (
    UPDATE expected_waves SET summary = 'incomplete', summarised_at = now()
    WHERE wave_id IN (
        SELECT wave_id FROM expected_waves
        WHERE summary IS NULL AND recorded_at < now() - $1::interval
        FOR UPDATE SKIP LOCKED
    )
    RETURNING wave_id
), forgotten AS (
    DELETE FROM expected_people WHERE wave_id IN (SELECT wave_id FROM given_up)
)
SELECT count(*) FROM given_up
"""


async def give_up_incomplete_waves(pool: asyncpg.Pool, first_read_before: timedelta) -> int:
    """Gives up the waves first read longer than ``first_read_before`` ago and still missing
    people; returns how many."""
    given_up: int = await pool.fetchval(_GIVE_UP, first_read_before)
    return given_up


class PgExpectedWaves:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def lock(self, waves: Sequence[Wave]) -> dict[UUID, tuple[Wave, bool]]:
        """Each wave as stored (recorded first if new), locked until the transaction ends,
        and whether its summary was already decided."""
        if not waves:
            return {}
        columns = zip(*(_wave_values(wave) for wave in waves), strict=True)
        await self._conn.execute(_ADD_WAVES, *(list(column) for column in columns))
        rows = await self._conn.fetch(_LOCK_WAVES, [wave.wave_id for wave in waves])
        return {
            row["wave_id"]: (
                Wave(
                    wave_id=row["wave_id"],
                    wave_name=row["wave_name"],
                    wave_size=row["wave_size"],
                    reception_centre=row["reception_centre"],
                    expected_date=row["expected_date"],
                    host_country=row["host_country"],
                ),
                row["summarised"],
            )
            for row in rows
        }

    async def add_people(self, people: Sequence[ExpectedPerson]) -> None:
        """Records those not read before (by expected_id)."""
        if not people:
            return
        await self._conn.execute(
            _ADD_PEOPLE,
            [p.expected_id for p in people],
            [p.wave_id for p in people],
            [p.sex for p in people],
            [p.age_years for p in people],
            # Vulnerability codes are snake_case words: a comma never occurs in one.
            [",".join(p.vulnerabilities) for p in people],
        )

    async def people_read(self, wave_id: UUID) -> int:
        read: int = await self._conn.fetchval(
            "SELECT count(*) FROM expected_people WHERE wave_id = $1", wave_id
        )
        return read

    async def people_of(self, wave_id: UUID) -> list[ExpectedPerson]:
        rows = await self._conn.fetch(_PEOPLE, wave_id)
        return [
            ExpectedPerson(
                expected_id=row["expected_id"],
                wave_id=row["wave_id"],
                sex=row["sex"],
                age_years=row["age_years"],
                vulnerabilities=tuple(row["vulnerabilities"]),
            )
            for row in rows
        ]

    async def mark_summarised(self, wave_id: UUID, summary: str) -> None:
        """Remembers how the summary was decided, and forgets the wave's people, now counted."""
        await self._conn.execute(_SUMMARISED, wave_id, summary)
        await self._conn.execute("DELETE FROM expected_people WHERE wave_id = $1", wave_id)


def _wave_values(wave: Wave) -> tuple[object, ...]:
    return (
        wave.wave_id,
        wave.wave_name,
        wave.wave_size,
        wave.reception_centre,
        wave.expected_date,
        wave.host_country,
    )
