//! [`WsSession`]: one actor per WebSocket client.
//!
//! On start it subscribes to the hub with its filter (and the `lastSeq` it resumes
//! from) and sends the catch-up — a snapshot, or the missed changes — before any
//! live change. Live changes are queued on the client's bounded [`Outbox`]. When the
//! client falls behind (the queue is full, in frames or in bytes), changes wait in a
//! [`Backlog`] where each extension and each call keeps only its latest value
//! (conflation); a client whose queue and backlog still hold too much is closed with
//! a reason (1008, "too slow"). What one client costs is bounded by `WS_QUEUE_BYTES`
//! plus one snapshot, whatever it sends: it has at most one snapshot in flight
//! (subscribe and resume messages that arrive meanwhile are merged into the next
//! catch-up), and a client sending more than `WS_CONTROL_RATE` messages a second is
//! closed (1008, after a `TOO_MANY_MESSAGES` error). A heartbeat closes clients
//! that stopped answering.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_http::ws::{CloseCode, CloseReason, Frame, Message, ProtocolError};
use bytes::Bytes;
use chrono::Utc;

mod catchup;
mod outflow;

use super::backlog::Backlog;
use super::protocol::ClientMessage;
use super::rate::ControlRate;
use super::relay::Relay;
use super::transport::{Outbox, SendError};
use crate::actors::hub::Hub;
use crate::delivery::{wire_json, Deliver, Envelope, Filter, GoingAway, Subscribe, Unsubscribe};
use crate::metrics::Metrics;
use crate::supervision::{ActorHandle, BytesGauge, Registry};

/// How often the server pings.
pub const HEARTBEAT: Duration = Duration::from_secs(10);
/// A client silent this long is closed.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);
/// A client with a backlog that took nothing from its queue this long is lagging:
/// its backlog is conflated from then on.
pub const STALL: Duration = Duration::from_secs(1);
/// A backlog this many times the limit is conflated even while the client still
/// takes from its queue: the bound on what one session holds (64 × `WS_QUEUE`
/// shared changes, 512 KiB of pointers at the default). At 16 a prompt reader that
/// paused for a fifth of a second during a burst of 100,000 changes a second lost
/// changes to conflation; a reader that stopped is caught by [`STALL`] instead.
const BACKLOG_HARD_FACTOR: usize = 64;
/// How long a client closed for its behaviour keeps its connection (unless it
/// answers the close first) so that what was queued, and the close frame with its
/// reason, can still reach it. Stopping once the close frame was handed to the
/// connection was too early: actix ends a connection a second after its response
/// does, whatever is still in its write buffer, and a client that had stopped
/// reading needs longer than that to take what is queued.
pub const CLOSE_LINGER: Duration = Duration::from_secs(5);

/// Settings of one session.
#[derive(Clone)]
pub struct SessionSettings {
    /// The hub.
    pub hub: Addr<Hub>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Actor registry.
    pub registry: Registry,
    /// Backlog size (after conflation) at which a client is dropped.
    pub backlog_limit: usize,
    /// Bytes of frames queued for the client (queue and backlog, the snapshot in
    /// flight aside) beyond which the backlog is conflated, and the client closed
    /// if that does not free a quarter of it.
    pub queue_bytes: usize,
    /// Messages a second the client may send (see [`ControlRate`]).
    pub control_rate: u32,
}

/// A catch-up the client asked for that is not requested from the hub yet: the
/// subscribe and resume messages of a burst merge into one (the latest filter, and
/// the last message's `lastSeq`).
#[derive(Debug, Default)]
struct Wanted {
    filter: Option<Filter>,
    last_seq: Option<u64>,
}

/// Where the client's latest snapshot is.
#[derive(Debug)]
enum Snapshot {
    /// None on its way.
    Done,
    /// Built, waiting for room in the queue (replaced by a newer catch-up).
    Waiting(Bytes),
    /// In the queue as frame number `position`, of `len` bytes.
    Queued { position: u64, len: usize },
}

