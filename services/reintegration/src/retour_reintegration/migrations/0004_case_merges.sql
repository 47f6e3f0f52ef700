-- Duplicate registrations merged into the person's (returnee.merged). One row per merged
-- registration: merged_into is the registration the person is counted as now (the end of any
-- chain: when B is merged into A, what was merged into B is moved to A), merged_at and
-- merged_by the first decision about it (when its case closed as a duplicate, and who decided).
-- Kept whether or not either case is open yet (no foreign key): a merge read before a
-- registration waits here, and the duplicate's case opens closed.
-- Aid and activities are not rewritten: they stay as granted (as their events said), and a
-- case counts those of its own registration and of the registrations merged into it.
CREATE TABLE case_merges (
    returnee_id uuid        PRIMARY KEY,
    merged_into uuid        NOT NULL CHECK (merged_into <> returnee_id),
    merged_at   timestamptz NOT NULL,
    merged_by   text        NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
-- A case's members: the registrations merged into it.
CREATE INDEX case_merges_by_person ON case_merges (merged_into);
