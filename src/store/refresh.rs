//! Refresh runs: what each hybrid refresh checked and corrected, kept for the
//! admin's "when did we last re-read the PBX, and what was wrong?".

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::connection::DbConnection;
use super::models::{NewRefreshRun, RefreshRunRow};
use super::schema::refresh_runs;

/// One finished refresh run, as the refresh session reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefreshRecord {
    /// The refresh session's connection id (as in the refresh API).
    pub connection_id: String,
    /// The PBX that was re-read.
    pub pbx: String,
    /// When the session logged in.
    pub started_at: DateTime<Utc>,
    /// When it answered.
    pub finished_at: DateTime<Utc>,
    /// Extensions queried.
    pub extensions_checked: u64,
    /// Queries answered.
    pub successful: u64,
    /// Queries that failed or timed out.
    pub failed: u64,
    /// The states the refresh corrected, as the refresh session describes them
    /// (stored as JSON text, so its shape can grow without a migration).
    pub corrections: serde_json::Value,
    /// Why the run failed as a whole, if it did (never a secret).
    pub error: Option<String>,
}

/// Appends a run.
pub fn insert(conn: &mut DbConnection, record: &RefreshRecord) -> QueryResult<()> {
    diesel::insert_into(refresh_runs::table)
        .values(NewRefreshRun::from(record))
        .execute(conn)
        .map(|_| ())
}

/// The latest runs, newest first.
pub fn recent(conn: &mut DbConnection, limit: i64) -> QueryResult<Vec<RefreshRunRow>> {
    refresh_runs::table
        .order((refresh_runs::finished_at.desc(), refresh_runs::id.desc()))
        .limit(limit)
        .select(RefreshRunRow::as_select())
        .load(conn)
}
