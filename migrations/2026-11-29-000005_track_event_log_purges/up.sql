-- How far the retention purge has deleted the event log: a feed cursor below this
-- position may have missed purged events, and is refused instead of silently skipping.
CREATE TABLE event_log_state (
    singleton      boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    purged_through bigint  NOT NULL DEFAULT 0
);
INSERT INTO event_log_state DEFAULT VALUES;
