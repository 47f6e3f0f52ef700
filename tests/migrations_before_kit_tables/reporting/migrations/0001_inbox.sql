-- Events already handled, per consumer: inserted in the same transaction as the
-- handler's effects, so a redelivered event hits the primary key and is skipped.
CREATE TABLE inbox (
    consumer     text        NOT NULL,
    event_id     uuid        NOT NULL,                   -- CloudEvents ce_id
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
