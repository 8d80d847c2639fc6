DROP TABLE call_search;
DROP INDEX calls_direction_started_at_id;
DROP INDEX calls_outcome_started_at_id;
DROP INDEX calls_queue_started_at_id;
