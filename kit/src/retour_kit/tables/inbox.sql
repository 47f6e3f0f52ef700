-- Events already handled, per consumer: inserted in the same transaction as the
-- handler's effects, so a redelivered event hits the primary key and is skipped
-- (see retour_kit.consuming.inbox).
-- IF NOT EXISTS: a schema whose own migrations created this table before the kit owned it
-- adopts it as it is.
CREATE TABLE IF NOT EXISTS inbox (
    consumer     text        NOT NULL,
    event_id     uuid        NOT NULL,                   -- CloudEvents ce_id
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
