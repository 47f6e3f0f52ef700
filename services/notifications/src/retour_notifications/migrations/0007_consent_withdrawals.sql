-- A phone is kept only if no SMS consent withdrawal came after it was set: intake deletes the
-- number at a withdrawal, and giving consent back brings none. Topics are read in any order,
-- so the latest change alone (sms_consent_changes) cannot tell: a withdrawal followed by a
-- give-back, both read before the update or the registration that set the phone, would let
-- that phone in. Hence the time of the latest withdrawal, even one a give-back followed, and
-- the time each phone was set.
ALTER TABLE sms_consent_changes ADD COLUMN last_withdrawn_at timestamptz;
-- Earlier withdrawals that a give-back already replaced were not kept and stay unknown.
UPDATE sms_consent_changes SET last_withdrawn_at = changed_at WHERE NOT sms_contact;

-- When the phone of phone_version was set (the correction's updated_at, kept when the phone is
-- dropped); NULL: by the registration, at registered_at (every row so far: corrections are new
-- with this release, so no table is rewritten).
ALTER TABLE contacts ADD COLUMN phone_set_at timestamptz;

-- The same for a corrected phone waiting for its registration; NULL with a version: not known
-- (taken as older than any withdrawal).
ALTER TABLE pending_corrections ADD COLUMN phone_set_at timestamptz;
