-- Case work (issue 15): who works on a case, what was assessed, the monitoring visits, and the
-- reopening of closed cases. Codes, numbers, dates and staff ids only: no free text about a
-- returnee (it would be personal data outside the fields kept as such).

-- The case worker who has the case (a token subject; NULL: nobody yet), and the
-- vulnerabilities screened at registration (NULL: the case opened before they were kept).
-- Nullable, so adding them rewrites nothing and a pod of the previous release still opens cases
-- during a rolling deploy.
ALTER TABLE cases
    ADD COLUMN assigned_to                text,
    ADD COLUMN registered_vulnerabilities text[];
-- GET /cases?assigned_to=..., and the workload per case worker.
CREATE INDEX cases_by_assignee ON cases (assigned_to, registered_at, returnee_id)
    WHERE assigned_to IS NOT NULL;

-- The roster: case workers as their own requests show them (domain/staff.py). A case is
-- assigned only to a case worker listed here with the case's centre.
CREATE TABLE case_workers (
    subject   text        PRIMARY KEY,
    centres   text[]      NOT NULL,
    last_seen timestamptz NOT NULL
);

-- Every assignment of a case, oldest first (case.assigned); cases.assigned_to is the latest.
CREATE TABLE case_assignments (
    assignment_id    bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    returnee_id      uuid        NOT NULL REFERENCES cases,
    reception_centre text        NOT NULL,  -- the case's centre when it was assigned
    assigned_to      text        NOT NULL,
    previous         text,
    assigned_by      text        NOT NULL,
    assigned_at      timestamptz NOT NULL,
    CHECK (previous IS DISTINCT FROM assigned_to)
);
CREATE INDEX case_assignments_by_case ON case_assignments (returnee_id, assignment_id);

-- Each reopening, with the closure it undid (cases' closure columns then hold the next one).
CREATE TABLE case_reopenings (
    returnee_id    uuid        NOT NULL REFERENCES cases,
    reopened_at    timestamptz NOT NULL,
    reopened_by    text        NOT NULL,
    reason         text        NOT NULL,
    closure_reason text        NOT NULL,
    closed_at      timestamptz NOT NULL,
    closed_by      text        NOT NULL,
    PRIMARY KEY (returnee_id, reopened_at)
);

-- Assessments (domain/assessments.py): the typed document as recorded, and for the
-- sustainability baseline its answers (question code -> answer code) and scores.
CREATE TABLE assessments (
    assessment_id uuid         PRIMARY KEY,
    returnee_id   uuid         NOT NULL REFERENCES cases,
    kind          text         NOT NULL
        CHECK (kind IN ('vulnerability_family', 'skills', 'sustainability_baseline')),
    assessed_on   date         NOT NULL,
    document      jsonb        NOT NULL,
    economic      numeric(5,4),
    social        numeric(5,4),
    psychosocial  numeric(5,4),
    composite     numeric(5,4),
    method        text,
    recorded_at   timestamptz  NOT NULL,
    recorded_by   text         NOT NULL,
    CHECK ((kind = 'sustainability_baseline') = (composite IS NOT NULL AND method IS NOT NULL))
);
CREATE INDEX assessments_by_case ON assessments (returnee_id, recorded_at);

-- Vulnerabilities found after registration, by the assessment that found each first.
CREATE TABLE case_vulnerabilities (
    returnee_id   uuid        NOT NULL REFERENCES cases,
    vulnerability text        NOT NULL,
    assessment_id uuid        NOT NULL REFERENCES assessments,
    found_on      date        NOT NULL,
    found_by      text        NOT NULL,
    PRIMARY KEY (returnee_id, vulnerability)
);

-- Monitoring visits (domain/follow_up.py): follow_up_id is uuid5 of the returnee and the
-- period, so a registration read again schedules nothing new. completed_on: the day of the
-- visit that took the survey (final); NULL while it is due, even after an unreachable attempt.
CREATE TABLE follow_ups (
    follow_up_id  uuid PRIMARY KEY,
    returnee_id   uuid NOT NULL REFERENCES cases,
    period_months int  NOT NULL CHECK (period_months BETWEEN 1 AND 60),
    due_on        date NOT NULL,
    completed_on  date,
    UNIQUE (returnee_id, period_months)
);
-- The due list: visits not completed, by due date.
CREATE INDEX follow_ups_due ON follow_ups (due_on, follow_up_id) WHERE completed_on IS NULL;

-- Each visit made: the survey's answers and scores when completed, nothing when unreachable.
CREATE TABLE follow_up_visits (
    assessment_id uuid         PRIMARY KEY,
    follow_up_id  uuid         NOT NULL REFERENCES follow_ups,
    returnee_id   uuid         NOT NULL REFERENCES cases,
    outcome       text         NOT NULL CHECK (outcome IN ('completed', 'unreachable')),
    visited_on    date         NOT NULL,
    answers       jsonb,
    economic      numeric(5,4),
    social        numeric(5,4),
    psychosocial  numeric(5,4),
    composite     numeric(5,4),
    method        text         NOT NULL,
    recorded_at   timestamptz  NOT NULL,
    recorded_by   text         NOT NULL,
    CHECK ((outcome = 'completed') = (answers IS NOT NULL AND composite IS NOT NULL))
);
CREATE INDEX follow_up_visits_by_visit ON follow_up_visits (follow_up_id, recorded_at);
-- A completed visit is final: a second one cannot be stored, whatever races.
CREATE UNIQUE INDEX follow_up_visits_one_completed ON follow_up_visits (follow_up_id)
    WHERE outcome = 'completed';
