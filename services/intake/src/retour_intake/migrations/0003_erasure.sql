-- Erasure (docs/data-protection.md). An erased returnee keeps a tombstone: the row with the
-- non-personal facts statistics need (centre, dates, the event without its personal block),
-- and none of the keys duplicate detection could match a person by.
ALTER TABLE returnees
    ADD COLUMN erased_at      timestamptz,
    ADD COLUMN erasure_reason text,
    ALTER COLUMN name_key   DROP NOT NULL,
    ALTER COLUMN family_key DROP NOT NULL,
    ALTER COLUMN birth_year DROP NOT NULL,
    ADD CONSTRAINT erased_rows_keep_nothing_personal CHECK (
        erased_at IS NULL
        OR (name_key IS NULL AND family_key IS NULL AND birth_date IS NULL
            AND birth_year IS NULL AND phone IS NULL AND NOT record ? 'personal')
    ),
    ADD CONSTRAINT live_rows_keep_their_keys CHECK (
        erased_at IS NOT NULL OR (name_key IS NOT NULL AND family_key IS NOT NULL
                                  AND birth_year IS NOT NULL)
    );
