-- Each claim gets a token of its own: an attempt's outcome is recorded only while the
-- claim it came from still holds the delivery (not after its lease ran out and another
-- dispatcher took over, nor after a redelivery or a disable changed the delivery).
ALTER TABLE webhook_deliveries ADD COLUMN lease_token uuid;

-- A 429 or 503 with Retry-After pauses the whole endpoint (not one delivery) until then.
ALTER TABLE webhook_endpoints ADD COLUMN paused_until timestamptz;

-- Due work is claimed per endpoint (each endpoint up to its in-flight room).
DROP INDEX webhook_deliveries_due_idx;
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (endpoint_id, next_attempt_at)
    WHERE status = 'pending';

-- The retention purge of finished deliveries (their attempts go with them).
CREATE INDEX webhook_deliveries_finished_idx ON webhook_deliveries (updated_at)
    WHERE status <> 'pending';
