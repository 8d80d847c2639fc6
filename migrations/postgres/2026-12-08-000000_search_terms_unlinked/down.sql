-- The foreign key and its index back. Calls still queued in
-- call_search_pending (the store writes them at open) stay without terms.
DELETE FROM call_search s
    WHERE NOT EXISTS (SELECT 1 FROM calls c WHERE c.id = s.call_id AND c.pbx = s.pbx);
CREATE INDEX call_search_call ON call_search (call_id, pbx);
ALTER TABLE call_search ADD CONSTRAINT call_search_call_id_pbx_fkey
    FOREIGN KEY (call_id, pbx) REFERENCES calls (id, pbx) ON DELETE CASCADE;
DROP TABLE call_search_pending;
