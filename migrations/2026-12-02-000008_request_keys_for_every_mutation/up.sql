-- Idempotency keys (AIP-155) for every mutation, not only creates. A key's row now keeps
-- the first call's answer (the encoded response), sealed like other sensitive values —
-- it holds an SSN for a caller with the PII scope, or a webhook signing secret — so a
-- retry after a lost reply gets exactly that answer back. resource_id is no longer
-- written (rows from before keep it); keys are forgotten after their retention.
ALTER TABLE create_requests RENAME TO request_keys;
ALTER TABLE request_keys RENAME CONSTRAINT create_requests_pkey TO request_keys_pkey;
ALTER TABLE request_keys ALTER COLUMN resource_id DROP NOT NULL;
ALTER TABLE request_keys ADD COLUMN response_ciphertext bytea;
ALTER TABLE request_keys ADD COLUMN response_key_id text;
ALTER TABLE request_keys ADD CONSTRAINT request_keys_response_check
    CHECK ((response_ciphertext IS NULL) = (response_key_id IS NULL));
-- The retention purge.
CREATE INDEX request_keys_created_at_idx ON request_keys (created_at);
