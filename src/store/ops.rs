//! `WriteOp`: every kind of write the service makes, so one batch of mixed
//! writes can be applied in one transaction, in order.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::connection::DbConnection;
use super::refresh::{self, RefreshRecord};
use super::{calls, extensions};
use crate::model::{Call, Extension, ExtensionTransition};

/// One write, as the actors produce them (and as the journal keeps them).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum WriteOp {
    /// An extension's current state (insert or overwrite). Shared with the live
    /// view: persisting a change costs a reference count, not a copy.
    Extension(Arc<Extension>),
    /// A state change to append to an extension's history.
    Transition(ExtensionTransition),
    /// A live call's current state (insert or overwrite), shared like `Extension`.
    ActiveCall(Arc<Call>),
    /// A call that ended: into history, out of the live calls.
    FinishedCall(Arc<Call>),
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
    /// A change for the other instances (cluster mode, PostgreSQL only): appended to
    /// `change_feed` in the same transaction as the state writes of its batch.
    Feed(super::feed::FeedRow),
}

impl WriteOp {
    /// The op's kind, for logs (`finishedCall`).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Extension(_) => "extension",
            Self::Transition(_) => "transition",
            Self::ActiveCall(_) => "activeCall",
            Self::FinishedCall(_) => "finishedCall",
            Self::Refresh(_) => "refresh",
            Self::Confirmed { .. } => "confirmed",
            Self::Feed(_) => "feed",
        }
    }
}

/// Identifies the row an upsert overwrites, so a writer may keep only the
/// latest of several pending upserts of the same row.
///
/// It holds the op's own `Arc` where there is one: the writer builds a key for
/// every op it queues and again for every op it takes, and a key of owned strings
/// cost two string copies each time. Equality and hash look only at the table and
/// the row's key columns, whichever form holds them.
#[derive(Debug, Clone)]
pub enum RowKey {
    /// `extensions` row of this extension.
    Extension(Arc<Extension>),
    /// `active_calls` row of this call.
    ActiveCall(Arc<Call>),
    /// `extensions` row (pbx, extension) named by an op without an extension value.
    ExtensionNamed(String, String),
}

impl RowKey {
    /// (table, pbx, key): what identifies the row.
    fn parts(&self) -> (u8, &str, &str) {
        match self {
            Self::Extension(e) => (0, &e.pbx, &e.extension),
            Self::ExtensionNamed(pbx, exten) => (0, pbx, exten),
            Self::ActiveCall(c) => (1, &c.pbx, &c.id),
        }
    }
}

impl PartialEq for RowKey {
    fn eq(&self, other: &Self) -> bool {
        self.parts() == other.parts()
    }
}

impl Eq for RowKey {}

impl std::hash::Hash for RowKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.parts().hash(state);
    }
}

impl WriteOp {
    /// The row this op overwrites whole, when it is such an upsert.
    pub fn upsert_key(&self) -> Option<RowKey> {
        match self {
            Self::Extension(e) => Some(RowKey::Extension(Arc::clone(e))),
            Self::ActiveCall(c) => Some(RowKey::ActiveCall(Arc::clone(c))),
            _ => None,
        }
    }

