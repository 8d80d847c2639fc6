//! [`EventRouterActor`]: sends each event of one PBX to the actor it concerns.
//!
//! Channel, dial, bridge, hold, transfer and hangup events go to the
//! [`CallTrackerActor`] of their call (by Linkedid, created on the call's first
//! event); `ExtensionStatus`, `DeviceStateChange` and contact/peer events go to the
//! [`ExtensionActor`] of their extension (created on first sight, up to
//! `MAX_EXTENSIONS_PER_PBX`; a hint reported removed stops its actor). Unknown events
//! are counted, never dropped silently. Queue events also update the PBX's queue
//! book (`router::queues`). Trackers and extension actors run on the router's own
//! arbiter, so handing them an event is a same-thread queue push.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;

use super::backpressure::BatchTicket;
use super::call_tracker::CallTrackerActor;
use super::extension::ExtensionActor;
use super::messages::{
    CallEvent, CallFinished, CloseCall, EventBatch, ExtensionEvent, InjectPanic, Publish,
};
use crate::ami::{event_names, Event};
use crate::fastmap::FastMap;
use crate::metrics::Metrics;
use crate::model::CallOutcome;
use crate::state::admit::{admit, Admission, RecentlyEnded};
use crate::state::extension::is_removal;
use crate::state::route::{device_extension, route, ExtensionKey, Route};
use crate::supervision::guarded;
use crate::supervision::{ActorHandle, Registry};

mod extensions;
mod queues;
mod resync;

pub use resync::{RestoreCalls, UNLISTED_GRACE};

/// Extension actors per PBX when `MAX_EXTENSIONS_PER_PBX` is not set.
pub const DEFAULT_MAX_EXTENSIONS: usize = 20_000;

/// What the router tells the hub about extensions a refresh or resync confirmed
/// (defined with the delivery types: the store writer and the feed carry it too).
pub use crate::delivery::Confirmed;

/// Router counters for the admin view and tests.
#[derive(Message)]
#[rtype(result = "RouterStats")]
pub struct GetRouterStats;

/// What the router holds now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RouterStats {
    /// Live call trackers.
    pub calls: usize,
    /// Extension actors.
    pub extensions: usize,
    /// Events routed since start.
    pub routed: u64,
    /// Events of unknown kind since start.
    pub unknown: u64,
    /// Events of calls that had already ended, dropped (duplicated or late input).
    pub late: u64,
    /// Events of calls never seen that cannot start one (a lone `Hangup`), dropped.
    pub orphaned: u64,
    /// Events of new extensions refused because the PBX had `MAX_EXTENSIONS_PER_PBX`.
    pub refused_extensions: u64,
}

/// A live call's tracker and when the router last handed it something.
struct Tracked {
    addr: Addr<CallTrackerActor>,
    last_event: Instant,
}

/// The router of one PBX.
pub struct EventRouterActor {
    pbx: Arc<str>,
    calls: FastMap<String, Tracked>,
    /// The time of the batch being routed: one clock read per batch, not per event.
    now: Instant,
    extensions: FastMap<String, Addr<ExtensionActor>>,
    devices: FastMap<String, String>,
    channels: FastMap<String, String>,
    publish: Recipient<Publish>,
    confirmed: Recipient<Confirmed>,
    registry: Registry,
    handle: Option<ActorHandle>,
    metrics: Arc<Metrics>,
    call_timeout: Duration,
    routed: u64,
    unknown: u64,
    /// Calls that ended lately, so their late events cannot start them again.
    ended: RecentlyEnded,
    late: u64,
    orphaned: u64,
    /// Extension actors this router may hold (`MAX_EXTENSIONS_PER_PBX`).
    max_extensions: usize,
    /// Events of extensions refused because the cap was reached.
    refused_extensions: u64,
    /// The cap's warning is logged once, not once per refused event.
    cap_warned: bool,
    /// The PBX's queues.
    queues: crate::state::queue::QueueBook,
    /// Queues the batch being routed changed, published once it is routed.
    changed_queues: Vec<queues::ChangedQueue>,
}

