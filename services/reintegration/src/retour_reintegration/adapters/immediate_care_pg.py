"""The open cases still waiting for immediate care, counted per centre (domain.immediate_care)."""

from __future__ import annotations

from retour_contracts import ReceptionCentre
from retour_kit.db import Connection
from retour_reintegration.domain.immediate_care import CareAtRisk, CareDeadlines

# A case's arrival instant is the start of its arrival day, UTC (Case.arrived_at). Only open
# cases arrived in the last ten days are read (an index on arrival_date of open cases), and a
# case with any immediate aid, on time or late, is no longer waiting.
_AT_RISK = """
SELECT reception_centre,
       count(*) FILTER (WHERE arrived > $1 AND arrived <= $2) AS due_within_24h,
       count(*) FILTER (WHERE arrived > $3 AND arrived <= $1) AS overdue
  FROM (SELECT c.reception_centre, c.arrival_date::timestamp AT TIME ZONE 'UTC' AS arrived
          FROM cases c
         WHERE c.status = 'open'
           AND c.arrival_date >= ($3 AT TIME ZONE 'UTC')::date
           AND NOT EXISTS (SELECT 1 FROM aid a
                            WHERE a.returnee_id = c.returnee_id AND a.phase = 'immediate')
       ) waiting
 GROUP BY reception_centre
"""


async def care_at_risk(conn: Connection, deadlines: CareDeadlines) -> list[CareAtRisk]:
    rows = await conn.fetch(
        _AT_RISK,
        deadlines.due_soon_arrived_after,
        deadlines.due_soon_arrived_until,
        deadlines.overdue_arrived_after,
    )
    return [
        CareAtRisk(
            centre=ReceptionCentre(row["reception_centre"]),
            due_within_24h=row["due_within_24h"],
            overdue=row["overdue"],
        )
        for row in rows
        if row["due_within_24h"] or row["overdue"]
    ]
