"""The SQL of the reports. Every filter is a parameter that may be NULL (meaning "any"), so
each report is one fixed statement whatever the filters.

Shared parameters: $1 and $2 bound the period; $3 to $9 are the returnee filters (centre,
host country, return type, region, sex, age group, vulnerability), applied through the
``registrations_matching`` function of migration 0002. Aid and activity reports add $10,
whether any returnee filter is set: without one, aid and activities count even when their
registration has not arrived (yet).

People. A merged registration counts as the registration at the end of its chain of merges
(``merges.counted_as``, migration 0004): ``registrations_matching`` leaves merged
registrations out, and every aid and participant row is read as the person it counts as,
``coalesce(m.counted_as, returnee_id)``, so a person registered twice is counted once, with
the aid and activities of both registrations and the arrival of the one kept.

Plans. The reports run with ``plan_cache_mode = force_custom_plan`` (see
``retour_reporting.main``), so each execution is planned with its real parameters and the
unused filters fold away. They must still be safe under a generic plan (a pool configured
otherwise, a DBA's ``PREPARE``): there every "``$n IS NULL OR ...``" filter is estimated as
selective, a cohort of thousands looks like one row, and a join against it becomes a nested
loop that redoes its inner side per person. So no report joins a filtered cohort to an
aggregate: KPIS gathers each person's facts in one grouping pass instead
(tests/test_reporting_report_timing.py runs every report under both plan modes).
"""

REGISTRATIONS = """
WITH cohort AS MATERIALIZED (
    SELECT * FROM registrations_matching($3, $4, $5, $6, $7, $8, $9)
    WHERE ($1::date IS NULL OR arrival_date >= $1) AND ($2::date IS NULL OR arrival_date <= $2)
)
SELECT 'total' AS breakdown, 'all' AS value, count(*) AS people FROM cohort
UNION ALL
SELECT 'reception_centre', reception_centre, count(*) FROM cohort GROUP BY 2
UNION ALL
SELECT 'host_country', host_country, count(*) FROM cohort GROUP BY 2
UNION ALL
SELECT 'return_type', return_type, count(*) FROM cohort GROUP BY 2
UNION ALL
SELECT 'region_of_origin', region_of_origin, count(*) FROM cohort GROUP BY 2
UNION ALL
SELECT 'sex', sex, count(*) FROM cohort GROUP BY 2
UNION ALL
SELECT 'age_group', age_group, count(*) FROM cohort GROUP BY 2
UNION ALL
-- People registered with no vulnerability count under 'none'; someone with two counts under
-- both, so this breakdown does not add up to the total.
SELECT 'vulnerability', v, count(*)
FROM cohort CROSS JOIN LATERAL unnest(
    CASE WHEN cardinality(vulnerabilities) = 0 THEN ARRAY['none'] ELSE vulnerabilities END
) AS v
GROUP BY 2
"""

MONTHLY_REGISTRATIONS = """
SELECT to_char(arrival_date, 'YYYY-MM') AS month, reception_centre, count(*) AS people
FROM registrations_matching($3, $4, $5, $6, $7, $8, $9)
WHERE ($1::date IS NULL OR arrival_date >= $1) AND ($2::date IS NULL OR arrival_date <= $2)
GROUP BY 1, 2
ORDER BY 1, 2
"""

# $11 to $15: phase, category, dimension, level, modality.
AID = """
WITH selected AS MATERIALIZED (
    SELECT a.*, coalesce(m.counted_as, a.returnee_id) AS person
    FROM aid a LEFT JOIN merges m ON m.returnee_id = a.returnee_id
    WHERE ($1::timestamptz IS NULL OR a.granted_at >= $1)
      AND ($2::timestamptz IS NULL OR a.granted_at < $2)
      AND ($11::text IS NULL OR a.phase = $11)
      AND ($12::text IS NULL OR a.category = $12)
      AND ($13::text IS NULL OR a.dimension = $13)
      AND ($14::text IS NULL OR a.level = $14)
      AND ($15::text IS NULL OR a.modality = $15)
      AND (NOT $10::boolean OR coalesce(m.counted_as, a.returnee_id) IN (
          SELECT returnee_id FROM registrations_matching($3, $4, $5, $6, $7, $8, $9)))
),
cells AS (
    SELECT 'total' AS breakdown, 'all' AS value, * FROM selected
    UNION ALL SELECT 'phase', phase, * FROM selected
    UNION ALL SELECT 'category', category, * FROM selected
    UNION ALL SELECT 'dimension', dimension, * FROM selected
    UNION ALL SELECT 'level', level, * FROM selected
    UNION ALL SELECT 'modality', modality, * FROM selected
)
SELECT breakdown, value,
       count(*) AS aids,
       count(DISTINCT person) AS people,
       coalesce(sum(amount) FILTER (WHERE currency = 'XOF'), 0) AS total_xof,
       count(*) FILTER (WHERE currency <> 'XOF') AS other_currency_aids
FROM cells
GROUP BY breakdown, value
UNION ALL
SELECT 'total', 'all', 0, 0, 0, 0 WHERE NOT EXISTS (SELECT 1 FROM selected)
"""

