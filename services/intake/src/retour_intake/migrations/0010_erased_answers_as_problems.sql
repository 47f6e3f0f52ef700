-- The answers stored in place of an erased person's registration (or correction) become
-- RFC 9457 problem details, as every error now is: the members they lacked are added, the
-- rest (error, detail, returnee_id) kept. A replay answers them as application/problem+json.
UPDATE idempotency_keys
SET body = jsonb_build_object(
        'type', '/problems/erased', 'title', 'Erased', 'status', 410) || body
WHERE status = 410 AND body ->> 'error' = 'erased' AND NOT body ? 'type';
