-- The foreign key and its index back. Calls still queued in
-- call_search_pending (the store writes them at open) stay without terms.
CREATE TABLE call_search_linked (
    term TEXT NOT NULL,
    started_at TIMESTAMP NOT NULL,
    call_id TEXT NOT NULL,
    pbx TEXT NOT NULL,
    PRIMARY KEY (term, started_at, call_id, pbx),
    FOREIGN KEY (call_id, pbx) REFERENCES calls (id, pbx) ON DELETE CASCADE
) WITHOUT ROWID;
INSERT INTO call_search_linked (term, started_at, call_id, pbx)
    SELECT s.term, s.started_at, s.call_id, s.pbx FROM call_search s
    WHERE EXISTS (SELECT 1 FROM calls c WHERE c.id = s.call_id AND c.pbx = s.pbx);
DROP TABLE call_search;
ALTER TABLE call_search_linked RENAME TO call_search;
CREATE INDEX call_search_call ON call_search (call_id, pbx);
DROP TABLE call_search_pending;