# $11, $12: sector, level. With returnee filters, an activity counts when one of its
# participants matches, and only matching participants are counted.
ACTIVITIES = """
WITH selected AS MATERIALIZED (
    SELECT a.* FROM activities a
    WHERE ($1::timestamptz IS NULL OR a.launched_at >= $1)
      AND ($2::timestamptz IS NULL OR a.launched_at < $2)
      AND ($11::text IS NULL OR a.sector = $11)
      AND ($12::text IS NULL OR a.level = $12)
),
people AS MATERIALIZED (
    SELECT p.activity_id, coalesce(m.counted_as, p.returnee_id) AS returnee_id
    FROM activity_participants p LEFT JOIN merges m ON m.returnee_id = p.returnee_id
    WHERE p.activity_id IN (SELECT activity_id FROM selected)
      AND (NOT $10::boolean OR coalesce(m.counted_as, p.returnee_id) IN (
          SELECT returnee_id FROM registrations_matching($3, $4, $5, $6, $7, $8, $9)))
),
chosen AS MATERIALIZED (
    SELECT * FROM selected WHERE activity_id IN (SELECT activity_id FROM people)
),
cells AS (
    SELECT 'total' AS breakdown, 'all' AS value, * FROM chosen
    UNION ALL SELECT 'sector', sector, * FROM chosen
    UNION ALL SELECT 'level', level, * FROM chosen
),
funding AS (
    SELECT breakdown, value,
           count(*) AS activities,
           coalesce(sum(funding_amount) FILTER (WHERE funding_currency = 'XOF'), 0)
               AS funding_xof
    FROM cells GROUP BY breakdown, value
),
participants AS (
    SELECT c.breakdown, c.value, count(DISTINCT p.returnee_id) AS participants
    FROM cells c JOIN people p USING (activity_id)
    GROUP BY c.breakdown, c.value
)
SELECT breakdown, value, activities, funding_xof, coalesce(participants, 0) AS participants
FROM funding LEFT JOIN participants USING (breakdown, value)
UNION ALL
SELECT 'total', 'all', 0, 0, 0 WHERE NOT EXISTS (SELECT 1 FROM chosen)
"""


FIRST_IMMEDIATE_AID = "min(granted_at) FILTER (WHERE phase = 'immediate')"
"""SQL, over a person's aid rows: when their first immediate aid was granted."""


def arrival_day_start(arrival_date: str) -> str:
    """SQL: the start (UTC) of the arrival day ``arrival_date``, where the time to immediate
    care counts from. Arrival is known to the day: as for reintegration's 72-hour flag, a grant
    on the third evening is never counted as on time by mistake. Never when intake recorded
    the person: a registration entered late would count hours before the person arrived."""
    return f"({arrival_date})::timestamp AT TIME ZONE 'UTC'"


def cared_within_72h(since: str, first_immediate: str) -> str:
    """SQL: whether the first immediate aid (``first_immediate``, NULL when there is none)
    came at most 72 hours after ``since``. Some immediate aid within 72 hours <=> the first
    immediate aid was. The KPIs and the expected-arrivals report both count from the start of
    the arrival day (``arrival_day_start``): one rule for both."""
    return f"coalesce(({first_immediate}) <= ({since}) + interval '72 hours', false)"


def hours_between(since: str, until: str) -> str:
    """SQL: the hours from ``since`` to ``until``, as a float (NULL when either is)."""
    return f"extract(epoch FROM ({until}) - ({since}))::float8 / 3600"


# The clock starts at the start of the arrival day (arrival_day_start).
KPIS = f"""
WITH arrivals AS MATERIALIZED (
    SELECT returnee_id, reception_centre, {arrival_day_start("arrival_date")} AS arrived_at
    FROM registrations_matching($3, $4, $5, $6, $7, $8, $9)
    WHERE ($1::date IS NULL OR arrival_date >= $1) AND ($2::date IS NULL OR arrival_date <= $2)
),
-- Every trace of a person (arrival, aid, activity) as one row, grouped once per person: a
-- plan of scans and one aggregation, whatever the planner believes the cohort's size to be.
traces AS (
    SELECT returnee_id, reception_centre, arrived_at,
           NULL::timestamptz AS granted_at, NULL::text AS phase, false AS participant
    FROM arrivals
    UNION ALL
    SELECT coalesce(m.counted_as, a.returnee_id), NULL, NULL, a.granted_at, a.phase, false
    FROM aid a LEFT JOIN merges m ON m.returnee_id = a.returnee_id
    UNION ALL
    SELECT coalesce(m.counted_as, p.returnee_id), NULL, NULL, NULL, NULL, true
    FROM activity_participants p LEFT JOIN merges m ON m.returnee_id = p.returnee_id
),
facts AS (
    SELECT max(reception_centre) AS reception_centre,
           count(granted_at) > 0 AS aided,
           {cared_within_72h("max(arrived_at)", FIRST_IMMEDIATE_AID)} AS immediate_72h,
           coalesce(bool_or(phase = 'reintegration'), false) AS reintegration,
           bool_or(participant) AS with_activity,
           {hours_between("max(arrived_at)", "min(granted_at)")} AS hours_to_first_aid
    FROM traces
    GROUP BY returnee_id
    HAVING count(arrived_at) > 0  -- people of the cohort only
)
SELECT GROUPING(reception_centre) = 1 AS overall,
       reception_centre,
       count(*) AS cohort,
       count(*) FILTER (WHERE aided) AS aided,
       count(*) FILTER (WHERE immediate_72h) AS immediate_within_72h,
       count(*) FILTER (WHERE reintegration) AS reintegration_aided,
       count(*) FILTER (WHERE with_activity) AS with_activity,
       count(*) FILTER (WHERE aided AND with_activity) AS aided_with_activity,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY hours_to_first_aid) AS median_hours
FROM facts
GROUP BY GROUPING SETS ((), (reception_centre))
"""  # noqa: S608 (constant fragments only; every value is a parameter)
