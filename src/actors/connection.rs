//! [`ConnectionActor`]: owns one PBX's AMI socket for the life of the service.
//!
//! Connects with a timeout, logs in (MD5 challenge or plain), keeps the connection
//! alive with `Ping`, notices a dead peer (EOF, `Shutdown`, or a Ping left
//! unanswered — a half-open socket or a frozen PBX), and reconnects with capped
//! exponential backoff and jitter. After every login it resynchronises: it asks for
//! `CoreShowChannels` and `ExtensionStateList` so nothing stale survives a gap.
//!
//! The socket reader never waits on anything slow (Asterisk drops a client that does
//! not read within its `writetimeout`, 100 ms by default): each read is decoded,
//! correlated and handed to the router as one batch with a non-blocking send; the
//! database and the fan-out happen on other actors. Only a router that is truly
//! behind pauses the reader: a [`BatchGate`] bounds the reads waiting for it, so a
//! flooding PBX meets TCP backpressure rather than an ever-growing mailbox.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use actix::io::{FramedWrite, WriteHandler};
use actix::prelude::*;
use bytes::{Bytes, BytesMut};
use chrono::Utc;
use futures::StreamExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::oneshot;
use tokio_util::codec::FramedRead;

use super::backoff::Backoff;
use super::backpressure::{BatchGate, BatchTicket};
use super::login::{connect_and_login, AmiEndpoint, LoggedIn};
use super::messages::{
    AmiReply, Change, ConfirmExtensions, EventBatch, InjectPanic, Publish, ReadState,
    ResyncChannels, SendAction,
};
use crate::ami::{
    event_names, Action, ActionIds, AmiCodec, AmiError, AmiMessage, Correlated, Correlator, Event,
    Frame,
};
use crate::metrics::Metrics;
use crate::model::{ConnectionStatus, HintStatus};
use crate::supervision::guarded;
use crate::supervision::{ActorHandle, Registry};

/// How many frames one batch may hold: bounds the latency one batch adds.
const MAX_BATCH: usize = 512;
/// How often pending actions are checked against their deadlines.
const DEADLINE_TICK: Duration = Duration::from_millis(100);

/// The connection's view shared with the health endpoint (read without messaging).
pub type SharedStatus = Arc<RwLock<ConnectionStatus>>;

/// Tunables of one connection.
#[derive(Debug, Clone)]
pub struct ConnectionSettings {
    /// Where and how to log in.
    pub endpoint: AmiEndpoint,
    /// Time between keep-alive Pings.
    pub ping_interval: Duration,
    /// How long a Ping may go unanswered before the peer is declared dead.
    pub ping_timeout: Duration,
    /// Reconnect schedule after a lost or refused connection.
    pub backoff: (Duration, Duration),
    /// Reconnect schedule after a refused login (slower: never hammer a PBX with logins).
    pub login_backoff: (Duration, Duration),
    /// Distinguishes this process's ActionIDs from other instances'.
    pub instance: u32,
    /// Socket reads that may wait for the router at once (`ROUTER_MAX_QUEUED_BATCHES`).
    pub max_queued_batches: usize,
}

/// Who waits for a reply.
enum Pending {
    Caller(oneshot::Sender<Result<AmiReply, AmiError>>),
    Ping,
    ResyncChannels,
    ResyncExtensions,
}

/// Where a connection sends what it receives.
#[derive(Clone)]
pub struct ConnectionTargets {
    /// Live events.
    pub events: Recipient<EventBatch>,
    /// Channel lists after login.
    pub channels: Recipient<ResyncChannels>,
    /// Extension lists after login.
    pub extensions: Recipient<ConfirmExtensions>,
    /// Connection state changes.
    pub publish: Recipient<Publish>,
}

