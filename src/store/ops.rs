//! `WriteOp`: every kind of write the service makes, so one batch of mixed
//! writes can be applied in one transaction, in order.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::connection::DbConnection;
use super::refresh::{self, RefreshRecord};
use super::{calls, extensions};
use crate::model::{Call, Extension, ExtensionTransition};

/// One write, as the actors produce them.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteOp {
    /// An extension's current state (insert or overwrite).
    Extension(Extension),
    /// A state change to append to an extension's history.
    Transition(ExtensionTransition),
    /// A live call's current state (insert or overwrite).
    ActiveCall(Call),
    /// A call that ended: into history, out of the live calls.
    FinishedCall(Call),
    /// A refresh run that finished.
    Refresh(RefreshRecord),
    /// The PBX confirmed these extensions' state at `at`.
    Confirmed {
        /// The PBX.
        pbx: String,
        /// The extension numbers.
        extensions: Vec<String>,
        /// When.
        at: DateTime<Utc>,
    },
}

/// Identifies the row an upsert overwrites, so a writer may keep only the
/// latest of several pending upserts of the same row.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RowKey {
    /// `extensions` row (pbx, extension).
    Extension(String, String),
    /// `active_calls` row (pbx, id).
    ActiveCall(String, String),
}

impl WriteOp {
    /// The row this op overwrites whole, when it is such an upsert.
    pub fn upsert_key(&self) -> Option<RowKey> {
        match self {
            Self::Extension(e) => Some(RowKey::Extension(e.pbx.clone(), e.extension.clone())),
            Self::ActiveCall(c) => Some(RowKey::ActiveCall(c.pbx.clone(), c.id.clone())),
            _ => None,
        }
    }

    /// Rows this op changes without overwriting them whole: a later upsert of
    /// one of them must not be merged into an earlier one across this op.
    pub fn touched_keys(&self) -> Vec<RowKey> {
        match self {
            Self::FinishedCall(c) => vec![RowKey::ActiveCall(c.pbx.clone(), c.id.clone())],
            Self::Confirmed {
                pbx, extensions, ..
            } => extensions
                .iter()
                .map(|e| RowKey::Extension(pbx.clone(), e.clone()))
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// Applies `ops` in order, in the caller's transaction. Consecutive transitions
/// go in as one multi-row insert.
pub fn apply(conn: &mut DbConnection, ops: &[WriteOp], now: DateTime<Utc>) -> QueryResult<()> {
    let mut run: Vec<&ExtensionTransition> = Vec::new();
    for op in ops {
        if let WriteOp::Transition(t) = op {
            run.push(t);
            continue;
        }
        if !run.is_empty() {
            extensions::insert_transitions(conn, &run)?;
            run.clear();
        }
        match op {
            WriteOp::Extension(e) => extensions::upsert(conn, e)?,
            WriteOp::ActiveCall(c) => calls::upsert_active(conn, c, now)?,
            WriteOp::FinishedCall(c) => calls::finish(conn, c)?,
            WriteOp::Refresh(r) => refresh::insert(conn, r)?,
            WriteOp::Confirmed {
                pbx,
                extensions: list,
                at,
            } => {
                extensions::mark_confirmed(conn, pbx, list, *at)?;
            }
            WriteOp::Transition(_) => {}
        }
    }
    if !run.is_empty() {
        extensions::insert_transitions(conn, &run)?;
    }
    Ok(())
}

/// Runs [`apply`] in one transaction.
pub fn apply_in_transaction(
    conn: &mut DbConnection,
    ops: &[WriteOp],
    now: DateTime<Utc>,
) -> QueryResult<()> {
    conn.transaction(|conn| apply(conn, ops, now))
}
