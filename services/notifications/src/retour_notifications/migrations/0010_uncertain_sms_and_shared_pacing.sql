-- An SMS whose outcome is unknown (the gateway took the request, then no answer came) is never
-- sent again by itself. It waits as `uncertain` for Kannel's delivery report, which settles it
-- as sent or failed; without a report within SMS_DELIVERY_REPORT_WAIT_SECONDS it becomes
-- `ambiguous`, a final status for an operator to look at.
ALTER TABLE deliveries DROP CONSTRAINT deliveries_status_check;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_status_check CHECK (
    status IN ('held', 'queued', 'sending', 'uncertain', 'sent', 'failed', 'ambiguous')
);

-- Neither waits to be sent again, so neither keeps the address or the text.
ALTER TABLE deliveries DROP CONSTRAINT finished_rows_hold_no_personal_data;
ALTER TABLE deliveries ADD CONSTRAINT finished_rows_hold_no_personal_data CHECK (
    status NOT IN ('sent', 'failed', 'uncertain', 'ambiguous')
    OR (address IS NULL AND subject IS NULL AND body IS NULL AND context IS NULL)
);

-- The latest delivery report Kannel gave for the message (delivered, undelivered,
-- smsc_accepted, smsc_rejected, queued_at_smsc), kept on any row: a report can come before the
-- sender has recorded its own outcome, which then reads it.
ALTER TABLE deliveries ADD COLUMN delivery_report text;
ALTER TABLE deliveries ADD COLUMN reported_at timestamptz;
ALTER TABLE deliveries ADD COLUMN uncertain_since timestamptz;

CREATE INDEX deliveries_uncertain ON deliveries (uncertain_since) WHERE status = 'uncertain';

-- Ambiguous rows are finished too, and pruned with the others after LEDGER_RETENTION_DAYS.
CREATE INDEX deliveries_finished_rows ON deliveries (finished_at)
    WHERE status IN ('sent', 'failed', 'ambiguous');
DROP INDEX deliveries_finished;

-- The send rate shared by every replica (SMS_MAX_PER_SECOND): one row per channel holding the
-- earliest time the next message may go. A sender reserves its slot in the transaction that
-- claims its message, under this row's lock, so replicas together keep the pace.
CREATE TABLE send_pacing (
    channel   text        PRIMARY KEY,
    next_slot timestamptz NOT NULL DEFAULT '-infinity'
);