/// The long-lived AMI connection of one PBX.
pub struct ConnectionActor {
    settings: ConnectionSettings,
    pbx: Arc<str>,
    targets: ConnectionTargets,
    registry: Registry,
    handle: Option<ActorHandle>,
    status: SharedStatus,
    metrics: Arc<Metrics>,
    correlator: Correlator<Pending>,
    writer: Option<FramedWrite<Bytes, OwnedWriteHalf, AmiCodec>>,
    reader: Option<SpawnHandle>,
    epoch: u64,
    backoff: Backoff,
    login_backoff: Backoff,
    ping_outstanding: bool,
    last_boot: Option<(u64, Instant)>,
    shutdown_seen: bool,
    counters: HashMap<&'static str, prometheus::IntCounter>,
    /// Bounds the reads waiting for the router (backpressure instead of loss).
    gate: BatchGate,
    /// The ticket of the read being handled, carried by each batch made from it.
    ticket: Option<BatchTicket>,
    ever_connected: bool,
    /// Set by [`LogOff`]: the service is stopping, so never connect again (not
    /// after the PBX closes the socket on our Logoff, not after a supervisor restart).
    stopping: bool,
    /// Cluster mode, another instance holds this PBX: no socket at all.
    standby: bool,
    /// A login in progress (its result is dropped if standby came meanwhile).
    connecting: bool,
    /// The pending reconnect timer, cancelled when going standby.
    retry: Option<SpawnHandle>,
}

impl ConnectionActor {
    /// A fresh status cell for `pbx`, created before the actor (which is built on its
    /// own arbiter) so other parts can hold it.
    pub fn status_for(pbx: &str) -> SharedStatus {
        Arc::new(RwLock::new(ConnectionStatus {
            pbx: pbx.to_string(),
            state: "disconnected".to_string(),
            since: Utc::now(),
            last_event: None,
            reconnects: 0,
            next_attempt: None,
            last_error: None,
            banner: None,
            pbx_uptime_secs: None,
            pbx_restarted: false,
        }))
    }

    /// A connection for `settings` reporting into `status`, not yet started (start
    /// it under a `Supervisor`).
    pub fn new(
        settings: ConnectionSettings,
        targets: ConnectionTargets,
        registry: Registry,
        metrics: Arc<Metrics>,
        status: SharedStatus,
    ) -> Self {
        let pbx: Arc<str> = Arc::from(settings.endpoint.pbx.as_str());
        let (b0, b1) = settings.backoff;
        let (l0, l1) = settings.login_backoff;
        let gate = BatchGate::new(settings.max_queued_batches, &metrics, &pbx);
        Self {
            gate,
            ticket: None,
            correlator: Correlator::new(ActionIds::new(settings.instance, 0)),
            settings,
            pbx,
            targets,
            registry,
            handle: None,
            status,
            metrics,
            writer: None,
            reader: None,
            epoch: 0,
            backoff: Backoff::new(b0, b1),
            login_backoff: Backoff::new(l0, l1),
            ping_outstanding: false,
            last_boot: None,
            shutdown_seen: false,
            counters: HashMap::new(),
            ever_connected: false,
            stopping: false,
            standby: false,
            connecting: false,
            retry: None,
        }
    }

    /// Starts on standby (cluster mode: another instance may hold this PBX's lease);
    /// [`SetActive`] brings the connection up.
    pub fn on_standby(mut self) -> Self {
        self.standby = true;
        self
    }

    /// The shared status cell (read by health and admin endpoints).
    pub fn status_cell(&self) -> SharedStatus {
        self.status.clone()
    }

    fn set_state(&mut self, state: &'static str, error: Option<String>) {
        let snapshot = {
            let Ok(mut s) = self.status.write() else {
                return;
            };
            s.state = state.to_string();
            s.since = Utc::now();
            if error.is_some() || state == "connected" {
                s.last_error = error;
            }
            if state != "backingOff" && state != "loginRefused" {
                s.next_attempt = None;
            }
            s.clone()
        };
        if let Some(h) = &self.handle {
            h.set_state(state);
        }
        self.metrics.set_ami_state(&self.pbx, state);
        if state == "standby" {
            // The holder's connection state reaches subscribers through the feed.
            return;
        }
        // do_send, never try_send: a full mailbox must delay a state change, not
        // drop it (twenty PBXs connecting at once overflowed the hub's, and the board
        // showed connected PBXs as `connecting` until their next transition).
        self.targets
            .publish
            .do_send(Publish::new(Change::Connection(Arc::new(snapshot)), None));
    }

