-- call_search without its foreign key to calls and without its (call_id, pbx)
-- index (issue 19). Each term row cost three B-tree writes or seeks (the key,
-- the index, the parent check) where one does; ~22 rows per finished call made
-- them most of the store writer's time. The writer now deletes a call's terms
-- itself, by their key, recomputed from the stored numbers and names, wherever
-- a finished call is replaced or pruned (src/store/call_terms.rs).
--
-- That recomputation must give exactly the stored terms. It does for every row
-- the writer wrote, and for the rows the history_filters backfill wrote from
-- printable ASCII; a backfilled text with anything else (SQL's lower() follows
-- the database's locale, trim() cuts only spaces) may differ. Those calls'
-- terms are dropped here and queued in call_search_pending, which the store
-- writes again with the writer's terms right after migrating.
CREATE TABLE call_search_pending (
    call_id TEXT NOT NULL,
    pbx TEXT NOT NULL,
    PRIMARY KEY (call_id, pbx)
);
INSERT INTO call_search_pending (call_id, pbx)
    SELECT id, pbx FROM calls
    WHERE caller_number ~ '[^ -~]' OR callee_number ~ '[^ -~]'
       OR caller_name ~ '[^ -~]' OR callee_name ~ '[^ -~]';
DELETE FROM call_search s USING call_search_pending p
    WHERE s.call_id = p.call_id AND s.pbx = p.pbx;

ALTER TABLE call_search DROP CONSTRAINT call_search_call_id_pbx_fkey;
DROP INDEX call_search_call;
