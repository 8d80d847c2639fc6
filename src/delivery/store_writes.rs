//! [`Persist`]: what the hub hands the store writer, in the order it happened.

use std::sync::Arc;

use actix::prelude::*;

use super::calls_snapshot::CallsSnapshot;
use super::change::{Change, Confirmed};

/// Where the hub hands changes to be stored.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub enum Persist {
    /// A change to store.
    Change(Change),
    /// Extensions confirmed by the PBX at a time.
    Confirmed(Confirmed),
    /// A PBX's calls as the store holds them, for the other instances (cluster
    /// mode: the new holder's snapshot at a take-over; no state is written).
    Snapshot(Arc<CallsSnapshot>),
}

/// Several [`Persist`]s in the order they happened. The hub sends what it
/// published since its last flush as one message: the store writer lives on
/// another thread, and waking it once per change (an `eventfd` write each time)
/// took more than a quarter of the pipeline thread.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct PersistMany(pub Vec<Persist>);