    fn connect(&mut self, ctx: &mut Context<Self>) {
        self.retry = None;
        if self.stopping || self.standby || self.connecting {
            return;
        }
        self.connecting = true;
        self.epoch += 1;
        let ids = ActionIds::new(self.settings.instance, self.epoch);
        for pending in self.correlator.reset(ids.clone()) {
            fail(pending, AmiError::Closed("reconnecting"));
        }
        self.ping_outstanding = false;
        self.set_state("connecting", None);
        let endpoint = self.settings.endpoint.clone();
        let mut login_ids = ActionIds::new(self.settings.instance, self.epoch * 1_000_000);
        let fut = async move { connect_and_login(&endpoint, &mut login_ids).await };
        ctx.spawn(fut.into_actor(self).map(|res, act, ctx| {
            act.connecting = false;
            match res {
                // Fenced while logging in: the session is dropped unused.
                Ok(_) if act.standby => {}
                Ok(session) => act.logged_in(session, ctx),
                Err(_) if act.standby => {}
                Err(err) => act.connect_failed(err, ctx),
            }
        }));
    }

    fn logged_in(&mut self, session: LoggedIn, ctx: &mut Context<Self>) {
        if self.stopping {
            // A login that finished after the service began stopping: drop it.
            return;
        }
        let LoggedIn {
            framed,
            banner,
            elapsed,
        } = session;
        self.metrics.login_seconds.observe(elapsed.as_secs_f64());
        let parts = framed.into_parts();
        let (read_half, write_half) = parts.io.into_split();
        let mut reader = FramedRead::new(read_half, parts.codec);
        *reader.read_buffer_mut() = parts.read_buf;
        self.reader = Some(ctx.add_stream(self.gate.gate(reader.ready_chunks(MAX_BATCH))));
        let mut writer = FramedWrite::new(write_half, AmiCodec::default(), ctx);
        if !parts.write_buf.is_empty() {
            writer.write(parts.write_buf.freeze());
        }
        self.writer = Some(writer);
        self.backoff.reset();
        self.login_backoff.reset();
        if self.ever_connected {
            self.metrics
                .reconnects
                .with_label_values(&[&self.pbx])
                .inc();
            if let Ok(mut s) = self.status.write() {
                s.reconnects += 1;
            }
        }
        self.ever_connected = true;
        if let Ok(mut s) = self.status.write() {
            s.banner = Some(banner.clone());
        }
        log::info!(
            "pbx {}: logged in to {} ({banner}) in {:.2} ms",
            self.pbx,
            self.settings.endpoint.address(),
            elapsed.as_secs_f64() * 1000.0
        );
        self.set_state("connected", None);
        self.resync(ctx);
    }

    fn connect_failed(&mut self, err: AmiError, ctx: &mut Context<Self>) {
        if self.stopping {
            return;
        }
        let refused = matches!(err, AmiError::LoginRefused(_));
        let delay = if refused {
            self.login_backoff.next_delay()
        } else {
            self.backoff.next_delay()
        };
        let text = err.to_string();
        if refused {
            log::error!(
                "pbx {}: login to {} refused ({text}); next attempt in {:.1} s",
                self.pbx,
                self.settings.endpoint.address(),
                delay.as_secs_f64()
            );
        } else {
            log::warn!(
                "pbx {}: cannot connect to {} ({text}); next attempt in {:.1} s",
                self.pbx,
                self.settings.endpoint.address(),
                delay.as_secs_f64()
            );
        }
        self.schedule_reconnect(
            delay,
            if refused {
                "loginRefused"
            } else {
                "backingOff"
            },
            Some(text),
            ctx,
        );
    }

    fn schedule_reconnect(
        &mut self,
        delay: Duration,
        state: &'static str,
        error: Option<String>,
        ctx: &mut Context<Self>,
    ) {
        if let Ok(mut s) = self.status.write() {
            s.next_attempt = chrono::Duration::from_std(delay)
                .ok()
                .map(|d| Utc::now() + d);
        }
        self.set_state(state, error);
        self.retry = Some(ctx.run_later(delay, |act, ctx| act.connect(ctx)));
    }

