-- The delivery ledger: one row per (event, recipient, channel). The consumer inserts rows in the
-- transaction that records the event in the inbox; senders claim due rows and record the outcome.
-- notification_id is uuid5(event id, recipient, channel), so a redelivered or replayed event
-- finds its rows already there and nothing is sent twice.
CREATE TABLE deliveries (
    notification_id uuid        PRIMARY KEY,
    event_id        uuid        NOT NULL,
    event_type      text        NOT NULL,
    rule            text        NOT NULL,
    channel         text        NOT NULL,
    recipient       text        NOT NULL,   -- returnee:<id> or centre_team:<centre>, never an address
    returnee_id     uuid        NOT NULL,   -- whose case the notification is about
    template        text        NOT NULL,
    language        text,
    status          text        NOT NULL
        CHECK (status IN ('held', 'queued', 'sending', 'sent', 'failed')),
    -- Personal data, kept only while the message still has to go out.
    address         text,                   -- phone number (E.164) or email address
    subject         text,
    body            text,
    context         jsonb,                  -- template variables of a held row
    segments        smallint,
    encoding        text,
    attempts        integer     NOT NULL DEFAULT 0,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    sending_since   timestamptz,
    sent_at         timestamptz,
    finished_at     timestamptz,
    -- Once a row is sent or failed, its address and text are gone: the database refuses to
    -- keep them rather than trusting every code path to remember.
    CONSTRAINT finished_rows_hold_no_personal_data CHECK (
        status NOT IN ('sent', 'failed')
        OR (address IS NULL AND subject IS NULL AND body IS NULL AND context IS NULL)
    ),
    CONSTRAINT queued_rows_are_complete CHECK (
        status NOT IN ('queued', 'sending') OR (address IS NOT NULL AND body IS NOT NULL)
    )
);

-- Senders look for due rows of their channel; finished rows (the vast majority) stay out.
CREATE INDEX deliveries_due ON deliveries (channel, next_attempt_at) WHERE status = 'queued';
CREATE INDEX deliveries_in_flight ON deliveries (sending_since) WHERE status = 'sending';
CREATE INDEX deliveries_held ON deliveries (returnee_id) WHERE status = 'held';
CREATE INDEX deliveries_by_returnee ON deliveries (returnee_id, created_at);

-- How to reach a returnee on later events (aid.granted, activity.launched carry no contact).
-- The phone number is personal data: present only with SMS consent, and purged after the
-- retention period (CONTACT_RETENTION_DAYS).
CREATE TABLE contacts (
    returnee_id      uuid        PRIMARY KEY,
    reception_centre text        NOT NULL,
    language         text        NOT NULL,
    sms_consent      boolean     NOT NULL,
    phone            text,
    registered_at    timestamptz NOT NULL,
    recorded_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT phone_needs_consent CHECK (phone IS NULL OR sms_consent)
);
CREATE INDEX contacts_by_age ON contacts (registered_at);
