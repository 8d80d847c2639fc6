//! Rows of `refresh_runs`.

use diesel::prelude::*;

use super::{from_db_time, to_db_time};
use crate::store::refresh::RefreshRecord;
use crate::store::schema::refresh_runs;

fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A finished refresh run to append.
#[derive(Debug, Insertable)]
#[diesel(table_name = refresh_runs, treat_none_as_default_value = false)]
pub struct NewRefreshRun<'a> {
    pub connection_id: &'a str,
    pub pbx: &'a str,
    pub started_at: chrono::NaiveDateTime,
    pub finished_at: chrono::NaiveDateTime,
    pub extensions_checked: i64,
    pub successful: i64,
    pub failed: i64,
    pub corrections: String,
    pub error: Option<&'a str>,
}

impl<'a> From<&'a RefreshRecord> for NewRefreshRun<'a> {
    fn from(r: &'a RefreshRecord) -> Self {
        Self {
            connection_id: &r.connection_id,
            pbx: &r.pbx,
            started_at: to_db_time(r.started_at),
            finished_at: to_db_time(r.finished_at),
            extensions_checked: count(r.extensions_checked),
            successful: count(r.successful),
            failed: count(r.failed),
            // A `Value` always serialises.
            corrections: r.corrections.to_string(),
            error: r.error.as_deref(),
        }
    }
}

/// A stored refresh run.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = refresh_runs)]
pub struct RefreshRunRow {
    pub connection_id: String,
    pub pbx: String,
    pub started_at: chrono::NaiveDateTime,
    pub finished_at: chrono::NaiveDateTime,
    pub extensions_checked: i64,
    pub successful: i64,
    pub failed: i64,
    pub corrections: String,
    pub error: Option<String>,
}

impl RefreshRunRow {
    /// The record back; an error names the run whose corrections are damaged.
    pub fn decode(self) -> Result<RefreshRecord, String> {
        let corrections = serde_json::from_str(&self.corrections)
            .map_err(|e| format!("corrections of refresh {}: {e}", self.connection_id))?;
        Ok(RefreshRecord {
            connection_id: self.connection_id,
            pbx: self.pbx,
            started_at: from_db_time(self.started_at),
            finished_at: from_db_time(self.finished_at),
            extensions_checked: u64::try_from(self.extensions_checked).unwrap_or_default(),
            successful: u64::try_from(self.successful).unwrap_or_default(),
            failed: u64::try_from(self.failed).unwrap_or_default(),
            corrections,
            error: self.error,
        })
    }
}
