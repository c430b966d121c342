DROP TABLE create_requests;
DROP TABLE producers;