impl EventRouterActor {
    /// A router for `pbx` publishing to `publish`; calls with no event for
    /// `call_timeout` are closed as timed out.
    pub fn new(
        pbx: &str,
        publish: Recipient<Publish>,
        confirmed: Recipient<Confirmed>,
        registry: Registry,
        metrics: Arc<Metrics>,
        call_timeout: Duration,
    ) -> Self {
        Self {
            pbx: Arc::from(pbx),
            calls: FastMap::default(),
            now: Instant::now(),
            extensions: FastMap::default(),
            devices: FastMap::default(),
            channels: FastMap::default(),
            publish,
            confirmed,
            registry,
            handle: None,
            metrics,
            call_timeout,
            routed: 0,
            unknown: 0,
            ended: RecentlyEnded::default(),
            late: 0,
            orphaned: 0,
            max_extensions: DEFAULT_MAX_EXTENSIONS,
            refused_extensions: 0,
            cap_warned: false,
            queues: queues::book(pbx, crate::model::queue::DEFAULT_SLA_SECS),
            changed_queues: Vec::new(),
        }
    }

    /// Counts queue callers answered within `sla_secs` toward the service level.
    pub fn with_queue_sla(mut self, sla_secs: u64) -> Self {
        self.queues = queues::book(&self.pbx, sla_secs);
        self
    }

    /// Holds at most `max` extension actors (at least one).
    pub fn with_max_extensions(mut self, max: usize) -> Self {
        self.max_extensions = max.max(1);
        self
    }

    /// The tracker of call `id` (started on first sight), marked as just used.
    fn tracker(&mut self, id: &str, ctx: &mut Context<Self>) -> Addr<CallTrackerActor> {
        let now = self.now;
        if let Some(t) = self.calls.get_mut(id) {
            if t.addr.connected() {
                t.last_event = now;
                return t.addr.clone();
            }
        }
        let addr = CallTrackerActor::new(
            &self.pbx,
            id,
            self.publish.clone(),
            ctx.address().recipient(),
            self.registry.clone(),
            self.metrics.clone(),
        )
        .start();
        self.calls.insert(
            id.to_string(),
            Tracked {
                addr: addr.clone(),
                last_event: now,
            },
        );
        addr
    }

    /// Closes, as timed out, every call that has had no event for `call_timeout`.
    fn sweep_timed_out(&mut self) {
        let now = Instant::now();
        for (id, t) in &self.calls {
            if now.duration_since(t.last_event) >= self.call_timeout {
                log::warn!(
                    "pbx {}: call {id} had no event for {:?}; closing it as timed out",
                    self.pbx,
                    self.call_timeout
                );
                t.addr.do_send(CloseCall {
                    outcome: CallOutcome::TimedOut,
                });
            }
        }
    }

    /// Routes `event`; what it sends on carries a clone of `ticket`, the read's
    /// permit, so the read counts until the hub has handled what it caused.
    fn route_one(&mut self, event: Event, ticket: &Option<BatchTicket>, ctx: &mut Context<Self>) {
        self.route_queue(&event);
        match route(&event) {
            Route::Call(key) => {
                let admitted = self.admitted(&event, key);
                self.track_channel(&event, key, admitted, ticket);
                if admitted {
                    let tracker = self.tracker(key, ctx);
                    tracker.do_send(CallEvent {
                        event,
                        ticket: ticket.clone(),
                    });
                }
            }
            Route::Extension(key) => {
                let exten = match key {
                    ExtensionKey::Exten(e) => Some(e.to_string()),
                    ExtensionKey::Device(d) => self
                        .devices
                        .get(d)
                        .cloned()
                        .or_else(|| device_extension(d).map(str::to_string)),
                    ExtensionKey::Aor(a) => Some(a.to_string()),
                };
                if let Some(exten) = exten {
                    if is_removal(&event) {
                        self.remove_extension(&exten, event, ticket);
                    } else if let Some(addr) = self.extension(&exten) {
                        if matches!(key, ExtensionKey::Exten(_)) {
                            self.learn_hint(&event, &exten);
                        }
                        addr.do_send(ExtensionEvent {
                            event,
                            ticket: ticket.clone(),
                        });
                    }
                }
            }
            Route::Ignored => {}
            Route::Unknown => {
                self.unknown += 1;
                self.metrics
                    .unrouted
                    .with_label_values(&[event_names::label(event.name())])
                    .inc();
            }
        }
        self.routed += 1;
    }

