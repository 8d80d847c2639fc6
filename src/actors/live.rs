//! [`LiveState`]: the current picture (extensions, active calls, recent calls,
//! connections) kept by the hub and read directly by HTTP handlers.
//!
//! The hub is its only writer, so a snapshot taken while handling a subscription
//! is consistent with the sequence number handed out with it.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, RwLock};

use crate::model::queue::Queue;
use crate::model::{Call, ConnectionStatus, Extension};

/// How many finished calls the live view keeps for the dashboard.
pub const RECENT_CALLS: usize = 200;

/// The current state of every PBX.
#[derive(Debug, Default)]
pub struct LiveState {
    /// Extensions by (pbx, extension).
    pub extensions: BTreeMap<(String, String), Arc<Extension>>,
    /// Active calls by (pbx, id).
    pub calls: HashMap<(String, String), Arc<Call>>,
    /// Recently finished calls, newest last.
    pub recent: VecDeque<Arc<Call>>,
    /// AMI connection state per PBX.
    pub connections: BTreeMap<String, Arc<ConnectionStatus>>,
    /// Queues by (pbx, name).
    pub queues: BTreeMap<(String, String), Arc<Queue>>,
    /// The sequence number of the last change applied.
    pub seq: u64,
}

/// Shared handle to the live state.
pub type SharedLive = Arc<RwLock<LiveState>>;

impl LiveState {
    /// Extensions, optionally of one PBX, sorted by PBX then number.
    pub fn extensions(&self, pbx: Option<&str>) -> Vec<Arc<Extension>> {
        self.extensions
            .values()
            .filter(|e| pbx.is_none_or(|p| e.pbx == p))
            .cloned()
            .collect()
    }

    /// Queues, optionally of one PBX, sorted by PBX then name.
    pub fn queues(&self, pbx: Option<&str>) -> Vec<Arc<Queue>> {
        self.queues
            .values()
            .filter(|q| pbx.is_none_or(|p| q.pbx == p))
            .cloned()
            .collect()
    }

    /// Active calls, optionally of one PBX, oldest first.
    pub fn calls(&self, pbx: Option<&str>) -> Vec<Arc<Call>> {
        let mut calls: Vec<Arc<Call>> = self
            .calls
            .values()
            .filter(|c| pbx.is_none_or(|p| c.pbx == p))
            .cloned()
            .collect();
        calls.sort_by(|a, b| {
            a.started_at
                .cmp(&b.started_at)
                .then_with(|| a.id.cmp(&b.id))
        });
        calls
    }
}
