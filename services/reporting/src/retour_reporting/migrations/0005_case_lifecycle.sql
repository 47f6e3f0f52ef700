-- The life of a reintegration case after it opened (reintegration's case events): closures and
-- reopenings, agreed plans, referrals, scheduled monitoring visits and sustainability scores.
-- A case is a registration's, so it is named by returnee_id. No personal data: ids, codes,
-- dates and scores; the staff who closed, agreed, referred or assessed are not kept, nor the
-- plan items (retour_reporting.domain.case_lifecycle).
-- The six topics are read in any order with each other and with the registrations, so each row
-- is a fact of its own, with no foreign key, and reports settle them when they are read (the
-- current state of a case from its latest closure or reopening, a visit's outcome from its
-- assessments). Facts are written with ON CONFLICT DO NOTHING; a referral and a visit are kept
-- at their newest status and schedule, replaced only by a newer one (below), so every order of
-- the same events, a redelivery or a rebuild, ends in the same rows.

CREATE TABLE case_closures (
    returnee_id uuid        NOT NULL,
    closed_at   timestamptz NOT NULL,
    reason      text        NOT NULL,
    PRIMARY KEY (returnee_id, closed_at)
);

CREATE TABLE case_reopenings (
    returnee_id uuid        NOT NULL,
    reopened_at timestamptz NOT NULL,
    reason      text        NOT NULL,
    PRIMARY KEY (returnee_id, reopened_at)
);

-- Each agreed revision; revision 1 is the first plan, agreed_on the day the returnee agreed.
CREATE TABLE plans_agreed (
    returnee_id uuid    NOT NULL,
    revision    integer NOT NULL,
    agreed_on   date    NOT NULL,
    PRIMARY KEY (returnee_id, revision)
);

-- A referral at its newest status: the later status_at, then the status further along a
-- referral's life (referral_progress, the same order as domain.case_lifecycle.REFERRAL_PROGRESS).
CREATE TABLE referrals (
    referral_id  uuid        PRIMARY KEY,
    returnee_id  uuid        NOT NULL,
    partner_id   uuid        NOT NULL,
    partner_name text        NOT NULL,
    dimension    text        NOT NULL,
    status       text        NOT NULL,
    sent_at      timestamptz NOT NULL,
    status_at    timestamptz NOT NULL
);

CREATE FUNCTION referral_progress(status text) RETURNS integer
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE $1 WHEN 'sent' THEN 0 WHEN 'accepted' THEN 1 WHEN 'declined' THEN 2
                   WHEN 'completed' THEN 3 END
$$;

-- A visit at its newest schedule: scheduled_at is when reintegration published it (ce_time);
-- of two published at one moment, the greater (due_on, reception_centre) is kept.
CREATE TABLE follow_ups (
    follow_up_id     uuid        PRIMARY KEY,
    returnee_id      uuid        NOT NULL,
    reception_centre text        NOT NULL,
    period_months    integer     NOT NULL,
    due_on           date        NOT NULL,
    scheduled_at     timestamptz NOT NULL
);

-- Each Reintegration Sustainability Survey taken (baseline, or at a visit: follow_up_id) or
-- visit where the returnee could not be reached (no scores). Scores 0..1 by the named method;
-- scores of two methods are never averaged together.
CREATE TABLE assessments (
    assessment_id uuid             PRIMARY KEY,
    returnee_id   uuid             NOT NULL,
    kind          text             NOT NULL,
    follow_up_id  uuid,
    period_months integer,
    outcome       text             NOT NULL,
    method        text             NOT NULL,
    economic      double precision,
    social        double precision,
    psychosocial  double precision,
    composite     double precision,
    assessed_at   timestamptz      NOT NULL
);

-- The cases closed now, with their latest closure: a case is closed when the latest of its
-- closures and reopenings is a closure (a reopening at the very moment of a closure wins). The
-- two topics may be read in any order: this is settled whenever it is read.
CREATE VIEW current_closures AS
SELECT returnee_id, at AS closed_at, reason
FROM (
    SELECT DISTINCT ON (returnee_id) returnee_id, at, reason, closing
    FROM (
        SELECT returnee_id, closed_at AS at, reason, true AS closing FROM case_closures
        UNION ALL
        SELECT returnee_id, reopened_at, reason, false FROM case_reopenings
    ) AS lifecycle
    ORDER BY returnee_id, at DESC, closing
) AS latest
WHERE closing;
