//! Fan-out: the subscribers, their filters, and handing each flush's changes to
//! them — grouped by [`DeliveryRoute`] so one route (one worker thread) gets one
//! hand-over per flush, and shared as one list among subscribers that take everything.

use std::collections::HashMap;
use std::sync::Arc;

use actix::prelude::*;
use chrono::Utc;

use super::Hub;
use crate::delivery::{
    Catchup, Deliver, DeliveryRoute, Envelope, Filter, GoingAway, Resubscribe, Shares, Subscribe,
    Unsubscribe,
};
use crate::metrics::Metrics;
use crate::supervision::guarded;

/// One subscriber as the hub knows it.
struct Subscriber {
    recipient: Recipient<Deliver>,
    closer: Recipient<GoingAway>,
    route: Option<Arc<dyn DeliveryRoute>>,
    filter: Filter,
}

/// The subscribers and the changes published for them since the last flush.
#[derive(Default)]
pub(super) struct Fanout {
    subscribers: HashMap<u64, Subscriber>,
    pending: Vec<Arc<Envelope>>,
}

impl Fanout {
    /// How many subscribers there are.
    pub(super) fn len(&self) -> usize {
        self.subscribers.len()
    }

    /// Queues `env` for the next flush (dropped when nobody listens).
    pub(super) fn queue(&mut self, env: Arc<Envelope>) {
        if !self.subscribers.is_empty() {
            self.pending.push(env);
        }
    }

    /// True when changes wait for the next flush.
    pub(super) fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Hands every subscriber its share of what was queued, and records each
    /// change's delivery lag.
    pub(super) fn flush(&mut self, metrics: &Metrics) {
        if self.pending.is_empty() {
            return;
        }
        let batch: Arc<[Arc<Envelope>]> = std::mem::take(&mut self.pending).into();
        if self.subscribers.is_empty() {
            return;
        }
        let now = Utc::now();
        // One entry per worker thread: a handful, so a list beats a map.
        let mut by_route: Vec<(Arc<dyn DeliveryRoute>, Shares)> = Vec::new();
        for (&id, subscriber) in &self.subscribers {
            let mine: Arc<[Arc<Envelope>]> = if subscriber.filter.takes_everything() {
                Arc::clone(&batch)
            } else {
                batch
                    .iter()
                    .filter(|e| subscriber.filter.matches(&e.change))
                    .cloned()
                    .collect()
            };
            if mine.is_empty() {
                continue;
            }
            match &subscriber.route {
                Some(route) => match by_route.iter_mut().find(|(r, _)| r.id() == route.id()) {
                    Some((_, shares)) => shares.push((id, mine)),
                    None => by_route.push((Arc::clone(route), vec![(id, mine)])),
                },
                None => subscriber.recipient.do_send(Deliver(mine)),
            }
        }
        for (route, shares) in by_route {
            if !route.deliver(shares) {
                log::debug!(
                    "a delivery route (worker thread) has stopped; its subscribers miss this flush"
                );
            }
        }
        for env in batch.iter() {
            let lag = (now - env.ts).num_microseconds().unwrap_or(0).max(0) as f64 / 1e6;
            metrics.event_delivery_seconds.observe(lag);
        }
    }
}

impl Handler<Subscribe> for Hub {
    type Result = Option<Catchup>;

    fn handle(&mut self, msg: Subscribe, ctx: &mut Context<Self>) -> Option<Catchup> {
        guarded(self, ctx, "Subscribe", |act, _| {
            // Changes not yet flushed would arrive after the catch-up and duplicate it.
            act.flush();
            let catchup = act.catchup(&msg.filter, msg.last_seq);
            act.fanout.subscribers.insert(
                msg.id,
                Subscriber {
                    recipient: msg.client,
                    closer: msg.closer,
                    route: msg.route,
                    filter: msg.filter,
                },
            );
            act.metrics.subscribers.set(act.fanout.len() as i64);
            catchup
        })
    }
}

impl Handler<Resubscribe> for Hub {
    type Result = Option<Catchup>;

    fn handle(&mut self, msg: Resubscribe, ctx: &mut Context<Self>) -> Option<Catchup> {
        guarded(self, ctx, "Resubscribe", |act, _| {
            act.flush();
            let seq = act.seq;
            let subscriber = act.fanout.subscribers.get_mut(&msg.id)?;
            if let Some(f) = msg.filter {
                subscriber.filter = f;
            }
            let filter = subscriber.filter.clone();
            let last = msg.last_seq.map(|l| l.min(seq));
            Some(act.catchup(&filter, last))
        })
        .flatten()
    }
}

impl Handler<Unsubscribe> for Hub {
    type Result = ();

    fn handle(&mut self, msg: Unsubscribe, ctx: &mut Context<Self>) {
        guarded(self, ctx, "Unsubscribe", |act, _| {
            act.fanout.subscribers.remove(&msg.id);
            act.metrics.subscribers.set(act.fanout.len() as i64);
        });
    }
}

/// Closes every subscriber with 1001 (going away): graceful shutdown. Answers how
/// many there were.
#[derive(Message)]
#[rtype(result = "usize")]
pub struct CloseAll;

impl Handler<CloseAll> for Hub {
    type Result = usize;

    fn handle(&mut self, _: CloseAll, ctx: &mut Context<Self>) -> usize {
        guarded(self, ctx, "CloseAll", |act, _| {
            act.flush();
            for subscriber in act.fanout.subscribers.values() {
                subscriber.closer.do_send(GoingAway);
            }
            act.fanout.len()
        })
        .unwrap_or(0)
    }
}
