//! [`WsSession`]: one actor per WebSocket client.
//!
//! On start it subscribes to the hub with its filter (and the `lastSeq` it resumes
//! from) and sends the catch-up — a snapshot, or the missed changes — before any
//! live change. Live changes are queued on the client's bounded [`Outbox`]. When the
//! client falls behind (the queue is full), changes wait in a backlog where each
//! extension and each call keeps only its latest value (conflation); a client whose
//! backlog still grows past the limit is closed with a reason (1008, "too slow").
//! A heartbeat closes clients that stopped answering.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_http::ws::{CloseCode, CloseReason, Frame, Message, ProtocolError};
use chrono::Utc;

use super::protocol::{ClientMessage, Filter};
use super::relay::Relay;
use super::transport::{Outbox, SendError};
use crate::actors::hub::{
    wire_json, Catchup, Deliver, Envelope, Hub, Resubscribe, Subscribe, Unsubscribe,
};
use crate::actors::status::{ActorHandle, Registry};
use crate::fastmap::FastMap;
use crate::metrics::Metrics;

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
    backlog: VecDeque<Arc<Envelope>>,
    /// Backlog length left by the last conflation (0: none since it was empty).
    conflated_len: usize,
    retry_scheduled: bool,
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
        Self {
            id,
            settings,
            outbox,
            filter,
            resume_from,
            ready: false,
            held: Vec::new(),
            floor: 0,
            backlog: VecDeque::new(),
            conflated_len: 0,
            retry_scheduled: false,
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
        let _ = self.outbox.send(Message::Close(Some(CloseReason {
            code,
            description: Some(reason.to_string()),
        })));
        ctx.stop();
    }

    fn apply_catchup(&mut self, catchup: Catchup, ctx: &mut Context<Self>) {
        self.backlog.clear();
        self.conflated_len = 0;
        match catchup {
            Catchup::Snapshot { json, seq } => {
                self.floor = seq;
                if self.outbox.text(&json).is_err() {
                    return self.close(CloseCode::Policy, "cannot send the snapshot", ctx);
                }
            }
            Catchup::Replay { changes, seq } => {
                let n = changes.len();
                self.floor = seq;
                for env in changes {
                    self.enqueue(env, ctx);
                }
                self.check_backlog(ctx);
                self.notice("resumed", serde_json::json!({ "replayed": n, "seq": seq }));
            }
        }
        self.ready = true;
        let held = std::mem::take(&mut self.held);
        for env in held {
            if env.seq > self.floor {
                self.enqueue(env, ctx);
            }
        }
        self.check_backlog(ctx);
    }

    fn enqueue(&mut self, env: Arc<Envelope>, ctx: &mut Context<Self>) {
        if self.enqueue_quietly(&env, ctx) {
            self.note_sent(1);
        }
    }

    /// Records that `sent` changes went into the queue (the client is taking them).
    fn note_sent(&mut self, sent: u64) {
        if sent > 0 {
            self.last_progress = Instant::now();
            self.settings.metrics.ws_messages.inc_by(sent);
        }
    }

    /// Queues one change (or backlogs it); `true` when it went into the queue. The
    /// caller notes the progress and counts it: once per delivered batch, as the
    /// clock read and the counter shared by every worker thread cost more than the
    /// queueing itself.
    fn enqueue_quietly(&mut self, env: &Arc<Envelope>, ctx: &mut Context<Self>) -> bool {
        if !self.backlog.is_empty() {
            self.backlog.push_back(Arc::clone(env));
            return false;
        }
        match self.outbox.frame(env.frame()) {
            Ok(()) => true,
            Err(SendError::Full) => {
                self.backlog.push_back(Arc::clone(env));
                self.schedule_retry(ctx);
                false
            }
            Err(SendError::Closed) => {
                ctx.stop();
                false
            }
        }
    }

    /// Conflates (and maybe drops) once per delivered batch, not per change: done
    /// per change, a lagging client's O(backlog) pass ran for every change it was
    /// sent, and on a busy stream that starved the other clients sharing its worker.
    /// Only a client that took nothing from its queue for [`STALL`] is conflated (or
    /// one whose backlog is [`BACKLOG_HARD_FACTOR`] times the limit): a batch
    /// larger than the queue is not a sign of a slow reader, and conflating it made
    /// a prompt reader miss changes.
    ///
    /// A conflated backlog can stay over the limit (more distinct extensions and calls
    /// than the limit): conflating it again on every batch was O(backlog) per batch,
    /// and with a thousand lagging clients that kept the HTTP workers so busy that
    /// `/api/health` went unanswered for 30 s. So the next pass waits until the
    /// backlog has doubled since the last one — amortised O(1) per change.
    fn check_backlog(&mut self, ctx: &mut Context<Self>) {
        let limit = self.settings.backlog_limit;
        let stuck = self.last_progress.elapsed() > STALL;
        let len = self.backlog.len();
        let due = limit.max(self.conflated_len.saturating_mul(2));
        if len > due && (stuck || len > limit.saturating_mul(BACKLOG_HARD_FACTOR)) {
            self.conflate(ctx);
            self.conflated_len = self.backlog.len();
        }
    }

    /// Keeps only the latest change per extension and per call once the backlog is
    /// over the limit; drops the client when even that is too much.
    fn conflate(&mut self, ctx: &mut Context<Self>) {
        let limit = self.settings.backlog_limit;
        if self.backlog.len() <= limit {
            return;
        }
        let keep: Vec<bool> = {
            let mut latest: FastMap<(u8, &str, &str), u64> =
                FastMap::with_capacity_and_hasher(self.backlog.len(), Default::default());
            for env in &self.backlog {
                if let Some(key) = env.conflation_key() {
                    latest.insert(key, env.seq);
                }
            }
            self.backlog
                .iter()
                .map(|env| {
                    env.conflation_key()
                        .is_none_or(|key| latest.get(&key) == Some(&env.seq))
                })
                .collect()
        };
        let before = self.backlog.len();
        let mut keep = keep.into_iter();
        self.backlog.retain(|_| keep.next().unwrap_or(true));
        self.settings
            .metrics
            .ws_conflated
            .inc_by((before - self.backlog.len()) as u64);
        if self.backlog.len() > limit.saturating_mul(4).max(limit + 1) {
            self.settings.metrics.ws_dropped.inc();
            log::warn!(
                "websocket client {} cannot keep up ({} changes waiting after conflation); closing it",
                self.id,
                self.backlog.len()
            );
            self.backlog.clear();
            self.close(
                CloseCode::Policy,
                "too slow: cannot keep up with the change rate",
                ctx,
            );
        }
    }

    /// Drains the backlog as soon as the queue has room again. (Polling it on a
    /// timer capped a client at one queue-full per tick: with a small `WS_QUEUE` even
    /// a client reading promptly fell behind, was conflated and dropped.)
    fn schedule_retry(&mut self, ctx: &mut Context<Self>) {
        if !self.retry_scheduled {
            self.retry_scheduled = true;
            let room = self.outbox.room(self.backlog.len());
            ctx.spawn(room.into_actor(self).map(|open, act, ctx| {
                act.retry_scheduled = false;
                if open {
                    act.drain(ctx);
                } else {
                    ctx.stop();
                }
            }));
        }
    }

    fn drain(&mut self, ctx: &mut Context<Self>) {
        let mut sent = 0;
        while let Some(env) = self.backlog.front() {
            match self.outbox.frame(env.frame()) {
                Ok(()) => {
                    sent += 1;
                    self.backlog.pop_front();
                }
                Err(SendError::Full) => break,
                Err(SendError::Closed) => {
                    ctx.stop();
                    return;
                }
            }
        }
        self.note_sent(sent);
        if self.backlog.is_empty() {
            self.conflated_len = 0;
        } else {
            self.schedule_retry(ctx);
        }
    }

    fn on_text(&mut self, text: &str, ctx: &mut Context<Self>) {
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
        let (filter, last_seq) = match msg {
            ClientMessage::Ping => {
                self.notice("pong", serde_json::json!({}));
                return;
            }
            ClientMessage::Subscribe { filter } => {
                self.filter = filter.clone();
                (Some(filter), None)
            }
            ClientMessage::Resume { last_seq } => (None, Some(last_seq)),
        };
        self.ready = false;
        self.settings
            .hub
            .send(Resubscribe {
                id: self.id,
                filter,
                last_seq,
            })
            .into_actor(self)
            .then(|res, act, ctx| {
                match res {
                    Ok(Some(catchup)) => act.apply_catchup(catchup, ctx),
                    _ => act.close(CloseCode::Error, "the hub is unavailable", ctx),
                }
                fut::ready(())
            })
            .wait(ctx);
    }
}

