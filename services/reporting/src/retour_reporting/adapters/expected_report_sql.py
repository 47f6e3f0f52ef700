"""The SQL of the expected-arrivals report, with the conventions of ``report_sql``: $1 and $2
bound the period (here the expected date, inclusive), $3 is the announced centre, NULL meaning
"any"; one fixed statement.

Status. The three topics are read in any order, so an expectation's status is settled here:
arrived when a registration names it (``registrations.expected_id``), else closed when a closure
was read, else awaited. A registration read before its expectation counts nowhere until the
expectation is read; a closure read before it, likewise.

People. A registration counts as the person at the end of its chain of merges, as everywhere
(``report_sql``). The clock of immediate care starts, as the KPIs' does, at the start (UTC) of
the arrival day of that person's kept registration (of the confirming one until the kept one
is read), never when intake recorded them, and stops at the person's first immediate aid, of
any of their registrations. A person is counted once per wave and centre, and once in the
total, however many entries of the manifests their registrations confirmed; of a person's
entries, one registered at the announced centre is preferred. An erased registration still
counts: reporting reads no erasure, it holds nothing personal to forget.

Plans. As the case reports (case_report_sql): the facts are gathered in a ``MATERIALIZED`` CTE
that takes no parameter, and filtered afterwards without joining anything to them.
"""

from retour_reporting.adapters.report_sql import (
    arrival_day_start,
    cared_within_72h,
    hours_between,
)


def _measures(first: str) -> str:
    """The report's counts over the rows of ``people``; ``first`` marks the row that counts
    a person who arrived (one per group)."""
    arrived = f"person IS NOT NULL AND {first}"
    return f"""
       count(*) AS expected,
       count(*) FILTER (WHERE {arrived}) AS arrived,
       count(*) FILTER (WHERE {arrived} AND elsewhere) AS arrived_elsewhere,
       count(*) FILTER (WHERE person IS NULL AND closure IS NULL) AS awaited,
       count(*) FILTER (WHERE person IS NULL AND closure = 'lapsed') AS closed_lapsed,
       count(*) FILTER (WHERE person IS NULL AND closure = 'withdrawn') AS closed_withdrawn,
       count(*) FILTER (WHERE {arrived} AND hours_to_care IS NOT NULL) AS cared,
       count(*) FILTER (WHERE {arrived} AND cared_72h) AS cared_within_72h,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY hours_to_care)
           FILTER (WHERE {arrived}) AS median_hours
    """


EXPECTED_ARRIVALS = f"""
WITH links AS (
    -- Each registration that confirmed an expectation, as the person it counts as, and the
    -- start of the arrival day of that person's kept registration.
    SELECT b.expected_id, coalesce(m.counted_as, b.returnee_id) AS person, b.reception_centre,
           {arrival_day_start("coalesce(k.arrival_date, b.arrival_date)")} AS started
    FROM registrations b
    LEFT JOIN merges m ON m.returnee_id = b.returnee_id
    LEFT JOIN registrations k ON k.returnee_id = m.counted_as
    WHERE b.expected_id IS NOT NULL
),
care AS (
    SELECT coalesce(m.counted_as, a.returnee_id) AS person, min(a.granted_at) AS first_immediate
    FROM aid a LEFT JOIN merges m ON m.returnee_id = a.returnee_id
    WHERE a.phase = 'immediate'
    GROUP BY 1
),
facts AS MATERIALIZED (
    -- One row per expectation; of two registrations confirming it (a person registered twice,
    -- then merged), the one at the announced centre.
    SELECT DISTINCT ON (e.expected_id)
           e.expected_id, e.wave_id, e.wave_name, e.wave_size, e.reception_centre,
           e.expected_date, e.host_country, l.person,
           l.reception_centre <> e.reception_centre AS elsewhere,
           x.reason AS closure,
           {hours_between("l.started", "c.first_immediate")} AS hours_to_care,
           {cared_within_72h("l.started", "c.first_immediate")} AS cared_72h
    FROM expected_arrivals e
    LEFT JOIN links l USING (expected_id)
    LEFT JOIN care c ON c.person = l.person
    LEFT JOIN expectation_closures x USING (expected_id)
    ORDER BY e.expected_id, l.reception_centre <> e.reception_centre, l.person
),
people AS (
    SELECT *,
           row_number() OVER (
               PARTITION BY wave_id, reception_centre, person ORDER BY elsewhere, expected_id
           ) = 1 AS first_in_wave,
           row_number() OVER (PARTITION BY person ORDER BY elsewhere, expected_id) = 1
               AS first_of_all
    FROM facts
    WHERE ($1::date IS NULL OR expected_date >= $1) AND ($2::date IS NULL OR expected_date <= $2)
      AND ($3::text IS NULL OR reception_centre = $3)
)
SELECT false AS overall, wave_id, reception_centre, min(wave_name) AS wave_name,
       max(wave_size) AS wave_size, min(expected_date) AS expected_date,
       min(host_country) AS host_country, {_measures("first_in_wave")}
FROM people
GROUP BY wave_id, reception_centre
UNION ALL
SELECT true, NULL, NULL, NULL, NULL, NULL, NULL, {_measures("first_of_all")}
FROM people
"""  # noqa: S608 (constant fragments only; every value is a parameter)
