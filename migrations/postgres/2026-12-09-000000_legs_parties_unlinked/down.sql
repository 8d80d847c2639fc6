-- The foreign keys back, after removing any row whose call is gone.
DELETE FROM call_legs l
    WHERE NOT EXISTS (SELECT 1 FROM calls c WHERE c.id = l.call_id AND c.pbx = l.pbx);
DELETE FROM call_parties p
    WHERE NOT EXISTS (SELECT 1 FROM calls c WHERE c.id = p.call_id AND c.pbx = p.pbx);
ALTER TABLE call_legs ADD CONSTRAINT call_legs_call_id_pbx_fkey
    FOREIGN KEY (call_id, pbx) REFERENCES calls (id, pbx) ON DELETE CASCADE;
ALTER TABLE call_parties ADD CONSTRAINT call_parties_call_id_pbx_fkey
    FOREIGN KEY (call_id, pbx) REFERENCES calls (id, pbx) ON DELETE CASCADE;
