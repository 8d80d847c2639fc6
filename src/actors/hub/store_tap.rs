//! What the hub hands the store writer: every change but refresh reports, the
//! confirmations and take-over snapshots, queued in order and sent as one message
//! per flush.

use actix::prelude::*;

use crate::delivery::{Change, Persist, PersistMany};

/// The store writer's share of the hub's output since the last flush.
pub(super) struct StoreTap {
    writer: Option<Recipient<PersistMany>>,
    queue: Vec<Persist>,
}

impl StoreTap {
    /// A tap to `writer` (`None`: nothing is stored).
    pub(super) fn new(writer: Option<Recipient<PersistMany>>) -> Self {
        Self {
            writer,
            queue: Vec::new(),
        }
    }

    /// True when there is a store to hand writes to.
    pub(super) fn is_open(&self) -> bool {
        self.writer.is_some()
    }

    /// Queues a published change; refresh reports are skipped, as the refresh
    /// manager hands them to the store writer itself, and so are queue pictures,
    /// which are not stored.
    pub(super) fn change(&mut self, change: &Change) {
        if self.is_open() && !matches!(change, Change::RefreshCompleted(_) | Change::Queue(_)) {
            self.queue.push(Persist::Change(change.clone()));
        }
    }

    /// Queues `write` behind what was queued before it, which it must not overtake.
    /// `false` when there is no store.
    pub(super) fn push(&mut self, write: Persist) -> bool {
        if !self.is_open() {
            return false;
        }
        self.queue.push(write);
        true
    }

    /// True when writes wait for the next flush.
    pub(super) fn has_pending(&self) -> bool {
        !self.queue.is_empty()
    }

    /// Sends what was queued as one message.
    pub(super) fn flush(&mut self) {
        if self.queue.is_empty() {
            return;
        }
        if let Some(writer) = &self.writer {
            writer.do_send(PersistMany(std::mem::take(&mut self.queue)));
        }
    }
}
