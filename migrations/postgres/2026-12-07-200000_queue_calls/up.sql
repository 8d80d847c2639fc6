-- Queue calls carry their wait and whether the caller gave up (issue 20).
ALTER TABLE calls ADD COLUMN queue_wait_secs BIGINT;
ALTER TABLE calls ADD COLUMN queue_abandoned BOOLEAN NOT NULL DEFAULT FALSE;
