-- Journal chunks already replayed, written in the same transaction as the
-- chunk's ops, so a replay interrupted anywhere resumes without applying a
-- chunk twice (see src/store/journal.rs). Rows go with the retention of
-- refresh runs.
CREATE TABLE journal_chunks (
    chunk TEXT PRIMARY KEY NOT NULL,
    applied_at TIMESTAMP NOT NULL
);
