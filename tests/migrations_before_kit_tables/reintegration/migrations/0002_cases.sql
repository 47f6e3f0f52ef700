-- One reintegration case per returnee, opened from returnee.registered. Only what case work
-- needs: no names, phone numbers, dates of birth or national ids (intake keeps those).
CREATE TABLE cases (
    returnee_id      uuid        PRIMARY KEY,
    reception_centre text        NOT NULL,
    region_of_origin text        NOT NULL,
    arrival_date     date        NOT NULL,
    registered_at    timestamptz NOT NULL,
    status           text        NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    opened_at        timestamptz NOT NULL DEFAULT now(),
    closed_at        timestamptz,
    closure_reason   text,
    closed_by        text,
    CHECK ((status = 'closed') = (closed_at IS NOT NULL AND closure_reason IS NOT NULL))
);
-- Listing is keyset-paginated on (registered_at, returnee_id), optionally by status and centre.
CREATE INDEX cases_by_registration ON cases (registered_at, returnee_id);
CREATE INDEX cases_by_status_centre ON cases (status, reception_centre, registered_at, returnee_id);

-- Aid as granted (the content of aid.granted), plus whether a supervisor exceeded the budget.
CREATE TABLE aid (
    aid_id          uuid          PRIMARY KEY,
    returnee_id     uuid          NOT NULL REFERENCES cases,
    granted_at      timestamptz   NOT NULL,
    phase           text          NOT NULL,
    category        text          NOT NULL,
    dimension       text          NOT NULL,
    level           text          NOT NULL,
    modality        text          NOT NULL,
    partner         text,
    amount          numeric(18,2) CHECK (amount > 0),
    currency        text,
    granted_by      text          NOT NULL,
    late            boolean       NOT NULL,
    exceeded_budget boolean       NOT NULL,
    recorded_at     timestamptz   NOT NULL DEFAULT now(),
    CHECK ((amount IS NULL) = (currency IS NULL))
);
CREATE INDEX aid_by_returnee ON aid (returnee_id, granted_at);

-- Income-generating activities (the content of activity.launched).
CREATE TABLE activities (
    activity_id      uuid          PRIMARY KEY,
    launched_at      timestamptz   NOT NULL,
    sector           text          NOT NULL,
    region           text          NOT NULL,
    commune          text,
    funding_amount   numeric(18,2) CHECK (funding_amount > 0),
    funding_currency text,
    level            text          NOT NULL,
    launched_by      text          NOT NULL,
    recorded_at      timestamptz   NOT NULL DEFAULT now(),
    CHECK ((funding_amount IS NULL) = (funding_currency IS NULL))
);
CREATE TABLE activity_participants (
    activity_id    uuid          NOT NULL REFERENCES activities,
    returnee_id    uuid          NOT NULL REFERENCES cases,
    position       int           NOT NULL,  -- order in returnee_ids; 0 is the lead (Kafka key)
    share_amount   numeric(18,2) CHECK (share_amount > 0),
    share_currency text,
    PRIMARY KEY (activity_id, returnee_id),
    CHECK ((share_amount IS NULL) = (share_currency IS NULL))
);
CREATE INDEX activity_participants_by_returnee ON activity_participants (returnee_id);
CREATE TABLE activity_aid (
    activity_id uuid NOT NULL REFERENCES activities,
    aid_id      uuid NOT NULL REFERENCES aid,
    position    int  NOT NULL,
    PRIMARY KEY (activity_id, aid_id)
);

-- Idempotency-Key of POST requests (retour_kit.idempotency), stored with the effects.
CREATE TABLE idempotency_keys (
    key         text PRIMARY KEY,
    fingerprint text NOT NULL,
    status      int,
    body        jsonb,
    created_at  timestamptz NOT NULL DEFAULT now()
);
