DROP TABLE journal_chunks;
