-- Retention (retour_kit.retention) deletes the inbox rows older than INBOX_RETENTION_DAYS, a
-- small batch at a time, oldest first: this index finds them without reading the whole table.
CREATE INDEX IF NOT EXISTS inbox_by_age ON inbox (processed_at);