    /// Drops the current socket and schedules a reconnect.
    fn disconnected(&mut self, reason: &str, ctx: &mut Context<Self>) {
        if self.writer.is_none() && self.reader.is_none() {
            return;
        }
        if let Some(handle) = self.reader.take() {
            ctx.cancel_future(handle);
        }
        if let Some(mut w) = self.writer.take() {
            w.close();
        }
        for pending in self
            .correlator
            .reset(ActionIds::new(self.settings.instance, self.epoch))
        {
            fail(pending, AmiError::Closed("the connection was lost"));
        }
        self.ping_outstanding = false;
        if self.stopping {
            // Our own Logoff closed it: the service is stopping, no reconnect.
            self.set_state("disconnected", None);
            return;
        }
        let delay = if self.shutdown_seen {
            // A restarting Asterisk accepts connections again after about half a second.
            self.backoff.next_delay().max(Duration::from_millis(200))
        } else {
            self.backoff.next_delay()
        };
        log::warn!(
            "pbx {}: connection lost ({reason}); reconnecting in {:.2} s",
            self.pbx,
            delay.as_secs_f64()
        );
        self.schedule_reconnect(delay, "backingOff", Some(reason.to_string()), ctx);
    }

    fn send_action(
        &mut self,
        action: Action,
        pending: Pending,
        timeout: Duration,
    ) -> Result<(), AmiError> {
        let Some(writer) = self.writer.as_mut() else {
            fail(pending, AmiError::Closed("not connected"));
            return Err(AmiError::Closed("not connected"));
        };
        let action = self
            .correlator
            .register(action, pending, Instant::now() + timeout);
        let mut buf = BytesMut::with_capacity(128);
        action.encode_into(&mut buf)?;
        writer.write(buf.freeze());
        Ok(())
    }

    fn resync(&mut self, ctx: &mut Context<Self>) {
        let timeout = Duration::from_secs(30);
        let _ = self.send_action(
            Action::core_show_channels(),
            Pending::ResyncChannels,
            timeout,
        );
        let _ = self.send_action(
            Action::extension_state_list(),
            Pending::ResyncExtensions,
            timeout,
        );
        let _ = ctx;
    }

    fn tick(&mut self, ctx: &mut Context<Self>) {
        let now = Instant::now();
        let mut dead = false;
        for (id, pending) in self.correlator.expire(now) {
            match pending {
                Pending::Ping => dead = true,
                Pending::ResyncChannels | Pending::ResyncExtensions => {
                    log::warn!("pbx {}: resync list {id} timed out", self.pbx);
                }
                other => fail(
                    other,
                    AmiError::Timeout(Duration::ZERO, "waiting for a reply"),
                ),
            }
        }
        if dead {
            self.disconnected("no reply to Ping in time (peer frozen or half-open)", ctx);
        }
    }

    fn ping(&mut self) {
        if self.writer.is_some() && !self.ping_outstanding {
            self.ping_outstanding = true;
            let _ = self.send_action(Action::ping(), Pending::Ping, self.settings.ping_timeout);
        }
    }

    /// Counts by Asterisk's own event names; any other name counts as `other`, so a PBX
    /// inventing names cannot grow the metric registry (or this cache).
    fn count_event(&mut self, event: &Event) {
        let name = event_names::label(event.name());
        if let Some(c) = self.counters.get(name) {
            c.inc();
            return;
        }
        let c = self.metrics.events.with_label_values(&[&self.pbx, name]);
        c.inc();
        self.counters.insert(name, c);
    }

    fn on_live_event(&mut self, event: &Event) {
        match event.name() {
            "FullyBooted" => self.on_fully_booted(event),
            "Shutdown" => {
                let restart = event
                    .get("Restart")
                    .is_some_and(|r| r.eq_ignore_ascii_case("true"));
                log::warn!(
                    "pbx {}: PBX is shutting down ({}{})",
                    self.pbx,
                    event.get("Shutdown").unwrap_or("?"),
                    if restart { ", restarting" } else { "" }
                );
                self.shutdown_seen = true;
            }
            _ => {}
        }
    }

