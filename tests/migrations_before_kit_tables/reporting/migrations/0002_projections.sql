-- Projections of returnee.registered, aid.granted and activity.launched.
-- No column holds personal data: no names, date of birth, phone or national id, and age only
-- as an age group (tests/test_reporting_privacy.py checks the catalogue against the contract).
-- Rows are keyed by the business id of their event and written with ON CONFLICT DO NOTHING,
-- so an event applied twice changes nothing. There are no foreign keys on purpose: topics are
-- consumed independently, so aid may arrive before its registration; reports join at read time.
-- Only primary keys: every report scans and hash-joins whole tables, and a replay writes
-- every row again, so secondary indexes would cost more than they save.

CREATE TABLE registrations (
    returnee_id      uuid    PRIMARY KEY,
    arrival_date     date    NOT NULL,
    reception_centre text    NOT NULL,
    return_type      text    NOT NULL,
    host_country     text    NOT NULL,
    region_of_origin text    NOT NULL,
    sex              text    NOT NULL,
    age_group        text    NOT NULL,
    vulnerabilities  text[]  NOT NULL
);

CREATE TABLE aid (
    aid_id      uuid        PRIMARY KEY,
    returnee_id uuid        NOT NULL,
    granted_at  timestamptz NOT NULL,
    phase       text        NOT NULL,
    category    text        NOT NULL,
    dimension   text        NOT NULL,
    level       text        NOT NULL,
    modality    text        NOT NULL,
    amount      numeric,
    currency    text
);

CREATE TABLE activities (
    activity_id      uuid        PRIMARY KEY,
    launched_at      timestamptz NOT NULL,
    sector           text        NOT NULL,
    level            text        NOT NULL,
    funding_amount   numeric,
    funding_currency text
);

CREATE TABLE activity_participants (
    activity_id uuid NOT NULL,
    returnee_id uuid NOT NULL,
    PRIMARY KEY (activity_id, returnee_id)
);

-- The returnee filters every report shares, kept in one place; NULL means "any". Positional
-- parameters, because a parameter named like a column would lose to the column. A plain SQL
-- function, so the planner inlines it into each report's query.
CREATE FUNCTION registrations_matching(
    reception_centre text, host_country text, return_type text, region_of_origin text,
    sex text, age_group text, vulnerability text
) RETURNS SETOF registrations
LANGUAGE sql STABLE AS $$
    SELECT r.* FROM registrations r
    WHERE ($1 IS NULL OR r.reception_centre = $1)
      AND ($2 IS NULL OR r.host_country = $2)
      AND ($3 IS NULL OR r.return_type = $3)
      AND ($4 IS NULL OR r.region_of_origin = $4)
      AND ($5 IS NULL OR r.sex = $5)
      AND ($6 IS NULL OR r.age_group = $6)
      AND ($7 IS NULL OR $7 = ANY (r.vulnerabilities))
$$;
