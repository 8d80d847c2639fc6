//! [`Tap`]: follows the change feed on a session of its own.
//!
//! It LISTENs on `switchboard_feed` before noting where the feed ends, so no row
//! committed after that point goes unnoticed. For each PBX it remembers the last id
//! read and reads newer rows in id order — the holder's commit order — skipping the
//! rows this instance wrote itself (already applied when they were made).

use std::collections::{HashMap, HashSet};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;

use super::lease::with_application_name;
use super::payload::{decode, Replayed};
use super::ClusterError;
use crate::store::feed::{self, StoredRow};

/// Rows read per statement.
const PAGE: i64 = 2000;
/// Statements per PBX per read: bounds one read's time; the rest is read next turn.
const MAX_PAGES: usize = 50;

/// The feed follower of one instance.
pub struct Tap {
    conn: PgConnection,
    instance: String,
    last: HashMap<String, i64>,
    start: i64,
}

impl Tap {
    /// Opens the session, LISTENs, and starts after the feed's current end.
    pub fn connect(url: &str, instance: &str) -> Result<Self, ClusterError> {
        let mut conn = PgConnection::establish(&with_application_name(
            url,
            &format!("switchboard-tap:{instance}"),
        ))?;
        conn.batch_execute(&format!(
            "SET statement_timeout = 5000; LISTEN {}",
            feed::CHANNEL
        ))?;
        let start = feed::last_id(&mut conn)?;
        Ok(Self {
            conn,
            instance: instance.to_string(),
            last: HashMap::new(),
            start,
        })
    }

    /// Opens a fresh session after the old one failed, keeping the positions read.
    pub fn reconnect(&mut self, url: &str) -> Result<(), ClusterError> {
        let fresh = Self::connect(url, &self.instance)?;
        self.conn = fresh.conn;
        Ok(())
    }

    /// The PBXs named in notifications received since the last call.
    pub fn notified(&mut self) -> Result<HashSet<String>, ClusterError> {
        let mut out = HashSet::new();
        for n in self.conn.notifications_iter() {
            out.insert(n?.payload);
        }
        Ok(out)
    }

    /// The rows of `pbx` not read yet, decoded, without this instance's own.
    pub fn read(&mut self, pbx: &str) -> Result<Vec<Replayed>, ClusterError> {
        let mut out = Vec::new();
        for _ in 0..MAX_PAGES {
            let after = *self.last.get(pbx).unwrap_or(&self.start);
            let rows: Vec<StoredRow> = feed::read_after(&mut self.conn, pbx, after, PAGE)?;
            let full = rows.len() as i64 == PAGE;
            for row in rows {
                self.last.insert(pbx.to_string(), row.id);
                if row.instance == self.instance {
                    continue;
                }
                match decode(&row) {
                    Ok(r) => out.push(r),
                    Err(e) => log::error!("pbx {pbx}: change-feed row {} skipped: {e}", row.id),
                }
            }
            if !full {
                break;
            }
        }
        Ok(out)
    }

    /// Deletes at most `limit` feed rows older than `cutoff`.
    pub fn prune_step(
        &mut self,
        cutoff: chrono::DateTime<chrono::Utc>,
        limit: i64,
    ) -> Result<usize, ClusterError> {
        Ok(feed::prune_step(&mut self.conn, cutoff, limit)?)
    }
}