    /// Rows this op changes without overwriting them whole: a later upsert of
    /// one of them must not be merged into an earlier one across this op.
    pub fn touched_keys(&self) -> Vec<RowKey> {
        match self {
            Self::FinishedCall(c) => vec![RowKey::ActiveCall(Arc::clone(c))],
            Self::Confirmed {
                pbx, extensions, ..
            } => extensions
                .iter()
                .map(|e| RowKey::ExtensionNamed(pbx.clone(), e.clone()))
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// The items with distinct keys, each the last one given for its key, in the
/// order their keys first appeared. Multi-row upserts need distinct keys.
pub fn latest_by_key<'a, T, K: Eq + std::hash::Hash>(
    items: impl IntoIterator<Item = &'a T>,
    key: impl Fn(&T) -> K,
) -> Vec<&'a T> {
    let mut index: HashMap<K, usize> = HashMap::new();
    let mut out: Vec<&'a T> = Vec::new();
    for item in items {
        match index.entry(key(item)) {
            Entry::Occupied(slot) => out[*slot.get()] = item,
            Entry::Vacant(slot) => {
                slot.insert(out.len());
                out.push(item);
            }
        }
    }
    out
}

fn call_key(c: &Call) -> (String, String) {
    (c.pbx.clone(), c.id.clone())
}

fn extension_key(e: &Extension) -> (String, String) {
    (e.pbx.clone(), e.extension.clone())
}

/// Applies `ops` in the caller's transaction, with the same end state as
/// applying them one by one in order, in a few multi-row statements:
///
/// - transitions and refresh runs only append, so each goes in as one insert;
/// - extension upserts are merged per extension between `Confirmed` ops (the
///   only other writes to that table), which keep their place;
/// - for each call, only the last finish and the last live upsert matter: a
///   finished call leaves the live table, unless a live upsert of a new call
///   reusing its id (another start time) came after it. A later upsert with the
///   same start is a late event of the finished call and is dropped, so a call
///   never comes back to life within a batch.
///
/// Tables are independent (the only foreign keys, on SQLite, are a finished
/// call's legs and parties → its row in `calls`, written after it), so applying
/// them table by table gives the same result.
///
/// In cluster mode (a batch with feed rows), the feed rows of a PBX whose lease
/// this instance does not hold are left out, and every op of a PBX another
/// instance holds now (see [`super::feed::check_leases`]).
pub fn apply(conn: &mut DbConnection, ops: &[WriteOp], now: DateTime<Utc>) -> QueryResult<()> {
    let leases = match conn {
        DbConnection::Pg(pg) => {
            let feed: Vec<&super::feed::FeedRow> = ops
                .iter()
                .filter_map(|op| match op {
                    WriteOp::Feed(row) => Some(row),
                    _ => None,
                })
                .collect();
            super::feed::check_leases(pg, &feed)?
        }
        DbConnection::Sqlite(_) => super::feed::LeaseCheck::default(),
    };
    let ops = ops
        .iter()
        .filter(|op| match op {
            WriteOp::Feed(row) => !leases.unheld.contains(&row.pbx),
            _ => !leases.taken.contains(op_pbx(op)),
        })
        .enumerate();
    let mut transitions: Vec<&ExtensionTransition> = Vec::new();
    let mut upserts: Vec<&Extension> = Vec::new();
    let mut last_active: HashMap<(String, String), (usize, &Call)> = HashMap::new();
    let mut last_finish: HashMap<(String, String), (usize, &Call)> = HashMap::new();
    let mut active_order: Vec<(String, String)> = Vec::new();
    let mut finish_order: Vec<(String, String)> = Vec::new();
    let mut feed: Vec<&super::feed::FeedRow> = Vec::new();
    for (i, op) in ops {
        match op {
            WriteOp::Feed(row) => feed.push(row),
            WriteOp::Transition(t) => transitions.push(t),
            WriteOp::Refresh(r) => refresh::insert(conn, r)?,
            WriteOp::Extension(e) => upserts.push(e),
            WriteOp::Confirmed {
                pbx,
                extensions: list,
                at,
            } => {
                extensions::upsert_many(conn, &latest_by_key(upserts.drain(..), extension_key))?;
                extensions::mark_confirmed(conn, pbx, list, *at)?;
            }
            WriteOp::ActiveCall(c) => {
                if last_active.insert(call_key(c), (i, c)).is_none() {
                    active_order.push(call_key(c));
                }
            }
            WriteOp::FinishedCall(c) => {
                if last_finish.insert(call_key(c), (i, c)).is_none() {
                    finish_order.push(call_key(c));
                }
            }
        }
    }
    extensions::upsert_many(conn, &latest_by_key(upserts.drain(..), extension_key))?;
    extensions::insert_transitions(conn, &transitions)?;
    let finished: Vec<&Call> = finish_order
        .iter()
        .filter_map(|k| last_finish.get(k).map(|(_, c)| *c))
        .collect();
    calls::finish_many(conn, &finished)?;
    let live: Vec<&Call> = active_order
        .iter()
        .filter_map(|k| {
            let (at, call) = last_active.get(k)?;
            match last_finish.get(k) {
                Some((finished_at, _)) if finished_at > at => None,
                // A late update of the call that finished (same start) must not bring
                // it back to life; a new call reusing the id (another start) may.
                Some((_, done)) if done.started_at == call.started_at => None,
                _ => Some(*call),
            }
        })
        .collect();
    calls::upsert_active_many(conn, &live, now)?;
    match conn {
        DbConnection::Pg(pg) => super::feed::append(pg, &feed),
        // No instance shares a SQLite file: the feed is never written there.
        DbConnection::Sqlite(_) => Ok(()),
    }
}

/// The PBX an op writes for.
fn op_pbx(op: &WriteOp) -> &str {
    match op {
        WriteOp::Extension(e) => &e.pbx,
        WriteOp::Transition(t) => &t.pbx,
        WriteOp::ActiveCall(c) | WriteOp::FinishedCall(c) => &c.pbx,
        WriteOp::Refresh(r) => &r.pbx,
        WriteOp::Confirmed { pbx, .. } => pbx,
        WriteOp::Feed(row) => &row.pbx,
    }
}

/// Runs [`apply`] in one transaction.
pub fn apply_in_transaction(
    conn: &mut DbConnection,
    ops: &[WriteOp],
    now: DateTime<Utc>,
) -> QueryResult<()> {
    conn.transaction(|conn| apply(conn, ops, now))
}
