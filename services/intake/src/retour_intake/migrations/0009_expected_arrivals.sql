-- Expected arrivals (issue 16): the people a manifest announces before a wave lands, until they
-- register ("arrived"), or are closed ("closed": lapsed, or withdrawn by a supervisor).
CREATE TABLE expected_waves (
    wave_id          uuid        PRIMARY KEY,
    wave_name        text        NOT NULL,
    reception_centre text        NOT NULL,
    expected_date    date        NOT NULL,
    host_country     text,
    size             int         NOT NULL CHECK (size > 0),
    announced_at     timestamptz NOT NULL,
    announced_by     text        NOT NULL
);
CREATE INDEX expected_waves_centre ON expected_waves (reception_centre, announced_at);

-- One row per person on a manifest. `personal` is the ExpectedPersonal block as the sender gave
-- it; the key columns are what matching (domain/duplicates.py: match_strength) compares, kept
-- like returnees' so that matching a registration is indexed. Arriving, closing or erasing
-- removes both.
CREATE TABLE expected_people (
    expected_id      uuid        PRIMARY KEY,
    wave_id          uuid        NOT NULL REFERENCES expected_waves,
    reception_centre text        NOT NULL,
    expected_date    date        NOT NULL,
    lapse_from       date        NOT NULL,  -- later of expected_date and the day received
    announced_at     timestamptz NOT NULL,
    status           text        NOT NULL DEFAULT 'open'
                                 CHECK (status IN ('open', 'arrived', 'closed')),
    sex              text,
    age_years        int,
    vulnerabilities  text[]      NOT NULL DEFAULT '{}',
    personal         jsonb,
    name_key         text,
    family_key       text,
    birth_date       date,
    birth_year       int,
    phone            text,
    national_id_key  text,
    returnee_id      uuid        REFERENCES returnees,
    arrived_at       timestamptz,
    closed_at        timestamptz,
    closure_reason   text        CHECK (closure_reason IN ('lapsed', 'withdrawn')),
    closed_by        text,
    withdrawal_reason text,
    erased_at        timestamptz,
    CHECK ((status = 'arrived') = (returnee_id IS NOT NULL AND arrived_at IS NOT NULL)),
    CHECK ((status = 'closed') = (closed_at IS NOT NULL AND closure_reason IS NOT NULL)),
    -- Only an open row keeps what the manifest said: once the person registered, their
    -- registration holds their data; once closed, nobody needs it.
    CONSTRAINT forgotten_rows_keep_nothing_personal CHECK (
        (status = 'open' AND erased_at IS NULL)
        OR (personal IS NULL AND name_key IS NULL AND family_key IS NULL AND birth_date IS NULL
            AND birth_year IS NULL AND phone IS NULL AND national_id_key IS NULL)
    )
);
CREATE INDEX expected_people_wave ON expected_people (wave_id);
CREATE INDEX expected_people_listing ON expected_people (reception_centre, expected_date, expected_id);
CREATE INDEX expected_people_returnee ON expected_people (returnee_id) WHERE returnee_id IS NOT NULL;
-- Matching looks at open people only, each condition on its own index.
CREATE INDEX expected_open_name ON expected_people (name_key, birth_year) WHERE status = 'open';
CREATE INDEX expected_open_phone ON expected_people (phone) WHERE status = 'open';
CREATE INDEX expected_open_family_birth ON expected_people (family_key, birth_date)
    WHERE status = 'open';
CREATE INDEX expected_open_national_id ON expected_people (national_id_key) WHERE status = 'open';
-- The closing worker's scan.
CREATE INDEX expected_open_lapse ON expected_people (lapse_from) WHERE status = 'open';

-- Each expected person's own data key (never a returnee's: data_keys references returnees),
-- wrapped by the master key exactly like data_keys (adapters/data_keys.py). It seals the
-- personal block of returnee.expected; deleting the row at closing or erasure makes every
-- sealed copy unreadable.
CREATE TABLE expected_data_keys (
    expected_id   uuid        PRIMARY KEY REFERENCES expected_people,
    master_key_id text        NOT NULL,
    wrapped_key   bytea       NOT NULL CHECK (octet_length(wrapped_key) = 60),
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX expected_data_keys_by_master_key ON expected_data_keys (master_key_id);
