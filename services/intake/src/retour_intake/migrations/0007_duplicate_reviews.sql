-- The duplicate review queue (issue 14): every pair of registrations that duplicate detection
-- matched and a person let through, until a supervisor decides whether they are one person.
-- Ids, codes and staff subjects only: the people's data stays in `returnees`.
CREATE TABLE duplicate_reviews (
    review_id      uuid        PRIMARY KEY,
    returnee_id    uuid        NOT NULL REFERENCES returnees,  -- the later registration
    candidate_id   uuid        NOT NULL REFERENCES returnees,  -- the earlier one it matched
    strength       text        NOT NULL CHECK (strength IN ('weak', 'strong')),
    status         text        NOT NULL DEFAULT 'open'
                               CHECK (status IN ('open', 'not_duplicate', 'same_person')),
    created_at     timestamptz NOT NULL,
    decided_at     timestamptz,
    decided_by     text,
    reason         text,       -- a code (OverrideReason), never free text
    UNIQUE (returnee_id, candidate_id),
    CHECK ((status = 'open') = (decided_at IS NULL))
);
CREATE INDEX duplicate_reviews_open ON duplicate_reviews (created_at, review_id)
    WHERE status = 'open';
CREATE INDEX duplicate_reviews_candidate ON duplicate_reviews (candidate_id);

-- A registration found to be someone registered earlier points to them, for good.
ALTER TABLE returnees
    ADD COLUMN merged_into uuid REFERENCES returnees,
    ADD COLUMN merged_at   timestamptz,
    ADD CONSTRAINT merged_together CHECK ((merged_into IS NULL) = (merged_at IS NULL)),
    ADD CONSTRAINT not_merged_into_itself CHECK (merged_into <> returnee_id);
