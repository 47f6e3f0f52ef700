-- Events waiting to be relayed to Kafka, written in the same transaction as the state change
-- that caused them (transactional outbox, see retour_kit.outbox). Key and value are stored as
-- the exact bytes that go on the wire, so a replayed row is byte-identical to the first try.
CREATE TABLE outbox (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,  -- publication order
    event_id   uuid        NOT NULL UNIQUE,                      -- CloudEvents ce_id
    topic      text        NOT NULL,
    key        bytea       NOT NULL,                             -- Kafka key: the returnee id
    value      bytea       NOT NULL,                             -- the event, JSON
    headers    jsonb       NOT NULL,                             -- [[name, value], ...]
    created_at timestamptz NOT NULL DEFAULT now()
);