/// One WebSocket client.
pub struct WsSession {
    id: u64,
    settings: SessionSettings,
    outbox: Outbox,
    filter: Filter,
    resume_from: Option<u64>,
    ready: bool,
    held: Vec<Arc<Envelope>>,
    floor: u64,
    backlog: Backlog,
    /// Backlog length left by the last conflation (0: none since it was empty).
    conflated_len: usize,
    retry_scheduled: bool,
    snapshot: Snapshot,
    /// A catch-up request to the hub is on its way.
    requesting: bool,
    wanted: Option<Wanted>,
    /// Waiting for the queued snapshot to leave before requesting the next one.
    waiting_gone: Option<SpawnHandle>,
    control: ControlRate,
    /// Closed for its behaviour; what was queued is still going out.
    closing: bool,
    /// Bytes the session holds for the client (backlog, waiting snapshot), for the
    /// admin endpoint.
    held_bytes: Arc<AtomicUsize>,
    /// When the client last took something from its queue.
    last_progress: Instant,
    last_heard: Instant,
    handle: Option<ActorHandle>,
}

impl WsSession {
    /// A session for a client that asked for `filter`, resuming after `resume_from`.
    pub fn new(
        id: u64,
        settings: SessionSettings,
        outbox: Outbox,
        filter: Filter,
        resume_from: Option<u64>,
    ) -> Self {
        let control = ControlRate::new(settings.control_rate);
        Self {
            id,
            settings,
            outbox,
            filter,
            resume_from,
            ready: false,
            held: Vec::new(),
            floor: 0,
            backlog: Backlog::default(),
            conflated_len: 0,
            retry_scheduled: false,
            snapshot: Snapshot::Done,
            requesting: false,
            wanted: None,
            waiting_gone: None,
            control,
            closing: false,
            held_bytes: Arc::new(AtomicUsize::new(0)),
            last_progress: Instant::now(),
            last_heard: Instant::now(),
            handle: None,
        }
    }

    fn notice(&mut self, kind: &str, data: serde_json::Value) {
        let json = wire_json(self.floor, kind, Utc::now(), data);
        let _ = self.outbox.text(&json);
    }

    fn close(&mut self, code: CloseCode, reason: &str, ctx: &mut Context<Self>) {
        // A client already closed for its behaviour has its close frame.
        if !self.closing {
            let _ = self.outbox.send(close_message(code, reason));
        }
        ctx.stop();
    }

    /// Closes the client for its behaviour: it takes nothing new, leaves the hub,
    /// and keeps its connection until the client answers the close (or
    /// [`CLOSE_LINGER`]), so that it learns why.
    fn close_after_flush(&mut self, code: CloseCode, reason: &str, ctx: &mut Context<Self>) {
        if self.closing {
            return;
        }
        self.closing = true;
        self.backlog.clear();
        self.held.clear();
        self.snapshot = Snapshot::Done;
        self.wanted = None;
        self.publish_bytes();
        if let Some(h) = self.waiting_gone.take() {
            ctx.cancel_future(h);
        }
        Relay::leave(self.id);
        self.settings.hub.do_send(Unsubscribe { id: self.id });
        if self.outbox.send(close_message(code, reason)).is_err() {
            ctx.stop();
            return;
        }
        ctx.run_later(CLOSE_LINGER, |_, ctx| ctx.stop());
    }

    /// Every message from the client takes a token; one over the rate is told why
    /// and closed.
    fn within_rate(&mut self, ctx: &mut Context<Self>) -> bool {
        if self.control.take(Instant::now()) {
            return true;
        }
        log::warn!(
            "websocket client {} sends more than {} messages a second; closing it",
            self.id,
            self.settings.control_rate
        );
        let json = wire_json(
            self.floor,
            "error",
            Utc::now(),
            serde_json::json!({
                "code": "TOO_MANY_MESSAGES",
                "message": format!(
                    "at most {} messages a second (bursts of twice that)",
                    self.settings.control_rate
                ),
            }),
        );
        let _ = self.outbox.urgent_text(&json);
        self.close_after_flush(CloseCode::Policy, "too many messages", ctx);
        false
    }

    fn on_text(&mut self, text: &str, ctx: &mut Context<Self>) {
        if !self.within_rate(ctx) {
            return;
        }
        let msg: ClientMessage = match serde_json::from_str(text) {
            Ok(m) => m,
            Err(e) => {
                let detail = e.to_string();
                self.notice(
                    "error",
                    serde_json::json!({ "code": "BAD_MESSAGE", "message": format!("cannot read that message: {detail}") }),
                );
                return;
            }
        };
        match msg {
            ClientMessage::Ping => self.notice("pong", serde_json::json!({})),
            ClientMessage::Subscribe { filter } => {
                if let Err(e) = filter.check() {
                    self.notice(
                        "error",
                        serde_json::json!({ "code": e.code(), "message": e.to_string() }),
                    );
                    return;
                }
                self.filter = filter.clone();
                self.want(Some(filter), None, ctx);
            }
            ClientMessage::Resume { last_seq } => self.want(None, Some(last_seq), ctx),
        }
    }
}

