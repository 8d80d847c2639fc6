//! Messages the [`super::StoreWriter`] handles, and its health report.

use actix::Message;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::store::{Backend, WriteOp};

/// Queue one write. Fire-and-forget: the writer keeps it until it is committed.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Write(pub WriteOp);

/// Queue several writes at once, in order (one mailbox message instead of many).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct WriteBatch(pub Vec<WriteOp>);

/// Resolves once every write queued before it is committed: for graceful
/// shutdown, and for tests that read back what they wrote.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Flush;

/// Asks for the writer's [`StoreHealth`] (the health endpoint shows it).
#[derive(Debug, Message)]
#[rtype(result = "StoreHealth")]
pub struct GetStoreHealth;

/// Whether the writer is committing, serialized as `ok` / `degraded`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreState {
    /// Batches are being committed.
    Ok,
    /// Writes are failing and being retried, or an attempt has stalled.
    Degraded,
}

/// How the store is doing, as `GET /api/health` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StoreHealth {
    /// `ok`, or `degraded` while writes are failing and being retried or stalled.
    pub state: StoreState,
    /// A write attempt has been in flight longer than the writer's `stall_after`
    /// (a lock held elsewhere, a server that stopped answering): not failed yet,
    /// but nothing is being committed.
    pub stalled: bool,
    /// The engine.
    pub backend: Backend,
    /// Writes accepted but not yet committed.
    pub pending: usize,
    /// The last write failure, in words (never a password), even once recovered.
    pub last_error: Option<String>,
    /// When a batch was last committed.
    #[serde(serialize_with = "crate::timefmt::utc_opt")]
    pub last_flush: Option<DateTime<Utc>>,
    /// Ops committed since start.
    pub writes_total: u64,
    /// Failed batch attempts since start (each was retried).
    pub retries: u64,
    /// Upserts merged into a still-unwritten upsert of the same row since start.
    pub coalesced: u64,
    /// Ops moved to the journal since start (an outage past the backlog bound,
    /// or a shutdown before they were written).
    pub journaled: u64,
}
