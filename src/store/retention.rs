//! Retention: deleting what is older than each table's retention period, in
//! small steps.
//!
//! The writer runs one [`prune_step`] at a time between its batches (see
//! `writer::prune`): each step deletes at most `limit` rows of each table, oldest
//! first, in one short transaction, and says whether more is due, so pruning a
//! backlog of months never holds the writer for long (the writer sizes `limit`
//! so a step takes about 50 ms).

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::connection::DbConnection;
use super::models::{to_db_time, TermSource};
use super::schema::{calls, journal_chunks, refresh_runs};

/// Rows older than these instants go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cutoffs {
    /// Finished calls (with their legs) that started before this.
    pub calls: DateTime<Utc>,
    /// Extension transitions before this (each extension's last one before it stays).
    pub transitions: DateTime<Utc>,
    /// Refresh runs (and replayed journal chunks' markers) finished before this.
    pub refresh_runs: DateTime<Utc>,
}

/// What one step deleted, by table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    /// `calls` rows.
    pub calls: usize,
    /// `call_legs` rows (deleted with their calls).
    pub call_legs: usize,
    /// `extension_transitions` rows.
    pub transitions: usize,
    /// `refresh_runs` rows.
    pub refresh_runs: usize,
    /// `journal_chunks` rows.
    pub journal_chunks: usize,
    /// A table had `limit` rows to delete: another step is due.
    pub more: bool,
}

impl Pruned {
    /// Each table's name with its count, for metrics and logs.
    pub fn by_table(&self) -> [(&'static str, usize); 5] {
        [
            ("calls", self.calls),
            ("call_legs", self.call_legs),
            ("extension_transitions", self.transitions),
            ("refresh_runs", self.refresh_runs),
            ("journal_chunks", self.journal_chunks),
        ]
    }

    /// Rows deleted in all.
    pub fn total(&self) -> usize {
        self.by_table().iter().map(|(_, n)| n).sum()
    }
}

/// Deletes at most `limit` rows of each table past its cutoff, in one transaction.
pub fn prune_step(conn: &mut DbConnection, cutoffs: &Cutoffs, limit: i64) -> QueryResult<Pruned> {
    let limit = limit.max(1);
    conn.transaction(|conn| {
        let mut pruned = Pruned::default();
        // Calls with their legs, parties and search terms (`calls::delete_stored`).
        let stored: Vec<TermSource> = calls::table
            .filter(calls::started_at.lt(to_db_time(cutoffs.calls)))
            .order(calls::started_at)
            .limit(limit)
            .select(TermSource::as_select())
            .load(conn)?;
        (pruned.calls, pruned.call_legs) = super::calls::delete_stored(conn, &stored)?;
        pruned.transitions = super::extensions::prune_some(conn, cutoffs.transitions, limit)?;
        let runs: Vec<i64> = refresh_runs::table
            .filter(refresh_runs::finished_at.lt(to_db_time(cutoffs.refresh_runs)))
            .order(refresh_runs::finished_at)
            .limit(limit)
            .select(refresh_runs::id)
            .load(conn)?;
        if !runs.is_empty() {
            pruned.refresh_runs =
                diesel::delete(refresh_runs::table.filter(refresh_runs::id.eq_any(&runs)))
                    .execute(conn)?;
        }
        let chunks: Vec<String> = journal_chunks::table
            .filter(journal_chunks::applied_at.lt(to_db_time(cutoffs.refresh_runs)))
            .limit(limit)
            .select(journal_chunks::chunk)
            .load(conn)?;
        if !chunks.is_empty() {
            pruned.journal_chunks =
                diesel::delete(journal_chunks::table.filter(journal_chunks::chunk.eq_any(&chunks)))
                    .execute(conn)?;
        }
        let limit = limit as usize;
        pruned.more = pruned.calls >= limit
            || pruned.transitions >= limit
            || pruned.refresh_runs >= limit
            || pruned.journal_chunks >= limit;
        Ok(pruned)
    })
}
