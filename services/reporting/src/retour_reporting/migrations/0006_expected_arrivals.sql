-- Expected arrivals (intake's returnee.expected and expected_arrival.closed) and the registration
-- that confirmed each (returnee.registered's expected_id). No personal data: the sealed personal
-- block of returnee.expected is never opened (reporting has no data key), and what is kept of an
-- expected person is what a report disaggregates by, age only as an age group, like a
-- registration's. Who announced, closed or withdrew is not kept either.
-- The three topics are read in any order (a registration before the expectation it confirmed, a
-- closure before its announcement), so each row is a fact of its own, with no foreign key, and
-- the report settles an expectation's status when it is read (retour_reporting.adapters.
-- expected_report_sql): arrived when a registration names it, else closed when a closure does,
-- else awaited.

-- The expected arrival a registration confirmed. NULL on the rows written before this
-- migration until the next rebuild refills them; no expectation existed before, so no report
-- loses an arrival meanwhile. The time to immediate care counts from the registration's
-- arrival day, which the row already has, never from when intake recorded it.
ALTER TABLE registrations ADD COLUMN expected_id uuid;

-- One row per person announced: the first event of an expected_id wins (an announcement read
-- again is the same one).
CREATE TABLE expected_arrivals (
    expected_id      uuid        PRIMARY KEY,
    wave_id          uuid        NOT NULL,
    wave_name        text        NOT NULL,
    wave_size        integer     NOT NULL,
    reception_centre text        NOT NULL,
    expected_date    date        NOT NULL,
    host_country     text,
    announced_at     timestamptz NOT NULL,
    sex              text,
    age_group        text,
    vulnerabilities  text[]      NOT NULL
);

-- One closure per expectation. Intake closes an open expectation once; were two closures ever
-- read, the later (closed_at, then reason bytewise) is kept whatever order they come in
-- (retour_reporting.domain.expectations.closure_version).
CREATE TABLE expectation_closures (
    expected_id      uuid        PRIMARY KEY,
    wave_id          uuid        NOT NULL,
    reception_centre text        NOT NULL,
    reason           text        NOT NULL CHECK (reason IN ('lapsed', 'withdrawn')),
    closed_at        timestamptz NOT NULL
);
