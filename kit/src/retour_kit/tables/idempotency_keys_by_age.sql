-- Retention (retour_kit.retention) deletes the stored responses older than
-- IDEMPOTENCY_RETENTION_DAYS, a small batch at a time, oldest first: this index finds them
-- without reading the whole table.
CREATE INDEX IF NOT EXISTS idempotency_keys_by_age ON idempotency_keys (created_at);
