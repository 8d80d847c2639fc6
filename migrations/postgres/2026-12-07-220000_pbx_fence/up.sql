-- One row per PBX that cluster writes lock: a writing transaction holds its
-- PBXs' rows FOR SHARE from its lease check to its commit, and an instance
-- taking a PBX's lease locks the row FOR UPDATE first, so it gets the lease only
-- once every write the old holder had in flight has committed (a fence).
CREATE TABLE pbx_fence (
    pbx TEXT PRIMARY KEY
);
