-- Device credentials of OpenRosa clients (ODK Collect, the browser form): a supervisor issues
-- one per device, for one registrar and some of the supervisor's centres. The password is kept
-- only as a salted scrypt hash; nothing here identifies a returnee.
CREATE TABLE openrosa_devices (
    username       text        PRIMARY KEY,
    password_hash  text        NOT NULL,  -- scrypt$n$r$p$salt$hash (base64)
    registrar      text        NOT NULL,  -- the registrar's token subject the device acts as
    centres        text[]      NOT NULL CHECK (cardinality(centres) > 0),
    label          text        NOT NULL,
    created_by     text        NOT NULL,
    created_at     timestamptz NOT NULL,
    revoked_at     timestamptz,
    revoked_by     text,
    CHECK ((revoked_at IS NULL) = (revoked_by IS NULL))
);
