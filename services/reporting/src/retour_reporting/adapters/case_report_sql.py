"""The SQL of the case reports (plans, referrals, follow-up visits, sustainability scores,
closures), with the conventions of ``report_sql``: $1 and $2 bound the period, $3 to $9 are
the returnee filters, NULL meaning "any", each report one fixed statement.

People. A case event is about a registration (a case is one registration's); it counts as the
person that registration counts as after the merges (``coalesce(m.counted_as, returnee_id)``),
and that person's registration, as corrected, gives the centre, return type, sex and the other
facts reports filter and disaggregate by. A case event whose person's registration has not
been read yet counts nowhere until it is (as in the KPI cohort): every figure can then be
broken down, and the centres add up to the whole.

Plans. Under a generic plan every "``$n IS NULL OR ...``" filter looks selective, and a join
against a filtered set may become a nested loop over all of it (report_sql says more). So
each report first gathers its facts in a ``MATERIALIZED`` CTE that takes no parameter, with
joins of whole tables the planner can estimate, and filters those facts afterwards without
joining anything to them, but to registrations by their primary key, where a nested loop is
one index lookup a row (tests/test_reporting_report_timing.py runs them under both modes).
"""

# The returnee filters of registrations_matching (migrations 0002, 0004), over the columns of a
# person's registration that _person selects.
_MATCHING = """
    ($3::text IS NULL OR reception_centre = $3)
    AND ($4::text IS NULL OR host_country = $4)
    AND ($5::text IS NULL OR return_type = $5)
    AND ($6::text IS NULL OR region_of_origin = $6)
    AND ($7::text IS NULL OR sex = $7)
    AND ($8::text IS NULL OR age_group = $8)
    AND ($9::text IS NULL OR $9 = ANY (vulnerabilities))
"""


def _person(alias: str) -> str:
    """The person a case row of ``alias`` counts as, and the facts of their registration
    (``_joins`` joins them)."""
    return f"""
    coalesce(m.counted_as, {alias}.returnee_id) AS person,
    r.reception_centre, r.host_country, r.return_type, r.region_of_origin, r.sex, r.age_group,
    r.vulnerabilities
    """


def _joins(alias: str) -> str:
    """The merges and the registration of the person a case row of ``alias`` counts as; an
    inner join: a row whose person's registration was not read yet counts nowhere."""
    return f"""
    LEFT JOIN merges m ON m.returnee_id = {alias}.returnee_id
    JOIN registrations r ON r.returnee_id = coalesce(m.counted_as, {alias}.returnee_id)
    """


def _on_days(column: str) -> str:
    """The date ``column`` within the period: $1 and $2 are its first and last days."""
    return f"($1::date IS NULL OR {column} >= $1) AND ($2::date IS NULL OR {column} <= $2)"


def _at_moments(column: str) -> str:
    """The moment ``column`` within the period: $1 is its start, $2 the end of its last day."""
    return (
        f"($1::timestamptz IS NULL OR {column} >= $1)"
        f" AND ($2::timestamptz IS NULL OR {column} < $2)"
    )


# The cohort of returnees who arrived in the period, as KPIS's, and the first plan of each
# (revision 1; of a person registered twice, the earlier of their cases'). $10: the aim in days.
PLANS = f"""
WITH first_plans AS (
    SELECT coalesce(m.counted_as, p.returnee_id) AS person, min(p.agreed_on) AS agreed_on
    FROM plans_agreed p LEFT JOIN merges m ON m.returnee_id = p.returnee_id
    WHERE p.revision = 1
    GROUP BY 1
),
facts AS MATERIALIZED (
    SELECT r.*, f.agreed_on - r.arrival_date AS days_to_plan
    FROM registrations_matching(NULL, NULL, NULL, NULL, NULL, NULL, NULL) r
    LEFT JOIN first_plans f ON f.person = r.returnee_id
),
cohort AS (
    SELECT * FROM facts WHERE {_on_days("arrival_date")} AND {_MATCHING}
)
SELECT GROUPING(reception_centre) = 1 AS overall,
       reception_centre,
       count(*) AS cohort,
       count(days_to_plan) AS with_plan,
       count(*) FILTER (WHERE days_to_plan <= $10) AS within_aim,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY days_to_plan::float8) AS median_days
FROM cohort
GROUP BY GROUPING SETS ((), (reception_centre))
"""  # noqa: S608 (constant fragments only; every value is a parameter)

# Referrals sent in the period, at their current status, by partner and status. A partner is
# named as on its most recently updated referral of all (a property of the partner, not of the
# referrals counted): found apart, over the few partners, not in every group.
REFERRALS = f"""
WITH facts AS MATERIALIZED (
    SELECT x.partner_id, x.status, x.sent_at, {_person("x")}
    FROM referrals x {_joins("x")}
),
counts AS (
    SELECT GROUPING(partner_id) = 1 AS all_partners,
           GROUPING(status) = 1 AS all_statuses,
           partner_id,
           status,
           count(*) AS referrals,
           count(DISTINCT person) AS people
    FROM facts
    WHERE {_at_moments("sent_at")} AND {_MATCHING}
    GROUP BY GROUPING SETS ((), (status), (partner_id), (partner_id, status))
),
names AS (
    SELECT DISTINCT ON (partner_id) partner_id, partner_name
    FROM referrals
    ORDER BY partner_id, status_at DESC, partner_name COLLATE "C" DESC
)
SELECT counts.*, names.partner_name
FROM counts LEFT JOIN names USING (partner_id)
"""  # noqa: S608 (constant fragments only; every value is a parameter)

