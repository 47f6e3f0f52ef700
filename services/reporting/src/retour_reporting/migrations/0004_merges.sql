-- Merges (returnee.merged): registration returnee_id is the same person as merged_into, and the
-- person is counted once, as counted_as: the end of the chain of merges (X into B, then B into
-- A: X counts as A). Nothing else is rewritten: registration, aid and participant rows keep the
-- registration they were recorded under, and reports count each row as
-- coalesce(counted_as, returnee_id) when they read it, so a merge read before or after the rows
-- it concerns, or before either registration, ends in the same figures. One row per merged
-- registration: the latest decision is kept (merged_at, then the greater merged_into), whatever
-- order merges are read in. counted_as is derived from all the rows, and settled again by every
-- merge batch under the exclusive registration lock (usecases/projecting.py).
-- No personal data: two registration ids and a moment; who decided is not kept.
CREATE TABLE merges (
    returnee_id uuid        PRIMARY KEY,
    merged_into uuid        NOT NULL CHECK (merged_into <> returnee_id),
    merged_at   timestamptz NOT NULL,
    counted_as  uuid        NOT NULL
);

-- Every report's people come from here: a merged registration is no person of its own any
-- more, its person is counted with the registration it counts as. (A registration counts as
-- itself only as the smallest of a cycle of merges, which intake never makes: then it stays.)
CREATE OR REPLACE FUNCTION registrations_matching(
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
      AND NOT EXISTS (
          SELECT 1 FROM merges m
          WHERE m.returnee_id = r.returnee_id AND m.counted_as <> r.returnee_id
      )
$$;
