DROP TABLE webhook_intake_offsets;
