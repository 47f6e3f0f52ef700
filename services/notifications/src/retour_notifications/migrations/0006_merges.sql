-- Merges (returnee.merged): registration returnee_id is the same person as the earlier
-- registration merged_into, through which alone the person is contacted from then on. Kept for
-- good, and read before every batch: topics are read independently, so a merge can come before
-- either registration, before the aid and activities of the merged one, or again (a replay).
-- Per registration, the latest decision (merged_at) is kept. Identifiers only: no personal data.
-- (A greeting waiting for a duplicate review needs no column: deliveries.next_attempt_at is
-- already the time before which a queued row is not sent.)
CREATE TABLE merged_returnees (
    returnee_id uuid        PRIMARY KEY,
    merged_into uuid        NOT NULL,
    merged_at   timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT not_merged_into_itself CHECK (returnee_id <> merged_into)
);