fn close_message(code: CloseCode, reason: &str) -> Message {
    Message::Close(Some(CloseReason {
        code,
        description: Some(reason.to_string()),
    }))
}

impl Actor for WsSession {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let handle = self
            .settings
            .registry
            .register("wsSession", format!("client-{}", self.id));
        let (meter, held) = (self.outbox.meter(), Arc::clone(&self.held_bytes));
        handle.report_queued_bytes(BytesGauge(Arc::new(move || {
            (meter.bytes() + held.load(Ordering::Relaxed)) as u64
        })));
        self.handle = Some(handle);
        let relay = Relay::join(self.id, ctx.address().recipient());
        let sub = Subscribe {
            id: self.id,
            client: ctx.address().recipient(),
            closer: ctx.address().recipient(),
            route: Some(Arc::new(relay)),
            filter: self.filter.clone(),
            last_seq: self.resume_from,
        };
        self.settings
            .hub
            .send(sub)
            .into_actor(self)
            .then(|res, act, ctx| {
                match res {
                    Ok(Some(catchup)) => act.apply_catchup(catchup, ctx),
                    _ => act.close(CloseCode::Error, "the hub is unavailable", ctx),
                }
                fut::ready(())
            })
            .wait(ctx);
        ctx.run_interval(HEARTBEAT, |act, ctx| {
            if act.closing {
                return;
            }
            if act.last_heard.elapsed() > CLIENT_TIMEOUT {
                log::info!("websocket client {} stopped answering; closing it", act.id);
                act.close(CloseCode::Away, "heartbeat timeout", ctx);
                return;
            }
            if act.outbox.send(Message::Ping(Default::default())) == Err(SendError::Closed) {
                ctx.stop();
            }
        });
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        Relay::leave(self.id);
        self.settings.hub.do_send(Unsubscribe { id: self.id });
    }
}

impl Handler<Deliver> for WsSession {
    type Result = ();

    fn handle(&mut self, Deliver(changes): Deliver, ctx: &mut Context<Self>) {
        if let Some(h) = &self.handle {
            h.handled_n(changes.len() as u64);
        }
        if self.closing {
            return;
        }
        if !self.ready {
            self.held.extend(changes.iter().cloned());
            return;
        }
        let mut sent = 0;
        for env in changes.iter() {
            if env.seq > self.floor && self.enqueue_quietly(env, ctx) {
                sent += 1;
            }
        }
        self.note_sent(sent);
        self.check_backlog(ctx);
        self.publish_bytes();
    }
}

impl StreamHandler<Result<Frame, ProtocolError>> for WsSession {
    fn handle(&mut self, frame: Result<Frame, ProtocolError>, ctx: &mut Context<Self>) {
        self.last_heard = Instant::now();
        if self.closing {
            // Only the client's answer to the close matters now.
            if matches!(frame, Ok(Frame::Close(_))) {
                ctx.stop();
            }
            return;
        }
        match frame {
            Ok(Frame::Text(bytes)) => match std::str::from_utf8(&bytes) {
                Ok(text) => self.on_text(text, ctx),
                Err(_) => self.close(CloseCode::Invalid, "text frame is not UTF-8", ctx),
            },
            Ok(Frame::Ping(p)) => {
                if self.within_rate(ctx) {
                    let _ = self.outbox.send(Message::Pong(p));
                }
            }
            Ok(Frame::Pong(_)) => {}
            Ok(Frame::Close(_)) => self.close(CloseCode::Normal, "bye", ctx),
            Ok(Frame::Binary(_)) | Ok(Frame::Continuation(_)) => self.close(
                CloseCode::Unsupported,
                "only JSON text messages are accepted",
                ctx,
            ),
            Err(ProtocolError::Overflow) => self.close(CloseCode::Size, "frame too large", ctx),
            Err(e) => self.close(CloseCode::Protocol, &format!("protocol error: {e}"), ctx),
        }
    }

    fn finished(&mut self, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

/// Closes the session with 1001 (going away), for a graceful shutdown.
impl Handler<GoingAway> for WsSession {
    type Result = ();

    fn handle(&mut self, _: GoingAway, ctx: &mut Context<Self>) {
        self.close(CloseCode::Away, "server shutting down", ctx);
    }
}
