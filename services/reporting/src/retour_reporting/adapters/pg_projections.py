"""Writes projection rows: one INSERT per table per batch, however many events it holds.

A batch travels as one array per column, expanded by ``unnest`` on the server: one round
trip and one plan for a whole partition batch, where executemany would still run the
statement once per row.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from retour_kit.db import Connection
from retour_reporting.domain.projection import ProjectionRows

_REGISTRATIONS = """
INSERT INTO registrations (returnee_id, arrival_date, reception_centre, return_type,
                           host_country, region_of_origin, sex, age_group, vulnerabilities)
SELECT returnee_id, arrival_date, reception_centre, return_type, host_country,
       region_of_origin, sex, age_group, string_to_array(vulnerabilities, ',')
FROM unnest($1::uuid[], $2::date[], $3::text[], $4::text[], $5::text[], $6::text[],
            $7::text[], $8::text[], $9::text[])
     AS r(returnee_id, arrival_date, reception_centre, return_type, host_country,
          region_of_origin, sex, age_group, vulnerabilities)
ON CONFLICT (returnee_id) DO NOTHING
"""

_AID = """
INSERT INTO aid (aid_id, returnee_id, granted_at, phase, category, dimension, level, modality,
                 amount, currency)
SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::timestamptz[], $4::text[], $5::text[],
                     $6::text[], $7::text[], $8::text[], $9::numeric[], $10::text[])
ON CONFLICT (aid_id) DO NOTHING
"""

# Participants are written only with their activity's first event, so a later event reusing
# an activity id cannot graft other participants onto it.
_ACTIVITIES = """
WITH inserted AS (
    INSERT INTO activities (activity_id, launched_at, sector, level, funding_amount,
                            funding_currency)
    SELECT * FROM unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::text[],
                         $5::numeric[], $6::text[])
    ON CONFLICT (activity_id) DO NOTHING
    RETURNING activity_id
)
INSERT INTO activity_participants (activity_id, returnee_id)
SELECT p.activity_id, p.returnee_id
FROM unnest($7::uuid[], $8::uuid[]) AS p(activity_id, returnee_id)
JOIN inserted USING (activity_id)
ON CONFLICT DO NOTHING
"""


class PgProjectionStore:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def write(self, rows: ProjectionRows) -> None:
        if rows.registrations:
            *columns, vulnerabilities = _columns(rows.registrations)
            # A text[] per row cannot ride in a 1-D array parameter; vulnerability names are
            # snake_case words, so a comma-joined string is unambiguous ("" -> no element).
            joined = [",".join(each) for each in vulnerabilities]
            await self._conn.execute(_REGISTRATIONS, *columns, joined)
        if rows.aid:
            await self._conn.execute(_AID, *_columns(rows.aid))
        if rows.activities:
            participants = _columns(rows.participants, width=2)
            await self._conn.execute(_ACTIVITIES, *_columns(rows.activities), *participants)


def _columns(rows: Sequence[tuple[Any, ...]], width: int | None = None) -> list[list[Any]]:
    if not rows:
        return [[] for _ in range(width or 0)]
    return [list(column) for column in zip(*rows, strict=True)]


async def forget_everything(conn: Connection, inbox_consumer: str) -> None:
    """Empties the projections and the consumer's inbox, in the caller's transaction, so the
    events can be applied again from the first one."""
    await conn.execute("TRUNCATE registrations, aid, activities, activity_participants")
    await conn.execute("DELETE FROM inbox WHERE consumer = $1", inbox_consumer)
