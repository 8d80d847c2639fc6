//! The router's queue side: queue events update the PBX's [`QueueBook`] (the
//! caller events also go on to their call's tracker), the lists read after each
//! login rebuild it, and every queue that changed is published as one
//! `queue.updated` picture.

use std::sync::Arc;

use actix::prelude::*;
use chrono::Utc;

use super::EventRouterActor;
use crate::actors::backpressure::BatchTicket;
use crate::actors::messages::{Change, Publish, QueueList, ResyncQueues};
use crate::ami::Event;
use crate::model::queue::Queue;
use crate::state::event_time;
use crate::state::queue::{is_queue_event, QueueBook};
use crate::supervision::guarded;

impl EventRouterActor {
    /// Applies `event` to the queue book when it is a queue event, and notes the
    /// queue it changed for [`Self::publish_changed_queues`].
    ///
    /// A picture is a whole queue (every member and caller, the day's curve): made
    /// per event, a busy call centre's queue events spent most of the ingest on
    /// copying 100-member pictures nobody could read that fast. One picture per
    /// changed queue per batch carries the same end state.
    pub(super) fn route_queue(&mut self, event: &Event) {
        if !is_queue_event(event.name()) {
            return;
        }
        let now = Utc::now();
        let Some(name) = self.queues.apply(event, now) else {
            return;
        };
        let change = ChangedQueue {
            at: event_time(event, now),
            event_ts: event.timestamp(),
            name,
        };
        match self
            .changed_queues
            .iter_mut()
            .find(|c| c.name == change.name)
        {
            Some(seen) => *seen = change,
            None => self.changed_queues.push(change),
        }
    }

    /// Publishes one picture of each queue the batch changed, as of its last
    /// event, in the order the queues first changed; each holds the batch's
    /// `ticket` until the hub has handled it.
    pub(super) fn publish_changed_queues(&mut self, ticket: &Option<BatchTicket>) {
        for c in std::mem::take(&mut self.changed_queues) {
            if let Some(q) = self.queues.picture(&c.name, c.at) {
                self.publish_queue(q, c.event_ts, ticket.clone());
            }
        }
    }

    fn publish_queue(&self, queue: Queue, event_ts: Option<f64>, ticket: Option<BatchTicket>) {
        self.publish
            .do_send(Publish::new(Change::Queue(Arc::new(queue)), event_ts).with_ticket(ticket));
    }

    /// Forgets the PBX's queues, telling the hub each is gone (see
    /// [`QueueBook::clear`]).
    pub(super) fn forget_queues(&mut self) {
        for q in self.queues.clear(Utc::now()) {
            self.publish_queue(q, None, None);
        }
    }

    fn resync_queues(&mut self, msg: ResyncQueues) {
        let now = Utc::now();
        let changed = match msg.list {
            QueueList::Status => self.queues.resync_status(&msg.items, now),
            QueueList::Summary => self.queues.resync_summary(&msg.items, now),
        };
        if !changed.is_empty() {
            log::info!(
                "pbx {}: resync: {} queues changed ({:?} list of {} items)",
                self.pbx,
                changed.len(),
                msg.list,
                msg.items.len()
            );
        }
        for q in changed {
            self.publish_queue(q, None, None);
        }
    }
}

impl EventRouterActor {
    /// Counts today's stored queue calls of this PBX (`(queue, wait, abandoned)`)
    /// into the day's figures before the first event.
    pub fn with_queue_history(
        mut self,
        calls: impl IntoIterator<Item = (String, Option<u64>, bool)>,
    ) -> Self {
        let mut by_queue: std::collections::BTreeMap<String, Vec<(Option<u64>, bool)>> =
            std::collections::BTreeMap::new();
        for (queue, wait, abandoned) in calls {
            by_queue.entry(queue).or_default().push((wait, abandoned));
        }
        let now = Utc::now();
        for (queue, waits) in by_queue {
            self.queues.seed_today(&queue, waits, now);
        }
        self
    }
}

/// A queue changed by the batch being routed, and its latest event.
pub(super) struct ChangedQueue {
    name: String,
    at: chrono::DateTime<Utc>,
    event_ts: Option<f64>,
}

/// A fresh book for `pbx` with the service-level threshold `sla_secs`.
pub(super) fn book(pbx: &str, sla_secs: u64) -> QueueBook {
    QueueBook::new(pbx, sla_secs)
}

impl Handler<ResyncQueues> for EventRouterActor {
    type Result = ();

    fn handle(&mut self, msg: ResyncQueues, ctx: &mut Context<Self>) {
        guarded(self, ctx, "a queue list", |act, _| act.resync_queues(msg));
    }
}