    /// Tells a PBX restart from a plain reconnect: after a restart the PBX's uptime is
    /// shorter than the uptime it reported last time plus the time since.
    fn on_fully_booted(&mut self, event: &Event) {
        let Some(uptime) = event
            .get("Uptime")
            .and_then(|u| u.trim().parse::<u64>().ok())
        else {
            return;
        };
        let restarted = match self.last_boot {
            Some((prev, at)) => {
                let expected = prev + at.elapsed().as_secs();
                uptime + 2 < expected || self.shutdown_seen
            }
            None => false,
        };
        self.last_boot = Some((uptime, Instant::now()));
        self.shutdown_seen = false;
        if let Ok(mut s) = self.status.write() {
            s.pbx_uptime_secs = Some(uptime);
            s.pbx_restarted = restarted;
        }
        if restarted {
            log::warn!(
                "pbx {}: the PBX restarted (uptime {uptime} s); state is being rebuilt",
                self.pbx
            );
        } else {
            log::info!("pbx {}: PBX fully booted, uptime {uptime} s", self.pbx);
        }
        self.set_state("connected", None);
    }

    fn on_frames(&mut self, frames: Vec<Result<Frame, std::io::Error>>, ctx: &mut Context<Self>) {
        let mut events = Vec::with_capacity(frames.len());
        let mut failure = None;
        let mut going_away = false;
        let now_wall = Utc::now();
        let now_secs = now_wall.timestamp_micros() as f64 / 1e6;
        let receipt = self
            .metrics
            .event_receipt_seconds
            .with_label_values(&[&self.pbx]);
        for frame in frames {
            match frame {
                Ok(Frame::Message(raw)) => match AmiMessage::classify(raw) {
                    Ok(msg) => match self.correlator.accept(msg) {
                        Correlated::Live(event) => {
                            self.count_event(&event);
                            if let Some(ts) = event.timestamp() {
                                receipt.observe((now_secs - ts).max(0.0));
                            }
                            self.on_live_event(&event);
                            going_away |= event.name() == "Shutdown";
                            events.push(event);
                        }
                        Correlated::Reply { token, response } => {
                            self.send_events(&mut events);
                            self.on_reply(token, AmiReply::Response(response))
                        }
                        Correlated::List {
                            token,
                            response,
                            items,
                            ..
                        } => {
                            self.send_events(&mut events);
                            self.on_reply(token, AmiReply::List { response, items })
                        }
                        Correlated::Absorbed | Correlated::Stale(_) => {}
                    },
                    Err(e) => {
                        self.metrics.malformed.with_label_values(&[&self.pbx]).inc();
                        log::warn!("pbx {}: unclassifiable message: {e}", self.pbx);
                    }
                },
                Ok(Frame::Malformed(e)) => {
                    self.metrics.malformed.with_label_values(&[&self.pbx]).inc();
                    log::warn!("pbx {}: malformed input skipped: {e}", self.pbx);
                }
                Ok(Frame::Banner(_)) => {}
                Err(e) => failure = Some(e),
            }
        }
        self.send_events(&mut events);
        if let Some(e) = failure {
            self.disconnected(&format!("read error: {e}"), ctx);
        } else if going_away {
            // The PBX is going away: nothing more is sent on this socket (no Ping, no
            // login), even if the peer keeps it open; reconnect with backoff instead.
            self.disconnected("the PBX announced a shutdown", ctx);
        }
    }

    /// Hands the events read so far to the router as one batch. Called before any
    /// reply is dispatched too: a resync list must reach the router after the events
    /// that came before it on the wire (a Hangup read just ahead of the channel list
    /// would otherwise arrive after the resync had closed its call as lost, and start
    /// a new, never-ending call).
    fn send_events(&mut self, events: &mut Vec<Event>) {
        if events.is_empty() {
            return;
        }
        if let Ok(mut s) = self.status.write() {
            s.last_event = Some(Utc::now());
        }
        if let Some(h) = &self.handle {
            h.handled_n(events.len() as u64);
        }
        let batch = EventBatch {
            pbx: self.pbx.clone(),
            events: std::mem::take(events),
            ticket: self.ticket.clone(),
        };
        // do_send never waits; the ticket bounds how many such reads are queued.
        self.targets.events.do_send(batch);
    }

