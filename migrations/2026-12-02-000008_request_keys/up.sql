-- Idempotency keys (AIP-155) of every mutation, not only creates. A key's row keeps the
-- first call's answer (the encoded response), sealed like other sensitive values — it
-- can hold an SSN for a caller with the PII scope, or a webhook signing secret — so a
-- retry after a lost reply gets exactly that answer back. The key is claimed (inserted
-- without an answer) first in the mutation's transaction and its answer written last,
-- so every committed row has an answer until it is erased.
--
-- producer_id names the producer an answer describes: deleting the producer erases the
-- answers about it (a replay then answers NOT_FOUND), so no copy of its data outlives it.
--
-- create_requests, the previous release's table of create keys, stays until the next
-- release: pods of the previous version keep writing it during a rolling upgrade, and a
-- retry that reaches a new pod must still find those keys.
CREATE TABLE request_keys (
    account_id          text        NOT NULL,
    request_id          text        NOT NULL,
    fingerprint         bytea       NOT NULL,
    response_ciphertext bytea,
    response_key_id     text,
    producer_id         uuid,
    created_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT request_keys_pkey PRIMARY KEY (account_id, request_id),
    CONSTRAINT request_keys_response_check
        CHECK ((response_ciphertext IS NULL) = (response_key_id IS NULL))
);
-- Erasing a deleted producer's answers.
CREATE INDEX request_keys_producer_idx ON request_keys (account_id, producer_id)
    WHERE producer_id IS NOT NULL;
-- The retention purge.
CREATE INDEX request_keys_created_at_idx ON request_keys (created_at);
CREATE INDEX create_requests_created_at_idx ON create_requests (created_at);
