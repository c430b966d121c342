-- The producer's child collections. Each row carries its producer's account and id; the
-- foreign key on both keeps a child from ever pointing at another account's producer and
-- deletes the children with their producer, in the same transaction.
--
-- Writes to any child lock the producer row first (and bump its version), so the
-- "at most one preferred/primary" rules below are kept by the service without races; the
-- partial unique indexes are the database's own guarantee on top.

CREATE TABLE addresses (
    account_id    text        NOT NULL,
    producer_id   uuid        NOT NULL,
    id            uuid        NOT NULL,
    address_type  text        NOT NULL CHECK (address_type IN ('MAILING', 'BUSINESS', 'RESIDENCE', 'BILLING')),
    preferred     boolean     NOT NULL DEFAULT false,
    address_line1 text        NOT NULL,
    address_line2 text,
    city          text        NOT NULL,
    state         text,
    zip           text,
    country       text        NOT NULL CHECK (country ~ '^[A-Z]{2}$'),
    county        text,
    move_in_date  date,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT addresses_pkey PRIMARY KEY (account_id, producer_id, id),
    CONSTRAINT addresses_producer_fkey FOREIGN KEY (account_id, producer_id)
        REFERENCES producers (account_id, id) ON DELETE CASCADE,
    CONSTRAINT addresses_us_check CHECK (country <> 'US' OR (state IS NOT NULL AND zip IS NOT NULL))
);
CREATE UNIQUE INDEX addresses_one_preferred_per_type ON addresses (account_id, producer_id, address_type)
    WHERE preferred;
-- "Producers with an address in state X".
CREATE INDEX addresses_state_idx ON addresses (account_id, state, producer_id);

CREATE TABLE phones (
    account_id  text        NOT NULL,
    producer_id uuid        NOT NULL,
    id          uuid        NOT NULL,
    phone_type  text        NOT NULL CHECK (phone_type IN ('CELL', 'BUSINESS', 'HOME', 'FAX')),
    number      text        NOT NULL CHECK (number ~ '^\+[1-9][0-9]{7,14}$'),
    extension   text        CHECK (extension ~ '^[0-9]{1,6}$'),
    preferred   boolean     NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT phones_pkey PRIMARY KEY (account_id, producer_id, id),
    CONSTRAINT phones_producer_fkey FOREIGN KEY (account_id, producer_id)
        REFERENCES producers (account_id, id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX phones_one_preferred ON phones (account_id, producer_id) WHERE preferred;

CREATE TABLE bank_accounts (
    account_id        text        NOT NULL,
    producer_id       uuid        NOT NULL,
    id                uuid        NOT NULL,
    bank_name         text        NOT NULL,
    holder_name       text        NOT NULL,
    routing_number    text        NOT NULL CHECK (routing_number ~ '^[0-9]{9}$'),
    -- The account number: AES-256-GCM ciphertext (nonce || ciphertext || tag), its key id,
    -- and the last four digits, the only part ever shown.
    number_ciphertext bytea       NOT NULL,
    number_key_id     text        NOT NULL,
    number_last4      text        NOT NULL CHECK (number_last4 ~ '^[0-9]{4}$'),
    account_type      text        NOT NULL CHECK (account_type IN ('CHECKING', 'SAVINGS')),
    nickname          text,
    primary_account   boolean     NOT NULL DEFAULT false,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT bank_accounts_pkey PRIMARY KEY (account_id, producer_id, id),
    CONSTRAINT bank_accounts_producer_fkey FOREIGN KEY (account_id, producer_id)
        REFERENCES producers (account_id, id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX bank_accounts_one_primary ON bank_accounts (account_id, producer_id)
    WHERE primary_account;

CREATE TABLE insurance_policies (
    account_id         text          NOT NULL,
    producer_id        uuid          NOT NULL,
    id                 uuid          NOT NULL,
    carrier            text          NOT NULL,
    policy_number      text          NOT NULL,
    certificate_number text,
    policy_type        text          NOT NULL CHECK (policy_type IN ('INDIVIDUAL', 'FIRM')),
    -- Exact dollars and cents, never a float.
    total_limit        numeric(10,2) CHECK (total_limit BETWEEN 1 AND 10000000),
    -- Coverage is active on day D when effective_date <= D < expiry_date.
    effective_date     date          NOT NULL,
    expiry_date        date          NOT NULL,
    created_at         timestamptz   NOT NULL DEFAULT now(),
    updated_at         timestamptz   NOT NULL DEFAULT now(),
    CONSTRAINT insurance_policies_pkey PRIMARY KEY (account_id, producer_id, id),
    CONSTRAINT insurance_policies_producer_fkey FOREIGN KEY (account_id, producer_id)
        REFERENCES producers (account_id, id) ON DELETE CASCADE,
    CONSTRAINT insurance_policies_period_check CHECK (expiry_date > effective_date)
);
-- "Is this producer covered on D?" and "which producers are covered on D?": both are
-- range scans on expiry_date (> D) that check effective_date (<= D) from the index.
CREATE INDEX insurance_policies_producer_coverage_idx
    ON insurance_policies (account_id, producer_id, expiry_date, effective_date);
CREATE INDEX insurance_policies_coverage_idx
    ON insurance_policies (account_id, expiry_date, effective_date, producer_id);
