-- Webhook endpoints, one delivery per (event, endpoint), and every HTTP attempt.

CREATE TABLE webhook_endpoints (
    account_id                text        NOT NULL,
    id                        uuid        NOT NULL,
    url                       text        NOT NULL,
    description               text,
    -- Webhook type names, or the group 'id.producer'.
    event_types               text[]      NOT NULL,
    enabled                   boolean     NOT NULL DEFAULT true,
    disabled_reason           text,
    rate_limit_per_second     integer     CHECK (rate_limit_per_second > 0),
    -- The signing secret, sealed like other secrets (AES-256-GCM, key id beside it).
    secret_ciphertext         bytea       NOT NULL,
    secret_key_id             text        NOT NULL,
    -- The secret before the last rotation: it keeps signing until it expires.
    previous_secret_ciphertext bytea,
    previous_secret_key_id    text,
    previous_secret_expires_at timestamptz,
    -- When the current run of failed attempts began (NULL after a success): an endpoint
    -- failing for too long is disabled.
    failing_since             timestamptz,
    created_at                timestamptz NOT NULL DEFAULT now(),
    updated_at                timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT webhook_endpoints_pkey PRIMARY KEY (account_id, id),
    CONSTRAINT webhook_endpoints_id_key UNIQUE (id)
);

CREATE TABLE webhook_deliveries (
    id              uuid        PRIMARY KEY,
    account_id      text        NOT NULL,
    endpoint_id     uuid        NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id        uuid        NOT NULL,
    producer_id     uuid        NOT NULL,
    sequence        bigint      NOT NULL,
    webhook_type    text        NOT NULL,
    -- The exact JSON body sent on every attempt.
    body            text        NOT NULL,
    traceparent     text,
    status          text        NOT NULL DEFAULT 'pending'
                                CHECK (status IN ('pending', 'succeeded', 'failed')),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    -- A dispatcher working on the delivery holds it until then (lost on a crash: the
    -- next dispatcher takes over when it passes).
    leased_until    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    -- Re-reading the topic records nothing twice.
    CONSTRAINT webhook_deliveries_event_endpoint_key UNIQUE (endpoint_id, event_id)
);
-- Due work.
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at)
    WHERE status = 'pending';
-- Per-producer order: is an earlier event of this producer still pending here?
CREATE INDEX webhook_deliveries_order_idx ON webhook_deliveries (endpoint_id, producer_id, sequence)
    WHERE status = 'pending';
-- ListDeliveries.
CREATE INDEX webhook_deliveries_endpoint_idx ON webhook_deliveries (endpoint_id, id);

CREATE TABLE webhook_attempts (
    id            uuid        PRIMARY KEY,
    delivery_id   uuid        NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    endpoint_id   uuid        NOT NULL,
    attempted_at  timestamptz NOT NULL,
    status_code   integer,
    latency_ms    bigint      NOT NULL,
    error         text,
    -- The first 4 KiB of the response body.
    response_body text        NOT NULL DEFAULT ''
);
CREATE INDEX webhook_attempts_delivery_idx ON webhook_attempts (delivery_id, id);
CREATE INDEX webhook_attempts_endpoint_idx ON webhook_attempts (endpoint_id, id);
