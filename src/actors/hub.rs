//! [`Hub`]: numbers every change, keeps the live view, fans changes out to
//! WebSocket sessions and hands them to the store.
//!
//! Each change gets a monotonic `seq` and goes into a bounded history, so a client
//! that reconnects with the last `seq` it saw gets exactly what it missed — or, when
//! the gap is older than the history, a fresh snapshot. A change is serialised to
//! JSON at most once, and only when someone reads it. Deliveries are batched: changes
//! published while the hub works through its mailbox go out together on the next
//! turn (a zero-delay timer), so a burst costs one message per client, not one per
//! change.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, OnceLock};

use actix::prelude::*;
use chrono::{DateTime, TimeZone, Utc};
use serde::Serialize;

use super::connection::SharedStatus;
use super::connection_watch::ConnectionWatch;
use super::guard::guarded;
use super::live::{SharedLive, RECENT_CALLS};
use super::messages::{Change, Publish};
use super::router::Confirmed;
use super::status::{ActorHandle, Registry};
use crate::cluster::snapshot::{CallsSnapshot, SyncCalls};
use crate::metrics::Metrics;
use crate::ws::protocol::Filter;
use crate::ws::relay::{Relay, Shares};

/// One numbered change.
#[derive(Debug)]
pub struct Envelope {
    /// Position in the stream of changes.
    pub seq: u64,
    /// When it happened (the PBX's event time when known).
    pub ts: DateTime<Utc>,
    /// What changed.
    pub change: Change,
    frame: OnceLock<bytes::Bytes>,
}

#[derive(Serialize)]
struct Wire<'a, T: Serialize> {
    seq: u64,
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(serialize_with = "crate::timefmt::utc")]
    ts: DateTime<Utc>,
    data: T,
}

/// Serialises a `{seq, type, ts, data}` message.
pub fn wire_json<T: Serialize>(seq: u64, kind: &str, ts: DateTime<Utc>, data: T) -> String {
    serde_json::to_string(&Wire {
        seq,
        kind,
        ts,
        data,
    })
    .unwrap_or_else(|e| {
        log::error!("cannot serialise a {kind} message: {e}");
        String::from("{}")
    })
}

/// `buf` holding (`pbx`, `key`), its strings' memory reused: a map key to look up
/// without allocating.
fn reuse_key<'a>(buf: &'a mut (String, String), pbx: &str, key: &str) -> &'a (String, String) {
    buf.0.clear();
    buf.0.push_str(pbx);
    buf.1.clear();
    buf.1.push_str(key);
    buf
}

/// Serialises a `{seq, type, ts, data}` message straight into a WebSocket text
/// frame (see [`crate::ws::transport::frame_after_header`]): one buffer, no copy of
/// the JSON.
fn wire_frame<T: Serialize>(seq: u64, kind: &str, ts: DateTime<Utc>, data: T) -> bytes::Bytes {
    let mut buf = crate::ws::transport::frame_buffer(512);
    let wire = Wire {
        seq,
        kind,
        ts,
        data,
    };
    if let Err(e) = serde_json::to_writer(&mut buf, &wire) {
        log::error!("cannot serialise a {kind} message: {e}");
        buf.truncate(crate::ws::transport::FRAME_HEADROOM);
        buf.extend_from_slice(b"{}");
    }
    crate::ws::transport::frame_after_header(buf)
}

impl Envelope {
    /// Change number `seq`, which happened at `ts`.
    pub fn new(seq: u64, ts: DateTime<Utc>, change: Change) -> Self {
        Self {
            seq,
            ts,
            change,
            frame: OnceLock::new(),
        }
    }

