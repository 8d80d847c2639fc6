-- call_legs and call_parties without their foreign keys to calls (PostgreSQL).
--
-- PostgreSQL checks such a key with a plan it keeps for the session, made when
-- the writer first inserts a leg. On a table it has not analysed yet (a new
-- database, or every database right after a migration adds an index) it picked
-- calls_pbx_started_at_id for `pbx = $2 AND id = $1` and scanned every call of
-- the PBX for each leg and party written (docs/PERFORMANCE.md, "Store"). The
-- store deletes a call's legs and parties itself wherever it replaces or prunes
-- the call, by the (call_id, pbx) indexes both tables keep.
ALTER TABLE call_legs DROP CONSTRAINT IF EXISTS call_legs_call_id_pbx_fkey;
ALTER TABLE call_parties DROP CONSTRAINT IF EXISTS call_parties_call_id_pbx_fkey;