impl Actor for WsSession {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.handle = Some(
            self.settings
                .registry
                .register("wsSession", format!("client-{}", self.id)),
        );
        let relay = Relay::join(self.id, ctx.address().recipient());
        let sub = Subscribe {
            id: self.id,
            client: ctx.address().recipient(),
            closer: ctx.address().recipient(),
            relay: Some(relay),
            filter: self.filter.clone(),
            last_seq: self.resume_from,
        };
        self.settings
            .hub
            .send(sub)
            .into_actor(self)
            .then(|res, act, ctx| {
                match res {
                    Ok(catchup) => act.apply_catchup(catchup, ctx),
                    Err(_) => act.close(CloseCode::Error, "the hub is unavailable", ctx),
                }
                fut::ready(())
            })
            .wait(ctx);
        ctx.run_interval(HEARTBEAT, |act, ctx| {
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
    }
}

impl StreamHandler<Result<Frame, ProtocolError>> for WsSession {
    fn handle(&mut self, frame: Result<Frame, ProtocolError>, ctx: &mut Context<Self>) {
        self.last_heard = Instant::now();
        match frame {
            Ok(Frame::Text(bytes)) => match std::str::from_utf8(&bytes) {
                Ok(text) => self.on_text(text, ctx),
                Err(_) => self.close(CloseCode::Invalid, "text frame is not UTF-8", ctx),
            },
            Ok(Frame::Ping(p)) => {
                let _ = self.outbox.send(Message::Pong(p));
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
#[derive(Message)]
#[rtype(result = "()")]
pub struct GoingAway;

impl Handler<GoingAway> for WsSession {
    type Result = ();

    fn handle(&mut self, _: GoingAway, ctx: &mut Context<Self>) {
        self.close(CloseCode::Away, "server shutting down", ctx);
    }
}