    /// The message as one encoded WebSocket text frame, serialised on first use
    /// and shared by every subscriber.
    pub fn frame(&self) -> bytes::Bytes {
        self.frame
            .get_or_init(|| {
                let (seq, ts, kind) = (self.seq, self.ts, self.change.kind());
                match &self.change {
                    Change::Extension(e) => wire_frame(seq, kind, ts, e.as_ref()),
                    Change::CallStarted(c) | Change::CallUpdated(c) | Change::CallEnded(c) => {
                        wire_frame(seq, kind, ts, c.as_ref())
                    }
                    Change::Connection(s) => wire_frame(seq, kind, ts, s.as_ref()),
                    Change::RefreshCompleted(r) => wire_frame(seq, kind, ts, r.as_ref()),
                }
            })
            .clone()
    }

    /// Changes with the same key supersede each other for a lagging client (the
    /// latest state of an extension or call is all it needs); `None` is never merged.
    pub fn conflation_key(&self) -> Option<(u8, &str, &str)> {
        match &self.change {
            Change::Extension(e) => Some((0, e.pbx.as_str(), e.extension.as_str())),
            Change::CallStarted(_) | Change::CallEnded(_) => None,
            Change::CallUpdated(c) => Some((1, c.pbx.as_str(), c.id.as_str())),
            Change::Connection(s) => Some((2, s.pbx.as_str(), "")),
            Change::RefreshCompleted(_) => None,
        }
    }
}

/// Changes for one WebSocket session.
///
/// Shared: every subscriber that takes everything gets the same list, so a flush
/// to them costs one reference count each rather than one per change each (those
/// counts were bounced between the pipeline thread and every worker thread).
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct Deliver(pub Arc<[Arc<Envelope>]>);

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

/// What a new or resuming subscriber receives first.
#[derive(Debug, Clone)]
pub enum Catchup {
    /// The full current state as one `snapshot` message (JSON) as of `seq`.
    Snapshot {
        /// The message.
        json: String,
        /// The last change it includes.
        seq: u64,
    },
    /// The changes after the client's `lastSeq` up to `seq`, filtered.
    Replay {
        /// The missed changes.
        changes: Vec<Arc<Envelope>>,
        /// The last change the replay covers.
        seq: u64,
    },
}

/// Registers a subscriber; answers its catch-up.
#[derive(Message)]
#[rtype(result = "Catchup")]
pub struct Subscribe {
    /// The session's id.
    pub id: u64,
    /// Where to deliver.
    pub client: Recipient<Deliver>,
    /// Where to say goodbye on shutdown.
    pub closer: Recipient<crate::ws::session::GoingAway>,
    /// The relay of the client's thread, which `client` joined; deliveries then go
    /// through it (`None`: straight to `client`).
    pub relay: Option<Relay>,
    /// What it wants.
    pub filter: Filter,
    /// The last `seq` it saw, when resuming.
    pub last_seq: Option<u64>,
}

/// Changes a subscriber's filter (or resumes) — answers a fresh catch-up.
#[derive(Message)]
#[rtype(result = "Option<Catchup>")]
pub struct Resubscribe {
    /// The session's id.
    pub id: u64,
    /// The new filter (unchanged when `None`).
    pub filter: Option<Filter>,
    /// Resume after this `seq` (a fresh snapshot when `None`).
    pub last_seq: Option<u64>,
}

/// Removes a subscriber.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Unsubscribe {
    /// The session's id.
    pub id: u64,
}

struct Client {
    recipient: Recipient<Deliver>,
    closer: Recipient<crate::ws::session::GoingAway>,
    relay: Option<Relay>,
    filter: Filter,
}

/// The fan-out hub.
pub struct Hub {
    live: SharedLive,
    seq: u64,
    history: VecDeque<Arc<Envelope>>,
    history_cap: usize,
    clients: HashMap<u64, Client>,
    pending: Vec<Arc<Envelope>>,
    /// Changes for the store since the last flush.
    to_store: Vec<Persist>,
    flush_scheduled: bool,
    /// Reused to look rows of the live state up by (pbx, key): its maps are keyed
    /// by owned strings, and building a key per change cost two allocations and
    /// two frees even when the row was already there.
    lookup: (String, String),
    store: Option<Recipient<PersistMany>>,
    metrics: Arc<Metrics>,
    registry: Registry,
    handle: Option<ActorHandle>,
    /// This instance's connection status cells, to repair a lost connection change.
    watch: ConnectionWatch,
}

