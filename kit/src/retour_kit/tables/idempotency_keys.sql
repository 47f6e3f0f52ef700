-- Idempotency-Key of POST requests, stored with the request's effects (see
-- retour_kit.idempotency).
-- IF NOT EXISTS: a schema whose own migrations created this table before the kit owned it
-- adopts it as it is.
CREATE TABLE IF NOT EXISTS idempotency_keys (
    key         text        PRIMARY KEY,
    fingerprint text        NOT NULL,
    status      int,
    body        jsonb,
    created_at  timestamptz NOT NULL DEFAULT now()
);
