-- Corrections (returnee.updated). Each contact field notifications uses records the version of
-- the registration that set it (the registration is version 1, each change adds one), so a
-- correction applies only over an older one: redeliveries and updates read out of order end
-- in the same contact.
ALTER TABLE contacts
    ADD COLUMN language_version integer NOT NULL DEFAULT 1,
    ADD COLUMN centre_version   integer NOT NULL DEFAULT 1,
    ADD COLUMN phone_version    integer NOT NULL DEFAULT 1;

-- Corrections read before the registration they concern (topics are read independently),
-- kept until it arrives and then moved into contacts (the row is deleted). The phone is
-- personal data (docs/data-protection.md): kept only while SMS consent is not known to be
-- withdrawn, deleted by an erasure, and purged with contacts' phones after
-- CONTACT_RETENTION_DAYS. A null field is a field not corrected; a null phone with a version
-- is a phone removed.
CREATE TABLE pending_corrections (
    returnee_id      uuid        PRIMARY KEY,
    language         text,
    language_version integer,
    reception_centre text,
    centre_version   integer,
    phone            text,
    phone_version    integer,
    recorded_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT versioned_language CHECK ((language IS NULL) = (language_version IS NULL)),
    CONSTRAINT versioned_centre CHECK ((reception_centre IS NULL) = (centre_version IS NULL)),
    CONSTRAINT versioned_phone CHECK (phone IS NULL OR phone_version IS NOT NULL)
);
CREATE INDEX pending_corrections_by_age ON pending_corrections (recorded_at);
