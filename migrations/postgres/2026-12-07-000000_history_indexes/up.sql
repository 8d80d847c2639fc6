-- History at millions of calls (issue 17). Every history filter is answered from
-- an index, in the order the API pages in (newest first), so a page reads about
-- its own rows whatever the table's size.
--
-- call_parties: one row per extension that took part in a finished call (its
-- caller number, its callee number, each leg's extension; each once), with the
-- call's start. `?extension=` was an OR over two columns and an EXISTS over
-- the legs, which no index serves; it is now one range of this table's key.
CREATE TABLE call_parties (
    extension TEXT NOT NULL,
    started_at TIMESTAMP NOT NULL,
    call_id TEXT NOT NULL,
    pbx TEXT NOT NULL,
    PRIMARY KEY (extension, started_at, call_id, pbx),
    FOREIGN KEY (call_id, pbx) REFERENCES calls (id, pbx) ON DELETE CASCADE
);
-- For the cascade when a call is replaced or pruned.
CREATE INDEX call_parties_call ON call_parties (call_id, pbx);

INSERT INTO call_parties (extension, started_at, call_id, pbx)
    SELECT caller_number, started_at, id, pbx FROM calls WHERE caller_number IS NOT NULL
    ON CONFLICT DO NOTHING;
INSERT INTO call_parties (extension, started_at, call_id, pbx)
    SELECT callee_number, started_at, id, pbx FROM calls WHERE callee_number IS NOT NULL
    ON CONFLICT DO NOTHING;
INSERT INTO call_parties (extension, started_at, call_id, pbx)
    SELECT l.extension, c.started_at, c.id, c.pbx
    FROM call_legs l JOIN calls c ON c.id = l.call_id AND c.pbx = l.pbx
    WHERE l.extension IS NOT NULL
    ON CONFLICT DO NOTHING;

-- Newest first with a total order (the cursor of `?after=`): a page is a walk
-- down this index, never a sort of every match.
DROP INDEX calls_started_at;
CREATE INDEX calls_started_at_id ON calls (started_at, id, pbx);
-- One PBX's calls: a walk of its own range (a small PBX beside a big one would
-- otherwise read most of the index above to fill a page, and all of it to count).
CREATE INDEX calls_pbx_started_at_id ON calls (pbx, started_at, id);
-- Served by call_parties now; they only cost every write.
DROP INDEX calls_caller_number;
DROP INDEX calls_callee_number;
DROP INDEX call_legs_extension;
