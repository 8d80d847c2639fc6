//! [`Hub`]: numbers every change, keeps the live view, fans changes out to the
//! subscribers and hands them to the store.
//!
//! Each change gets a monotonic `seq` and goes into a bounded history, so a client
//! that reconnects with the last `seq` it saw gets exactly what it missed — or, when
//! the gap is older than the history, a fresh snapshot. A change is encoded at most
//! once, and only when someone reads it (the envelope is shared by every
//! subscriber). Deliveries are batched: changes published while the hub works
//! through its mailbox go out together on the next turn, so a burst costs one
//! message per client, not one per change.
//!
//! One job per file: [`history`] (the resume buffer), [`live_view`] (the shared
//! live state), [`fanout`] (subscribers, filters, delivery), [`store_tap`] (what
//! goes to the store writer), [`supervision`] (restarts and repairs).

use std::sync::Arc;

use actix::prelude::*;
use chrono::{TimeZone, Utc};

use super::connection::SharedStatus;
use super::connection_watch::ConnectionWatch;
use super::live::SharedLive;
use super::messages::Publish;
use crate::delivery::{Envelope, PersistMany};
use crate::metrics::Metrics;
use crate::supervision::guarded;
use crate::supervision::{ActorHandle, Registry};

mod fanout;
mod history;
mod live_view;
mod store_tap;
mod supervision;

pub use fanout::CloseAll;

/// The fan-out hub.
pub struct Hub {
    live: SharedLive,
    seq: u64,
    history: history::History,
    fanout: fanout::Fanout,
    store: store_tap::StoreTap,
    flush_scheduled: bool,
    /// Reused to look rows of the live state up by (pbx, key): its maps are keyed
    /// by owned strings, and building a key per change cost two allocations and
    /// two frees even when the row was already there.
    lookup: (String, String),
    metrics: Arc<Metrics>,
    registry: Registry,
    handle: Option<ActorHandle>,
    /// This instance's connection status cells, to repair a lost connection change.
    watch: ConnectionWatch,
}

impl Hub {
    /// A hub keeping `history_cap` changes for resuming clients.
    pub fn new(
        live: SharedLive,
        history_cap: usize,
        store: Option<Recipient<PersistMany>>,
        metrics: Arc<Metrics>,
        registry: Registry,
    ) -> Self {
        Self {
            live,
            seq: 0,
            history: history::History::new(history_cap),
            fanout: fanout::Fanout::default(),
            store: store_tap::StoreTap::new(store),
            flush_scheduled: false,
            lookup: (String::new(), String::new()),
            metrics,
            registry,
            handle: None,
            watch: ConnectionWatch::default(),
        }
    }

    /// Watches the connections' status cells (the ones `/api/health` reads) and
    /// republishes a state the live view lost (see [`ConnectionWatch`]).
    pub fn watching(mut self, cells: Vec<SharedStatus>) -> Self {
        self.watch = ConnectionWatch::new(cells);
        self
    }

    /// Numbers changes from `seq + 1` instead of 1. Cluster mode starts each
    /// instance at its start time in microseconds, so a `lastSeq` from another
    /// instance falls outside this one's history and gets a snapshot, never a
    /// replay of unrelated changes.
    pub fn starting_at(mut self, seq: u64) -> Self {
        self.seq = seq;
        self
    }

    /// Sends what was published since the last flush: the store's share first,
    /// then the subscribers'.
    fn flush(&mut self) {
        self.flush_scheduled = false;
        self.store.flush();
        self.fanout.flush(&self.metrics);
    }

    /// Numbers `msg`'s change, applies it to the live view and queues it for the
    /// subscribers and the store. Its ticket drops here, not with the envelope:
    /// the socket read that caused the change may go on once the hub has handled
    /// it (the store writer's backlog holds the read on its own terms).
    fn publish(&mut self, msg: Publish, ctx: &mut Context<Self>) {
        if let Some(h) = &self.handle {
            h.handled();
        }
        self.seq += 1;
        let ts = msg
            .event_ts
            .and_then(|t| {
                let secs = t.floor();
                Utc.timestamp_opt(secs as i64, ((t - secs) * 1e9) as u32)
                    .single()
            })
            .unwrap_or_else(Utc::now);
        self.apply_live(&msg.change);
        self.store.change(&msg.change);
        let env = Arc::new(Envelope::new(self.seq, ts, msg.change));
        self.history.push(env.clone());
        self.fanout.queue(env);
        self.schedule_flush(ctx);
    }

    /// Makes sure a flush runs once the messages already queued are handled, so
    /// one flush carries every change of a burst. Not `run_later(ZERO)`: tokio
    /// rounds a timer up to its next millisecond tick, which would delay every
    /// change's way to the subscribers by up to a tick.
    fn schedule_flush(&mut self, ctx: &mut Context<Self>) {
        if !self.flush_scheduled && (self.fanout.has_pending() || self.store.has_pending()) {
            self.flush_scheduled = true;
            ctx.notify(FlushPending);
        }
    }
}

impl Actor for Hub {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        if self.handle.is_none() {
            self.handle = Some(self.registry.register("hub", "hub"));
        }
        // Every pipeline actor publishes here: a burst of twenty PBXs connecting
        // at once overflowed actix's default of 16 for anyone who waits on `send`.
        ctx.set_mailbox_capacity(HUB_MAILBOX);
        self.watch_connections(ctx);
        // After a restart: what was published but not yet flushed goes out now.
        self.schedule_flush(ctx);
    }
}

/// The hub's mailbox capacity: bounds only senders that wait (`send`); the
/// pipeline's `do_send`s queue past it and are never dropped.
const HUB_MAILBOX: usize = 1 << 16;

impl Handler<Publish> for Hub {
    type Result = ();

    fn handle(&mut self, msg: Publish, ctx: &mut Context<Self>) {
        guarded(self, ctx, "Publish", |act, ctx| act.publish(msg, ctx));
    }
}

/// Sent by the hub to itself: deliver what was published since the last flush.
#[derive(Message)]
#[rtype(result = "()")]
struct FlushPending;

impl Handler<FlushPending> for Hub {
    type Result = ();

    fn handle(&mut self, _: FlushPending, ctx: &mut Context<Self>) {
        guarded(self, ctx, "FlushPending", |act, _| act.flush());
    }
}

/// The hub's current sequence number and subscriber count (health, tests).
#[derive(Message)]
#[rtype(result = "(u64, usize)")]
pub struct GetHubStats;

impl Handler<GetHubStats> for Hub {
    type Result = MessageResult<GetHubStats>;

    fn handle(&mut self, _: GetHubStats, ctx: &mut Context<Self>) -> Self::Result {
        let stats = guarded(self, ctx, "GetHubStats", |act, _| {
            (act.seq, act.fanout.len())
        });
        MessageResult(stats.unwrap_or((0, 0)))
    }
}