# Visits due in the period as scheduled now, each with what its assessments say of it and
# whether its case is closed now (domain.case_results.VisitCounts). $10: the report's day.
FOLLOW_UPS = f"""
WITH attempts AS (
    SELECT follow_up_id,
           bool_or(outcome = 'completed') AS completed,
           bool_or(outcome = 'unreachable') AS unreachable
    FROM assessments
    WHERE follow_up_id IS NOT NULL
    GROUP BY follow_up_id
),
facts AS MATERIALIZED (
    SELECT x.period_months, x.due_on,
           coalesce(a.completed, false) AS completed,
           coalesce(a.unreachable AND NOT a.completed, false) AS unreachable,
           c.returnee_id IS NOT NULL AS case_closed,
           {_person("x")}
    FROM follow_ups x
    LEFT JOIN attempts a USING (follow_up_id)
    LEFT JOIN current_closures c ON c.returnee_id = x.returnee_id
    {_joins("x")}
),
visits AS (
    SELECT period_months, reception_centre, completed, unreachable,
           NOT completed AND NOT case_closed AND due_on < $10 AS overdue
    FROM facts
    WHERE {_on_days("due_on")} AND {_MATCHING}
      AND (completed OR unreachable OR NOT case_closed)
)
SELECT GROUPING(reception_centre) = 1 AS overall,
       period_months,
       reception_centre,
       count(*) AS scheduled,
       count(*) FILTER (WHERE completed) AS completed,
       count(*) FILTER (WHERE unreachable) AS unreachable,
       count(*) FILTER (WHERE overdue) AS overdue,
       count(*) FILTER (WHERE completed OR unreachable OR overdue) AS due
FROM visits
GROUP BY GROUPING SETS ((period_months), (period_months, reception_centre))
"""  # noqa: S608 (constant fragments only; every value is a parameter)

# Surveys completed in the period: the latest of each person per kind and visit period (chosen
# over narrow rows: the sort is the costly part), then the mean of each dimension per kind,
# period and method (never two methods together), overall and by centre, return type and sex.
# A person's facts are the same on all their surveys, so they filter after the choice.
SUSTAINABILITY = f"""
WITH surveys AS MATERIALIZED (
    SELECT coalesce(m.counted_as, x.returnee_id) AS person, x.kind, x.period_months, x.method,
           x.assessed_at, x.assessment_id, x.economic, x.social, x.psychosocial, x.composite
    FROM assessments x LEFT JOIN merges m ON m.returnee_id = x.returnee_id
    WHERE x.outcome = 'completed'
),
latest AS MATERIALIZED (
    SELECT DISTINCT ON (person, kind, period_months) *
    FROM surveys
    WHERE {_at_moments("assessed_at")}
    ORDER BY person, kind, period_months, assessed_at DESC, assessment_id DESC
),
facts AS (
    SELECT l.*, r.reception_centre, r.host_country, r.return_type, r.region_of_origin, r.sex,
           r.age_group, r.vulnerabilities
    FROM latest l JOIN registrations r ON r.returnee_id = l.person
)
SELECT kind, period_months, method,
       CASE WHEN GROUPING(reception_centre) = 0 THEN 'reception_centre'
            WHEN GROUPING(return_type) = 0 THEN 'return_type'
            WHEN GROUPING(sex) = 0 THEN 'sex'
            ELSE 'total' END AS breakdown,
       coalesce(reception_centre, return_type, sex, 'all') AS value,
       count(*) AS people,
       avg(economic) AS economic,
       avg(social) AS social,
       avg(psychosocial) AS psychosocial,
       avg(composite) AS composite
FROM facts
WHERE {_MATCHING}
GROUP BY kind, period_months, method, GROUPING SETS ((), (reception_centre), (return_type), (sex))
"""  # noqa: S608 (constant fragments only; every value is a parameter)

# Cases closed now whose latest closure is in the period, and the reopenings of the period.
CLOSURES = f"""
WITH facts AS MATERIALIZED (
    SELECT 'closure' AS event, x.reason, x.closed_at AS at, {_person("x")}
    FROM current_closures x {_joins("x")}
    UNION ALL
    SELECT 'reopening', x.reason, x.reopened_at, {_person("x")}
    FROM case_reopenings x {_joins("x")}
)
SELECT event, GROUPING(reason) = 1 AS all_reasons, reason, count(*) AS cases
FROM facts
WHERE {_at_moments("at")} AND {_MATCHING}
GROUP BY GROUPING SETS ((event), (event, reason))
"""  # noqa: S608 (constant fragments only; every value is a parameter)
