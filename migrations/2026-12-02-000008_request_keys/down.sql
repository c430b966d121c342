DROP INDEX create_requests_created_at_idx;
DROP TABLE request_keys;