    /// True when `event` goes to a tracker: the call is live, or the event may start
    /// it (see [`crate::state::admit`]); otherwise it is counted and dropped.
    fn admitted(&mut self, event: &Event, key: &str) -> bool {
        match self.calls.get(key) {
            Some(t) if t.addr.connected() => return true,
            // Its tracker stopped (the call ended) and its `CallFinished` is still
            // on the way: the call is over.
            Some(_) => {
                self.calls.remove(key);
                self.ended.insert(key);
            }
            None => {}
        }
        let reason = match admit(event, key, &self.ended) {
            Admission::Start => return true,
            Admission::Late => {
                self.late += 1;
                "late"
            }
            Admission::Orphan => {
                self.orphaned += 1;
                "orphan"
            }
        };
        log::debug!(
            "pbx {}: {} for call {key} dropped ({reason})",
            self.pbx,
            event.name()
        );
        self.metrics
            .call_events_dropped
            .with_label_values(&[&self.pbx, reason])
            .inc();
        false
    }

    /// Remembers which call each live channel belongs to, so a channel that moves to
    /// another call (the target of a SIP REFER with Replaces changes Linkedid) still
    /// ends in the call that knew it first.
    fn track_channel(
        &mut self,
        event: &Event,
        key: &str,
        admitted: bool,
        ticket: &Option<BatchTicket>,
    ) {
        let Some(uid) = event.uniqueid() else {
            return;
        };
        match event.name() {
            "Newchannel" if admitted => {
                self.channels.insert(uid.to_string(), key.to_string());
            }
            "Hangup" => {
                if let Some(old) = self.channels.remove(uid) {
                    if old != key {
                        if let Some(t) = self.calls.get(&old) {
                            t.addr.do_send(CallEvent {
                                event: event.clone(),
                                ticket: ticket.clone(),
                            });
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

impl Actor for EventRouterActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        if self.handle.is_none() {
            self.handle = Some(self.registry.register("router", self.pbx.to_string()));
        }
        let every =
            (self.call_timeout / 4).clamp(Duration::from_millis(50), Duration::from_secs(60));
        ctx.run_interval(every, |act, _| act.sweep_timed_out());
    }
}

impl Supervised for EventRouterActor {
    fn restarting(&mut self, _: &mut Context<Self>) {
        if let Some(h) = &self.handle {
            h.restarted();
        }
        self.metrics
            .actor_restarts
            .with_label_values(&["router"])
            .inc();
        // Trackers and extension actors live on; the maps still point at them.
    }
}

impl Handler<EventBatch> for EventRouterActor {
    type Result = ();

    fn handle(&mut self, batch: EventBatch, ctx: &mut Context<Self>) {
        if let Some(h) = &self.handle {
            h.handled_n(batch.events.len() as u64);
        }
        self.now = Instant::now();
        self.routed += batch.skipped;
        let ticket = batch.ticket;
        for event in batch.events {
            guarded(self, ctx, "an event", |act, ctx| {
                act.route_one(event, &ticket, ctx)
            });
        }
        self.publish_changed_queues(&ticket);
        // The batch's ticket drops here; the read's permit returns once the
        // trackers, extension actors and the hub have dropped their clones.
    }
}

impl Handler<CallFinished> for EventRouterActor {
    type Result = ();

    fn handle(&mut self, msg: CallFinished, _: &mut Context<Self>) {
        self.calls.remove(&msg.id);
        self.ended.insert(&msg.id);
        self.channels.retain(|_, call| *call != msg.id);
    }
}

impl Handler<GetRouterStats> for EventRouterActor {
    type Result = MessageResult<GetRouterStats>;

    fn handle(&mut self, _: GetRouterStats, _: &mut Context<Self>) -> Self::Result {
        MessageResult(RouterStats {
            calls: self.calls.len(),
            extensions: self.extensions.len(),
            routed: self.routed,
            unknown: self.unknown,
            late: self.late,
            orphaned: self.orphaned,
            refused_extensions: self.refused_extensions,
        })
    }
}

impl Handler<InjectPanic> for EventRouterActor {
    type Result = ();

    fn handle(&mut self, _: InjectPanic, ctx: &mut Context<Self>) {
        guarded(self, ctx, "InjectPanic", |_, _| {
            panic!("injected panic (fault test)")
        });
    }
}

/// Cluster mode: forgets every call and extension of the PBX without publishing
/// them — on losing the lease (the new holder owns them now) and before taking
/// over (the store and the login's resync rebuild them). Its queues are published
/// as removed: no feed carries queues, so this instance would show them stale.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct ResetPbx;

impl Handler<ResetPbx> for EventRouterActor {
    type Result = ();

    fn handle(&mut self, _: ResetPbx, _: &mut Context<Self>) {
        for (_, t) in self.calls.drain() {
            t.addr.do_send(super::call_tracker::Discard);
        }
        self.channels.clear();
        self.extensions.clear();
        self.forget_queues();
    }
}
