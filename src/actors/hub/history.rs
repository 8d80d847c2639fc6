//! The resume buffer: the last changes kept so a client that reconnects with the
//! last `seq` it saw gets exactly what it missed, or a fresh snapshot when the gap
//! is older than the buffer.

use std::collections::VecDeque;
use std::sync::Arc;

use super::Hub;
use crate::delivery::{Catchup, Envelope, Filter};

/// The last changes published, oldest first, at most `cap` of them.
pub(super) struct History {
    changes: VecDeque<Arc<Envelope>>,
    cap: usize,
}

impl History {
    /// An empty buffer keeping `cap` changes (at least one).
    pub(super) fn new(cap: usize) -> Self {
        Self {
            changes: VecDeque::with_capacity(cap.min(65_536)),
            cap: cap.max(1),
        }
    }

    /// Keeps `env`, forgetting the oldest change when full.
    pub(super) fn push(&mut self, env: Arc<Envelope>) {
        if self.changes.len() >= self.cap {
            self.changes.pop_front();
        }
        self.changes.push_back(env);
    }

    /// The changes after `last` that pass `filter`, when the buffer still holds
    /// every change after `last` (`latest` being the last one published); `None`
    /// when the client must start over from a snapshot.
    fn replay_after(&self, last: u64, latest: u64, filter: &Filter) -> Option<Vec<Arc<Envelope>>> {
        if last > latest {
            // A seq from before a restart of the service: the client's view is stale.
            return None;
        }
        let oldest = self.changes.front().map_or(latest + 1, |e| e.seq);
        if last + 1 < oldest {
            return None;
        }
        Some(
            self.changes
                .iter()
                .filter(|e| e.seq > last && filter.matches(&e.change))
                .cloned()
                .collect(),
        )
    }
}

impl Hub {
    /// What a subscriber with `filter` that last saw `last_seq` receives first.
    pub(super) fn catchup(&self, filter: &Filter, last_seq: Option<u64>) -> Catchup {
        let replay = last_seq.and_then(|last| self.history.replay_after(last, self.seq, filter));
        match replay {
            Some(changes) => Catchup::Replay {
                changes,
                seq: self.seq,
            },
            None => Catchup::Snapshot {
                json: self.snapshot(filter),
                seq: self.seq,
            },
        }
    }
}
