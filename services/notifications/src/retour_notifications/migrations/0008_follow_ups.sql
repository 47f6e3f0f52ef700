-- Monitoring visits (follow_up.scheduled, reintegration.assessed) and what notifications knows
-- of their case (case.assigned, case.closed, case.reopened): to remind the returnee before each
-- visit and to tell the case worker when one is overdue (domain/follow_ups.py). Topics are read
-- independently, so each is kept as it comes and a visit's state is worked out from all of them.
-- Identifiers, codes and dates only: no personal data (a case worker's token subject is staff's,
-- not the returnee's). Kept for good, like merged_returnees, so that a scheduling read again
-- later (a replay) finds its visit already reminded; an erasure deletes the person's rows.

-- One row per case (a case is one registration's: its returnee_id).
CREATE TABLE follow_up_cases (
    returnee_id uuid        PRIMARY KEY,
    assigned_to text,                   -- the case worker of the latest case.assigned
    assigned_at timestamptz,
    closed_at   timestamptz,            -- when reintegration published the latest case.closed
    reopened_at timestamptz,            -- ... and the latest case.reopened
    recorded_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT assigned_with_its_time CHECK ((assigned_to IS NULL) = (assigned_at IS NULL))
);

-- One row per visit (follow_up_id), its latest scheduling, and what was queued for it.
CREATE TABLE follow_ups (
    follow_up_id       uuid        PRIMARY KEY,
    returnee_id        uuid        NOT NULL,
    -- The latest scheduling; all null while only the visit's recording was read.
    reception_centre   text,
    period_months      smallint,
    due_on             date,
    scheduled_at       timestamptz,   -- when reintegration published it
    scheduled_event_id uuid,
    visited_at         timestamptz,   -- recorded (reintegration.assessed): nothing more is sent
    -- Scheduled, not recorded, on an open case, scheduled after its latest closure: worked out
    -- by the consumer whenever one of the five events changes it, so the worker finds the
    -- visits to act on through the indexes below.
    live               boolean     NOT NULL DEFAULT false,
    reminder_id        uuid,          -- the reminder SMS queued (deliveries.notification_id)
    overdue_id         uuid,          -- the overdue email queued
    recorded_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT scheduled_as_a_whole CHECK (
        (due_on IS NULL) = (scheduled_at IS NULL)
        AND (due_on IS NULL) = (reception_centre IS NULL)
        AND (due_on IS NULL) = (period_months IS NULL)
        AND (due_on IS NULL) = (scheduled_event_id IS NULL)
    ),
    CONSTRAINT live_only_when_scheduled_and_not_visited CHECK (
        NOT live OR (due_on IS NOT NULL AND visited_at IS NULL)
    )
);
CREATE INDEX follow_ups_by_returnee ON follow_ups (returnee_id);
CREATE INDEX follow_ups_to_remind ON follow_ups (due_on) WHERE live AND reminder_id IS NULL;
CREATE INDEX follow_ups_to_chase ON follow_ups (due_on) WHERE live AND overdue_id IS NULL;