    fn on_reply(&mut self, token: Pending, reply: AmiReply) {
        match token {
            Pending::Caller(tx) => {
                let _ = tx.send(Ok(reply));
            }
            Pending::Ping => self.ping_outstanding = false,
            Pending::ResyncChannels => {
                let items = match reply {
                    AmiReply::List { items, .. } => items,
                    AmiReply::Response(_) => Vec::new(),
                };
                log::info!(
                    "pbx {}: resync: {} channels up on the PBX",
                    self.pbx,
                    items.len()
                );
                self.targets.channels.do_send(ResyncChannels {
                    pbx: self.pbx.clone(),
                    items,
                });
            }
            Pending::ResyncExtensions => {
                let states = match reply {
                    AmiReply::List { items, .. } => items.iter().filter_map(read_state).collect(),
                    AmiReply::Response(r) => {
                        log::info!(
                            "pbx {}: resync: no extension states ({})",
                            self.pbx,
                            r.message().unwrap_or("no message")
                        );
                        Vec::new()
                    }
                };
                self.targets.extensions.do_send(ConfirmExtensions {
                    pbx: self.pbx.clone(),
                    states,
                    at: Utc::now(),
                });
            }
        }
    }
}

/// An `ExtensionStatus` list item (or `ExtensionState` reply fields) as a [`ReadState`].
pub fn read_state(item: &Event) -> Option<ReadState> {
    read_state_fields(|k| item.get(k))
}

/// Builds a [`ReadState`] from any header lookup (events and replies share the names).
pub fn read_state_fields<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Option<ReadState> {
    let exten = get("Exten").filter(|e| !e.is_empty())?;
    let status = get("Status")?.trim().parse::<i32>().ok()?;
    Some(ReadState {
        exten: exten.to_string(),
        context: get("Context").unwrap_or("").to_string(),
        hint: get("Hint").filter(|h| !h.is_empty()).map(str::to_string),
        status: HintStatus(status),
        status_text: get("StatusText").map(str::to_string),
    })
}

fn fail(pending: Pending, err: AmiError) {
    if let Pending::Caller(tx) = pending {
        let _ = tx.send(Err(err));
    }
}

impl Actor for ConnectionActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        if self.handle.is_none() {
            self.handle = Some(self.registry.register("connection", self.pbx.to_string()));
        }
        ctx.run_interval(DEADLINE_TICK, |act, ctx| {
            guarded(act, ctx, "deadline tick", |act, ctx| act.tick(ctx));
        });
        let every = self.settings.ping_interval;
        ctx.run_interval(every, |act, _| act.ping());
        self.connecting = false;
        if self.standby {
            self.set_state("standby", None);
        } else {
            self.connect(ctx);
        }
    }
}

impl Supervised for ConnectionActor {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        if let Some(h) = &self.handle {
            h.restarted();
        }
        self.metrics
            .actor_restarts
            .with_label_values(&["connection"])
            .inc();
        self.reader = None;
        if let Some(mut w) = self.writer.take() {
            w.close();
        }
        for pending in self
            .correlator
            .reset(ActionIds::new(self.settings.instance, self.epoch))
        {
            fail(pending, AmiError::Closed("connection actor restarted"));
        }
    }
}

/// One socket read's frames and its place in the router's bounded queue.
type GatedRead = (Vec<Result<Frame, std::io::Error>>, BatchTicket);

impl StreamHandler<GatedRead> for ConnectionActor {
    fn handle(&mut self, (frames, ticket): GatedRead, ctx: &mut Context<Self>) {
        // Every batch of this read carries the ticket; it returns its permit once the
        // router has routed them all (at once when the read held no event).
        self.ticket = Some(ticket);
        guarded(self, ctx, "AMI frames", |act, ctx| {
            act.on_frames(frames, ctx)
        });
        self.ticket = None;
    }

    fn finished(&mut self, ctx: &mut Context<Self>) {
        let reason = if self.shutdown_seen {
            "the PBX shut down"
        } else {
            "the PBX closed the connection"
        };
        self.disconnected(reason, ctx);
    }
}

impl WriteHandler<std::io::Error> for ConnectionActor {
    fn error(&mut self, err: std::io::Error, ctx: &mut Context<Self>) -> Running {
        self.disconnected(&format!("write error: {err}"), ctx);
        Running::Continue
    }

