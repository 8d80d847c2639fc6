-- No change feed on SQLite: one instance owns a SQLite file, so there is no other
-- instance to feed. This no-op keeps the two migration lists parallel.
SELECT 1;
