-- Corrections and transfers (returnee.updated). A case's facts are the registration's with its
-- corrections applied in version order, so the registration's own values are kept once they
-- differ from the current ones: an older correction read after a newer one, or a correction
-- read before the registration, then ends in the same facts.
-- NULL until the case's facts are first corrected (the current facts are the registered ones
-- until then): adding the columns rewrites nothing, and a pod of the previous release, which
-- does not know them, still opens cases during a rolling deploy.
ALTER TABLE cases
    ADD COLUMN registered_centre           text,
    ADD COLUMN registered_region_of_origin text,
    ADD COLUMN registered_arrival_date     date,
    ADD CONSTRAINT cases_registered_facts_together CHECK (
        (registered_centre IS NULL) = (registered_region_of_origin IS NULL)
        AND (registered_centre IS NULL) = (registered_arrival_date IS NULL));

-- Every correction of a fact a case keeps, one row per returnee and version. Kept whether or
-- not the case is open yet (no foreign key): a correction read before its registration waits
-- here and is applied when the case opens. The rows with a reception_centre are the transfers.
-- No personal data: the sealed personal block of returnee.updated is never opened here.
CREATE TABLE case_corrections (
    returnee_id      uuid        NOT NULL,
    version          int         NOT NULL CHECK (version >= 2),
    corrected_at     timestamptz NOT NULL,
    corrected_by     text        NOT NULL,
    reason           text        NOT NULL,
    reception_centre text,
    region_of_origin text,
    arrival_date     date,
    recorded_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (returnee_id, version),
    CHECK (reception_centre IS NOT NULL OR region_of_origin IS NOT NULL
           OR arrival_date IS NOT NULL)
);
