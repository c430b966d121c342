-- Producers: individual agents and firms, one account (tenant) each.
--
-- Every row carries account_id and every key starts with it, so a query that forgets the
-- account cannot use an index and stands out in review. Individual and firm columns share
-- one table (producer_type says which block is filled): a producer changes as one row and
-- its version increases in one place.
CREATE TABLE producers (
    account_id       text        NOT NULL,
    id               uuid        NOT NULL,
    npn              text        NOT NULL,
    producer_type    text        NOT NULL,
    -- individual
    first_name       text,
    last_name        text,
    middle_name      text,
    suffix           text,
    gender           text,
    date_of_birth    date,
    -- SSN: AES-256-GCM ciphertext (nonce || ciphertext || tag) and the id of its key.
    ssn_ciphertext   bytea,
    ssn_key_id       text,
    -- HMAC-SHA256 of the normalised SSN under the blind-index key: equality search only.
    ssn_blind_index  bytea,
    ssn_last4        text,
    primary_email    text,
    secondary_email  text,
    title            text,
    -- firm
    firm_name        text,
    business_type    text,
    firm_email       text,
    fein             text,
    -- both
    finra_crd_number text,
    version          bigint      NOT NULL DEFAULT 1,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT producers_pkey PRIMARY KEY (account_id, id),
    CONSTRAINT producers_account_npn_key UNIQUE (account_id, npn),
    CONSTRAINT producers_type_check CHECK (producer_type IN ('INDIVIDUAL', 'FIRM')),
    CONSTRAINT producers_individual_check CHECK (
        producer_type <> 'INDIVIDUAL' OR (first_name IS NOT NULL AND last_name IS NOT NULL
            AND firm_name IS NULL AND business_type IS NULL AND firm_email IS NULL AND fein IS NULL)),
    CONSTRAINT producers_firm_check CHECK (
        producer_type <> 'FIRM' OR (firm_name IS NOT NULL
            AND first_name IS NULL AND last_name IS NULL AND ssn_ciphertext IS NULL AND ssn_last4 IS NULL)),
    CONSTRAINT producers_ssn_check CHECK (
        (ssn_ciphertext IS NULL) = (ssn_key_id IS NULL)
        AND (ssn_ciphertext IS NULL) = (ssn_blind_index IS NULL)
        AND (ssn_ciphertext IS NULL OR ssn_last4 IS NOT NULL)),
    CONSTRAINT producers_version_check CHECK (version >= 1)
);

CREATE INDEX producers_ssn_blind_index_idx ON producers (account_id, ssn_blind_index)
    WHERE ssn_blind_index IS NOT NULL;
CREATE INDEX producers_updated_at_idx ON producers (account_id, updated_at);

-- Idempotency keys of creates: the first create with a key records it in the same
-- transaction as the resource, so a retry finds either both or neither. The fingerprint
-- is a keyed hash of the request body (it may hold an SSN), used to refuse the same key
-- with a different body.
CREATE TABLE create_requests (
    account_id  text        NOT NULL,
    request_id  text        NOT NULL,
    fingerprint bytea       NOT NULL,
    resource_id uuid        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT create_requests_pkey PRIMARY KEY (account_id, request_id)
);
