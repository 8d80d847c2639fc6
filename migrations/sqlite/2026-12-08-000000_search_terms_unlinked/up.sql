-- call_search without its foreign key to calls and without its (call_id, pbx)
-- index (issue 19). Each term row cost three B-tree writes or seeks (the key,
-- the index, the parent check) where one does; ~22 rows per finished call made
-- them most of the store writer's time. The writer now deletes a call's terms
-- itself, by their key, recomputed from the stored numbers and names, wherever
-- a finished call is replaced or pruned (src/store/call_terms.rs).
--
-- That recomputation must give exactly the stored terms. It does for every row
-- the writer wrote, and for the rows the history_filters backfill wrote from
-- printable ASCII; a backfilled text with anything else (SQL's lower() and
-- trim() fold and cut less than the writer's) may differ. Those calls' terms
-- are dropped here and queued in call_search_pending, which the store writes
-- again with the writer's terms right after migrating.
CREATE TABLE call_search_pending (
    call_id TEXT NOT NULL,
    pbx TEXT NOT NULL,
    PRIMARY KEY (call_id, pbx)
) WITHOUT ROWID;
INSERT INTO call_search_pending (call_id, pbx)
    SELECT id, pbx FROM calls
    WHERE caller_number GLOB '*[^ -~]*' OR callee_number GLOB '*[^ -~]*'
       OR caller_name GLOB '*[^ -~]*' OR callee_name GLOB '*[^ -~]*';

-- SQLite cannot drop a foreign key: the table is built again.
CREATE TABLE call_search_unlinked (
    term TEXT NOT NULL,
    started_at TIMESTAMP NOT NULL,
    call_id TEXT NOT NULL,
    pbx TEXT NOT NULL,
    PRIMARY KEY (term, started_at, call_id, pbx)
) WITHOUT ROWID;
INSERT INTO call_search_unlinked (term, started_at, call_id, pbx)
    SELECT s.term, s.started_at, s.call_id, s.pbx FROM call_search s
    WHERE NOT EXISTS (
        SELECT 1 FROM call_search_pending p WHERE p.call_id = s.call_id AND p.pbx = s.pbx
    );
DROP TABLE call_search;
ALTER TABLE call_search_unlinked RENAME TO call_search;
