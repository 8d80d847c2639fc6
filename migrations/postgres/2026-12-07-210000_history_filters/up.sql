-- Every filter the history page offers is answered from an index (issues 17, 20).
--
-- The call's own words: one index each, led by the word and then in the order
-- the API pages in, so a page of one queue, outcome or direction is a walk of
-- its own range and its count an index-only range.
CREATE INDEX calls_queue_started_at_id ON calls (queue, started_at, id, pbx);
CREATE INDEX calls_outcome_started_at_id ON calls (outcome, started_at, id, pbx);
CREATE INDEX calls_direction_started_at_id ON calls (direction, started_at, id, pbx);

-- call_search: what `?q=` finds a call by. One row per search term: every
-- prefix (up to 32 characters) of the caller's and callee's lower-cased number
-- and name, and of each of their tails that starts a word. `?q=mar` is then one
-- equality on `term`, whose rows are already in the history's order (a prefix
-- range over the terms would need a sort of every match). Kept in step by
-- `NewSearchTerm::all_of` (src/store/models/search_terms.rs).
CREATE TABLE call_search (
    term TEXT NOT NULL,
    started_at TIMESTAMP NOT NULL,
    call_id TEXT NOT NULL,
    pbx TEXT NOT NULL,
    PRIMARY KEY (term, started_at, call_id, pbx),
    FOREIGN KEY (call_id, pbx) REFERENCES calls (id, pbx) ON DELETE CASCADE
);
-- For the cascade when a call is replaced or pruned.
CREATE INDEX call_search_call ON call_search (call_id, pbx);

-- Backfill the calls already stored. (SQL's lower() may fold fewer letters than
-- the writer's; only names outside ASCII written before this migration differ.)
INSERT INTO call_search (term, started_at, call_id, pbx)
WITH RECURSIVE
    source (text, started_at, id, pbx) AS (
        SELECT lower(trim(caller_number)), started_at, id, pbx FROM calls WHERE caller_number IS NOT NULL
        UNION ALL
        SELECT lower(trim(callee_number)), started_at, id, pbx FROM calls WHERE callee_number IS NOT NULL
        UNION ALL
        SELECT lower(trim(caller_name)), started_at, id, pbx FROM calls WHERE caller_name IS NOT NULL
        UNION ALL
        SELECT lower(trim(callee_name)), started_at, id, pbx FROM calls WHERE callee_name IS NOT NULL
    ),
    tails (rest, started_at, id, pbx) AS (
        SELECT text, started_at, id, pbx FROM source
        UNION ALL
        SELECT substr(rest, strpos(rest, ' ') + 1), started_at, id, pbx FROM tails
        WHERE strpos(rest, ' ') > 0
    ),
    prefixes (term, rest, n, started_at, id, pbx) AS (
        SELECT substr(rest, 1, 1), rest, 1, started_at, id, pbx FROM tails
        WHERE length(rest) > 0 AND substr(rest, 1, 1) <> ' '
        UNION ALL
        SELECT substr(rest, 1, n + 1), rest, n + 1, started_at, id, pbx FROM prefixes
        WHERE n < length(rest) AND n < 32
    )
SELECT DISTINCT term, started_at, id, pbx FROM prefixes
ON CONFLICT DO NOTHING;
