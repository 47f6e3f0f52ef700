-- The version of each registration: 1 as registered, one more for each correction or transfer
-- (PATCH /returnees/{id}). Its ETag, and the order of its returnee.updated events. A constant
-- default: PostgreSQL adds the column without rewriting the table.
ALTER TABLE returnees ADD COLUMN version int NOT NULL DEFAULT 1;
