DROP INDEX request_keys_created_at_idx;
-- Keys of updates and deletes, and creates recorded since, name no resource.
DELETE FROM request_keys WHERE resource_id IS NULL;
ALTER TABLE request_keys DROP CONSTRAINT request_keys_response_check;
ALTER TABLE request_keys DROP COLUMN response_key_id;
ALTER TABLE request_keys DROP COLUMN response_ciphertext;
ALTER TABLE request_keys ALTER COLUMN resource_id SET NOT NULL;
ALTER TABLE request_keys RENAME CONSTRAINT request_keys_pkey TO create_requests_pkey;
ALTER TABLE request_keys RENAME TO create_requests;
