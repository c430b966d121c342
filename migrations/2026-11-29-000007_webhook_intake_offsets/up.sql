-- How far the webhook intake has read the events topic, per partition. Written in the
-- transaction that records an event's deliveries, so a dispatcher that restarts (or
-- takes over from one that died) resumes exactly after the last recorded event, without
-- a broker consumer group.
CREATE TABLE webhook_intake_offsets (
    topic       text        NOT NULL,
    partition   integer     NOT NULL,
    -- The offset of the next event to read.
    next_offset bigint      NOT NULL,
    -- The id (ce_id) of the event just before it: finding another event at that offset
    -- means the topic was replaced (recreated, or the broker lost its log).
    last_event_id uuid,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, partition)
);
