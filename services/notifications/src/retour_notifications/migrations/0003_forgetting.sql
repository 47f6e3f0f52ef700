-- Erasure and consent changes (docs/data-protection.md). Topics are read independently, so
-- returnee.erased or consent.changed can be read before the registration they concern (after
-- an outage, in a replay): what they decided is kept here and applied to whatever comes later.
-- Neither table holds personal data.
CREATE TABLE forgotten_returnees (
    returnee_id uuid        PRIMARY KEY,
    erased_at   timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);

-- The latest SMS consent change per returnee; a registration older than it follows it.
CREATE TABLE sms_consent_changes (
    returnee_id uuid        PRIMARY KEY,
    sms_contact boolean     NOT NULL,
    changed_at  timestamptz NOT NULL
);
