-- Who read or changed which returnee's personal data (see retour_kit.access_log): no personal
-- data in it, only ids, the route's template and the names of the fields involved.
CREATE TABLE IF NOT EXISTS access_log (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    service     text        NOT NULL,
    actor       text        NOT NULL,   -- the token's subject: a staff account
    roles       text[]      NOT NULL,
    action      text        NOT NULL,   -- read, listed, created, changed, erased
    route       text        NOT NULL,   -- "GET /returnees/{returnee_id}", never a URL
    fields      text[]      NOT NULL,   -- personal.given_name, ...: names, never values
    returnee_id uuid        NOT NULL
);
CREATE INDEX IF NOT EXISTS access_log_by_returnee ON access_log (returnee_id, id);

-- Append-only for the service's own role, which owns the table (it ran this file): its
-- privileges to change or remove rows are revoked, and triggers refuse the change anyway,
-- so neither a bug nor an injected statement can rewrite who saw what. Removing them takes a
-- deliberate GRANT or DROP TRIGGER, which the services never issue.
REVOKE UPDATE, DELETE, TRUNCATE ON access_log FROM CURRENT_USER;

CREATE OR REPLACE FUNCTION access_log_is_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the access log is append-only' USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE OR REPLACE TRIGGER access_log_rows_stay
    BEFORE UPDATE OR DELETE ON access_log
    FOR EACH ROW EXECUTE FUNCTION access_log_is_append_only();
CREATE OR REPLACE TRIGGER access_log_table_stays
    BEFORE TRUNCATE ON access_log
    FOR EACH STATEMENT EXECUTE FUNCTION access_log_is_append_only();