#[path = "hub_supervision.rs"]
mod supervision;

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
            history: VecDeque::with_capacity(history_cap.min(65_536)),
            history_cap: history_cap.max(1),
            clients: HashMap::new(),
            pending: Vec::new(),
            to_store: Vec::new(),
            flush_scheduled: false,
            lookup: (String::new(), String::new()),
            store,
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

    fn apply_live(&mut self, change: &Change) {
        let Ok(mut live) = self.live.write() else {
            return;
        };
        live.seq = self.seq;
        let lookup = &mut self.lookup;
        match change {
            Change::Extension(e) if e.state == crate::state::extension::REMOVED => {
                live.extensions
                    .remove(reuse_key(lookup, &e.pbx, &e.extension));
            }
            Change::Extension(e) => {
                let key = reuse_key(lookup, &e.pbx, &e.extension);
                match live.extensions.get_mut(key) {
                    Some(slot) => *slot = Arc::clone(e),
                    None => {
                        live.extensions.insert(key.clone(), Arc::clone(e));
                    }
                }
            }
            Change::CallStarted(c) | Change::CallUpdated(c) => {
                let key = reuse_key(lookup, &c.pbx, &c.id);
                match live.calls.get_mut(key) {
                    Some(slot) => *slot = Arc::clone(c),
                    None => {
                        live.calls.insert(key.clone(), Arc::clone(c));
                    }
                }
            }
            Change::CallEnded(c) => {
                live.calls.remove(reuse_key(lookup, &c.pbx, &c.id));
                live.recent.push_back(c.clone());
                while live.recent.len() > RECENT_CALLS {
                    live.recent.pop_front();
                }
            }
            Change::Connection(s) => {
                live.connections.insert(s.pbx.clone(), s.clone());
            }
            Change::RefreshCompleted(_) => {}
        }
    }

    fn flush(&mut self) {
        self.flush_scheduled = false;
        if !self.to_store.is_empty() {
            if let Some(store) = &self.store {
                store.do_send(PersistMany(std::mem::take(&mut self.to_store)));
            }
        }
        if self.pending.is_empty() {
            return;
        }
        let batch: Arc<[Arc<Envelope>]> = std::mem::take(&mut self.pending).into();
        let now = Utc::now();
        if !self.clients.is_empty() {
            // One entry per worker thread: a handful, so a list beats a map.
            let mut by_relay: Vec<(Relay, Shares)> = Vec::new();
            for (&id, client) in &self.clients {
                let mine: Arc<[Arc<Envelope>]> = if client.filter.takes_everything() {
                    Arc::clone(&batch)
                } else {
                    batch
                        .iter()
                        .filter(|e| client.filter.matches(&e.change))
                        .cloned()
                        .collect()
                };
                if mine.is_empty() {
                    continue;
                }
                match &client.relay {
                    Some(relay) => match by_relay.iter_mut().find(|(r, _)| r.id() == relay.id()) {
                        Some((_, shares)) => shares.push((id, mine)),
                        None => by_relay.push((relay.clone(), vec![(id, mine)])),
                    },
                    None => client.recipient.do_send(Deliver(mine)),
                }
            }
            for (relay, shares) in by_relay {
                if !relay.deliver(shares) {
                    log::debug!(
                        "a WebSocket worker thread has stopped; its sessions miss this flush"
                    );
                }
            }
            for env in batch.iter() {
                let lag = (now - env.ts).num_microseconds().unwrap_or(0).max(0) as f64 / 1e6;
                self.metrics.event_delivery_seconds.observe(lag);
            }
        }
    }

    fn snapshot(&self, filter: &Filter) -> String {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Snapshot<'a> {
            extensions: Vec<&'a crate::model::Extension>,
            calls: Vec<&'a crate::model::Call>,
            recent_calls: Vec<&'a crate::model::Call>,
            connections: Vec<&'a crate::model::ConnectionStatus>,
        }
        let Ok(live) = self.live.read() else {
            return wire_json(self.seq, "snapshot", Utc::now(), serde_json::json!({}));
        };
        let ext_ok =
            |e: &crate::model::Extension| filter.matches(&Change::Extension(Arc::new(e.clone())));
        let call_ok = |c: &Arc<crate::model::Call>| filter.matches(&Change::CallUpdated(c.clone()));
        let extensions: Vec<&crate::model::Extension> =
            if filter.kind == crate::ws::protocol::FilterKind::Calls {
                Vec::new()
            } else if filter.extensions.is_none() && filter.pbx.is_none() {
                live.extensions.values().map(|e| e.as_ref()).collect()
            } else {
                live.extensions
                    .values()
                    .map(|e| e.as_ref())
                    .filter(|e| ext_ok(e))
                    .collect()
            };
        let mut calls: Vec<&Arc<crate::model::Call>> =
            live.calls.values().filter(|c| call_ok(c)).collect();
        calls.sort_by_key(|a| a.started_at);
        let recent: Vec<&crate::model::Call> = live
            .recent
            .iter()
            .filter(|c| call_ok(c))
            .map(|c| c.as_ref())
            .collect();
        let data = Snapshot {
            extensions,
            calls: calls.into_iter().map(|c| c.as_ref()).collect(),
            recent_calls: recent,
            connections: live.connections.values().map(|c| c.as_ref()).collect(),
        };
        wire_json(self.seq, "snapshot", Utc::now(), data)
    }

    fn catchup(&self, filter: &Filter, last_seq: Option<u64>) -> Catchup {
        let Some(last) = last_seq else {
            return self.snapshot_catchup(filter);
        };
        if last > self.seq {
            // A seq from before a restart of the service: the client's view is stale.
            return self.snapshot_catchup(filter);
        }
        let oldest = self.history.front().map_or(self.seq + 1, |e| e.seq);
        if last + 1 < oldest {
            return self.snapshot_catchup(filter);
        }
        let replay = self
            .history
            .iter()
            .filter(|e| e.seq > last && filter.matches(&e.change))
            .cloned()
            .collect();
        Catchup::Replay {
            changes: replay,
            seq: self.seq,
        }
    }

    fn snapshot_catchup(&self, filter: &Filter) -> Catchup {
        Catchup::Snapshot {
            json: self.snapshot(filter),
            seq: self.seq,
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

impl Hub {
    /// Numbers `msg`'s change, applies it to the live view and queues it for the
    /// subscribers and the store.
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
        if self.store.is_some() && !matches!(msg.change, Change::RefreshCompleted(_)) {
            self.to_store.push(Persist::Change(msg.change.clone()));
        }
        let env = Arc::new(Envelope::new(self.seq, ts, msg.change));
        if self.history.len() >= self.history_cap {
            self.history.pop_front();
        }
        self.history.push_back(env.clone());
        if !self.clients.is_empty() {
            self.pending.push(env);
        }
        self.schedule_flush(ctx);
    }
}

impl Hub {
    /// Makes sure a flush runs once the messages already queued are handled, so
    /// one flush carries every change of a burst. Not `run_later(ZERO)`: tokio
    /// rounds a timer up to its next millisecond tick, which added 0.5–1 ms to
    /// every change's way to the subscribers.
    fn schedule_flush(&mut self, ctx: &mut Context<Self>) {
        if !self.flush_scheduled && (!self.pending.is_empty() || !self.to_store.is_empty()) {
            self.flush_scheduled = true;
            ctx.notify(FlushPending);
        }
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

impl Handler<SyncCalls> for Hub {
    type Result = ();

    fn handle(&mut self, msg: SyncCalls, ctx: &mut Context<Self>) {
        guarded(self, ctx, "SyncCalls", |act, ctx| act.sync_calls(msg, ctx));
    }
}

impl Hub {
    /// Brings the live view of one PBX's calls to a take-over snapshot.
    fn sync_calls(&mut self, msg: SyncCalls, ctx: &mut Context<Self>) {
        let current = match self.live.read() {
            Ok(live) => live.calls(Some(&msg.snapshot.pbx)),
            Err(_) => return,
        };
        let changes = msg.snapshot.changes(&current);
        if !changes.is_empty() {
            log::info!(
                "pbx {}: {} call changes to match the take-over snapshot",
                msg.snapshot.pbx,
                changes.len()
            );
        }
        for change in changes {
            self.publish(Publish::new(change, None), ctx);
        }
        if msg.feed && self.store.is_some() {
            self.to_store.push(Persist::Snapshot(msg.snapshot));
            self.schedule_flush(ctx);
        }
    }
}

impl Handler<Confirmed> for Hub {
    type Result = ();

    fn handle(&mut self, msg: Confirmed, ctx: &mut Context<Self>) {
        guarded(self, ctx, "Confirmed", |act, ctx| act.confirmed(msg, ctx));
    }
}

impl Hub {
    /// Stamps extensions the PBX confirmed and queues the confirmation for the store.
    fn confirmed(&mut self, msg: Confirmed, ctx: &mut Context<Self>) {
        if let Ok(mut live) = self.live.write() {
            for exten in &msg.extensions {
                if let Some(e) = live
                    .extensions
                    .get_mut(&(msg.pbx.to_string(), exten.clone()))
                {
                    let mut updated = e.as_ref().clone();
                    updated.last_confirmed = Some(msg.at);
                    *e = Arc::new(updated);
                }
            }
        }
        if self.store.is_some() {
            // Queued behind the changes before it, which it must not overtake.
            self.to_store.push(Persist::Confirmed(msg));
            self.schedule_flush(ctx);
        }
    }
}

impl Handler<Subscribe> for Hub {
    type Result = MessageResult<Subscribe>;

    fn handle(&mut self, msg: Subscribe, _: &mut Context<Self>) -> Self::Result {
        // Changes not yet flushed would arrive after the catch-up and duplicate it.
        self.flush();
        let catchup = self.catchup(&msg.filter, msg.last_seq);
        self.clients.insert(
            msg.id,
            Client {
                recipient: msg.client,
                closer: msg.closer,
                relay: msg.relay,
                filter: msg.filter,
            },
        );
        self.metrics.subscribers.set(self.clients.len() as i64);
        MessageResult(catchup)
    }
}

impl Handler<Resubscribe> for Hub {
    type Result = Option<Catchup>;

    fn handle(&mut self, msg: Resubscribe, _: &mut Context<Self>) -> Option<Catchup> {
        self.flush();
        let seq = self.seq;
        let client = self.clients.get_mut(&msg.id)?;
        if let Some(f) = msg.filter {
            client.filter = f;
        }
        let filter = client.filter.clone();
        let last = msg.last_seq.map(|l| l.min(seq));
        Some(self.catchup(&filter, last))
    }
}

impl Handler<Unsubscribe> for Hub {
    type Result = ();

    fn handle(&mut self, msg: Unsubscribe, _: &mut Context<Self>) {
        self.clients.remove(&msg.id);
        self.metrics.subscribers.set(self.clients.len() as i64);
    }
}

/// The hub's current sequence number and subscriber count (health, tests).
#[derive(Message)]
#[rtype(result = "(u64, usize)")]
pub struct GetHubStats;

impl Handler<GetHubStats> for Hub {
    type Result = MessageResult<GetHubStats>;

    fn handle(&mut self, _: GetHubStats, _: &mut Context<Self>) -> Self::Result {
        MessageResult((self.seq, self.clients.len()))
    }
}

/// Closes every WebSocket client with 1001 (going away): graceful shutdown.
#[derive(Message)]
#[rtype(result = "usize")]
pub struct CloseAll;

impl Handler<CloseAll> for Hub {
    type Result = usize;

    fn handle(&mut self, _: CloseAll, _: &mut Context<Self>) -> usize {
        self.flush();
        for client in self.clients.values() {
            client.closer.do_send(crate::ws::session::GoingAway);
        }
        self.clients.len()
    }
}
