-- Upkeep prunes finished deliveries by age (LEDGER_RETENTION_DAYS): this index keeps each
-- batch a short index scan, also on a first pass over years of finished rows.
CREATE INDEX IF NOT EXISTS deliveries_finished ON deliveries (finished_at) WHERE status IN ('sent', 'failed');
