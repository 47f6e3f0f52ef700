-- Each returnee's data key, wrapped by a master key that never reaches the database
-- (retour_intake.adapters.data_keys). The key seals the personal block of returnee.registered
-- v2 on Kafka; deleting the row at erasure makes every sealed copy unreadable.
CREATE TABLE data_keys (
    returnee_id   uuid        PRIMARY KEY REFERENCES returnees (returnee_id),
    master_key_id text        NOT NULL,
    -- nonce (12) || the 32-byte key encrypted (32) || GCM tag (16)
    wrapped_key   bytea       NOT NULL CHECK (octet_length(wrapped_key) = 60),
    created_at    timestamptz NOT NULL DEFAULT now()
);
-- Rotation finds the keys still wrapped by an older master key.
CREATE INDEX data_keys_by_master_key ON data_keys (master_key_id);
