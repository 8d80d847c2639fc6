ALTER TABLE calls DROP COLUMN queue_abandoned;
ALTER TABLE calls DROP COLUMN queue_wait_secs;