    fn finished(&mut self, _ctx: &mut Context<Self>) {}
}

impl Handler<SendAction> for ConnectionActor {
    type Result = ResponseFuture<Result<AmiReply, AmiError>>;

    fn handle(&mut self, msg: SendAction, _ctx: &mut Context<Self>) -> Self::Result {
        let (tx, rx) = oneshot::channel();
        let timeout = msg.timeout;
        let sent = self.send_action(msg.action, Pending::Caller(tx), timeout);
        Box::pin(async move {
            sent?;
            match rx.await {
                Ok(reply) => reply,
                Err(_) => Err(AmiError::Closed("waiting for a reply")),
            }
            .map_err(|e| match e {
                AmiError::Timeout(_, what) => AmiError::Timeout(timeout, what),
                other => other,
            })
        })
    }
}

impl Handler<InjectPanic> for ConnectionActor {
    type Result = ();

    fn handle(&mut self, _: InjectPanic, ctx: &mut Context<Self>) {
        guarded(self, ctx, "InjectPanic", |_, _| {
            panic!("injected panic (fault test)")
        });
    }
}

/// Asks for the connection's current status.
#[derive(Message)]
#[rtype(result = "ConnectionStatus")]
pub struct GetStatus;

impl Handler<GetStatus> for ConnectionActor {
    type Result = MessageResult<GetStatus>;

    fn handle(&mut self, _: GetStatus, _: &mut Context<Self>) -> Self::Result {
        let status = self
            .status
            .read()
            .map(|s| s.clone())
            .unwrap_or_else(|p| p.into_inner().clone());
        MessageResult(status)
    }
}

/// Closes the connection politely (Logoff) for a graceful shutdown.
#[derive(Message)]
#[rtype(result = "()")]
pub struct LogOff;

impl Handler<LogOff> for ConnectionActor {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, _: LogOff, _ctx: &mut Context<Self>) -> Self::Result {
        self.stopping = true;
        let (tx, rx) = oneshot::channel();
        let sent = self
            .send_action(
                Action::logoff(),
                Pending::Caller(tx),
                Duration::from_millis(500),
            )
            .is_ok();
        Box::pin(
            async move {
                if sent {
                    let _ = tokio::time::timeout(Duration::from_millis(600), rx).await;
                }
            }
            .into_actor(self)
            .map(|_, act, ctx| {
                if let Some(h) = act.reader.take() {
                    ctx.cancel_future(h);
                }
                if let Some(mut w) = act.writer.take() {
                    w.close();
                }
                act.set_state("disconnected", None);
                // Not `ctx.stop()`: the supervisor would restart the actor, and a
                // restarted connection logs in again. It stays idle until its
                // arbiter stops.
            }),
        )
    }
}

/// Cluster mode: this instance took (`true`) or lost (`false`) the PBX's lease.
/// Going standby stops reading at once (no event of a fenced instance reaches the
/// router), sends Logoff and closes the socket; going active connects and logs in
/// (the login's resync then rebuilds the state).
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct SetActive(pub bool);

impl Handler<SetActive> for ConnectionActor {
    type Result = ();

    fn handle(&mut self, msg: SetActive, ctx: &mut Context<Self>) {
        if msg.0 {
            if self.standby {
                log::info!("pbx {}: lease held here; connecting", self.pbx);
                self.standby = false;
                self.backoff.reset();
                self.connect(ctx);
            }
            return;
        }
        if self.standby {
            return;
        }
        self.standby = true;
        if let Some(handle) = self.retry.take() {
            ctx.cancel_future(handle);
        }
        if let Some(handle) = self.reader.take() {
            ctx.cancel_future(handle);
        }
        let _ = self.send_action(Action::logoff(), Pending::Ping, Duration::from_millis(500));
        if let Some(mut w) = self.writer.take() {
            w.close();
        }
        for pending in self
            .correlator
            .reset(ActionIds::new(self.settings.instance, self.epoch))
        {
            fail(
                pending,
                AmiError::Closed("standing by: another instance holds the PBX"),
            );
        }
        self.ping_outstanding = false;
        log::warn!(
            "pbx {}: standing by (lease not held here); logged off",
            self.pbx
        );
        self.set_state("standby", None);
    }
}
