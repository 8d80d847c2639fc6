-- This database's own identity: a random id made once, when the migration runs.
-- The journal names the database its ops were written for, and replay refuses a
-- journal written for another one (see src/store/journal.rs): a journal left in
-- a directory must not be applied to whichever database the next service there
-- happens to use.
CREATE TABLE store_identity (
    id TEXT PRIMARY KEY NOT NULL
);
INSERT INTO store_identity (id) VALUES (lower(hex(randomblob(16))));
