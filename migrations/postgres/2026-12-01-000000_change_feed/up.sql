-- The change feed: every state change the holder of a PBX's lease commits, in the
-- same transaction as the state, for the other instances to replay (see
-- src/cluster/feed.rs). Rows older than CLUSTER_FEED_RETENTION_SECS are deleted.
CREATE TABLE change_feed (
    id BIGSERIAL PRIMARY KEY,
    pbx TEXT NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    instance TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc')
);
CREATE INDEX change_feed_pbx_id ON change_feed (pbx, id);
CREATE INDEX change_feed_created_at ON change_feed (created_at);
