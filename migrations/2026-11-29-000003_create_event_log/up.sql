-- The event log: the transactional outbox and the feed in one table. Every write appends
-- its events in its own transaction; the relay publishes unpublished rows to Kafka and
-- stamps published_at; ListEvents reads the log by position. Published rows are kept for
-- the configured retention, then deleted by the relay.
--
-- position is taken, together with an advisory lock held until commit, at the very end of
-- each write transaction: positions are therefore in commit order, and a reader that has
-- seen position N has seen everything before it (the feed never skips a late commit).
CREATE TABLE events (
    position     bigserial   PRIMARY KEY,
    id           uuid        NOT NULL,
    account_id   text        NOT NULL,
    producer_id  uuid        NOT NULL,
    sequence     bigint      NOT NULL,
    event_type   text        NOT NULL,
    resource_id  uuid        NOT NULL,
    occurred_at  timestamptz NOT NULL,
    -- The encoded producerprofile.events.v1.Event: the Kafka record value, as is.
    payload      bytea       NOT NULL,
    -- W3C trace context of the request that caused the event, for the Kafka headers.
    traceparent  text,
    published_at timestamptz,
    CONSTRAINT events_id_key UNIQUE (id),
    -- Sequences are contiguous per producer: a second event with the same one is a bug.
    CONSTRAINT events_producer_sequence_key UNIQUE (account_id, producer_id, sequence)
);

-- The relay's queue: small, because published rows leave it.
CREATE INDEX events_unpublished_idx ON events (position) WHERE published_at IS NULL;
-- The feed: an account's events after a position.
CREATE INDEX events_feed_idx ON events (account_id, position);
-- Retention: published rows older than the retention period.
CREATE INDEX events_published_at_idx ON events (published_at) WHERE published_at IS NOT NULL;
