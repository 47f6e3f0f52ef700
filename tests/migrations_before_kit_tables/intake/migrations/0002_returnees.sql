-- Registered returnees. `record` is the returnee.registered event exactly as published; the
-- other columns are what duplicate detection and listings search on.
CREATE TABLE returnees (
    returnee_id      uuid        PRIMARY KEY,
    reception_centre text        NOT NULL,
    arrival_date     date        NOT NULL,
    registered_at    timestamptz NOT NULL,
    name_key         text        NOT NULL,  -- normalised full name, word order ignored
    family_key       text        NOT NULL,  -- normalised family name
    birth_date       date,
    birth_year       int         NOT NULL,  -- from the date of birth or the age estimate
    phone            text,
    record           jsonb       NOT NULL
);
CREATE INDEX returnees_name_key ON returnees (name_key);
CREATE INDEX returnees_phone ON returnees (phone) WHERE phone IS NOT NULL;
CREATE INDEX returnees_family_birth ON returnees (family_key, birth_date);
CREATE INDEX returnees_arrival ON returnees (arrival_date, returnee_id);
CREATE INDEX returnees_centre_arrival ON returnees (reception_centre, arrival_date, returnee_id);

-- Idempotency-Key of POST requests (see retour_kit.idempotency).
CREATE TABLE idempotency_keys (
    key         text        PRIMARY KEY,
    fingerprint text        NOT NULL,
    status      int,
    body        jsonb,
    created_at  timestamptz NOT NULL DEFAULT now()
);
