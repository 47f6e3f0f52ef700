-- Waves announced by a manifest (returnee.expected): the centre team is emailed one summary per
-- wave once every person of it was read (domain/waves.py). Codes and counts only: the sealed
-- personal block of returnee.expected is never opened, and nothing here identifies anyone.

-- One row per wave, as its first event read gave it. Locked (FOR UPDATE) by every consumer
-- batch that reads one of its people, so of two batches completing the wave at once the second
-- sees the first's people and its mark: the summary is decided exactly once. Kept for good,
-- small, so that a person of a wave already summarised, read again (a redelivery, a manifest
-- sent again, a replay), is only recorded.
CREATE TABLE expected_waves (
    wave_id          uuid        PRIMARY KEY,
    wave_name        text        NOT NULL,
    wave_size        integer     NOT NULL CHECK (wave_size > 0),
    reception_centre text        NOT NULL,
    expected_date    date        NOT NULL,
    host_country     text,
    -- How the summary was decided, once: queued (ledger rows: the centre team, and any
    -- WAVE_SUMMARY_EMAILS), stale (completed by events older than MAX_EVENT_AGE_HOURS) or incomplete (people still missing MAX_EVENT_AGE_HOURS after the
    -- wave was first read: given up by the upkeep). NULL: people still missing.
    summary          text
        CHECK (summary IN ('queued', 'stale', 'incomplete')),
    summarised_at    timestamptz,
    recorded_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT summarised_with_its_time CHECK ((summary IS NULL) = (summarised_at IS NULL))
);
-- The upkeep looks for waves left incomplete; summarised ones (nearly all) stay out.
CREATE INDEX expected_waves_incomplete ON expected_waves (recorded_at) WHERE summary IS NULL;

-- The people read of a wave not summarised yet, one row per expected_id (a redelivery is not
-- counted twice); deleted once the summary is decided, or the wave given up.
CREATE TABLE expected_people (
    expected_id     uuid        PRIMARY KEY,
    wave_id         uuid        NOT NULL REFERENCES expected_waves ON DELETE CASCADE,
    sex             text,
    age_years       smallint,
    vulnerabilities text[]      NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX expected_people_by_wave ON expected_people (wave_id);

COMMENT ON COLUMN deliveries.returnee_id IS
    'The returnee the notification is about; for a wave summary (rule wave_summary_email,'
    ' event returnee.expected), which is about nobody in particular, the wave id.';
