//! The outgoing side of a [`WsSession`]: the bounded queue, the backlog behind it,
//! the byte bound (`WS_QUEUE_BYTES`) and conflation.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;
use actix_http::ws::CloseCode;

use super::{Snapshot, WsSession, BACKLOG_HARD_FACTOR, STALL};
use crate::delivery::Envelope;
use crate::ws::frame::change_frame;
use crate::ws::transport::SendError;

impl WsSession {
    /// Bytes that count against `WS_QUEUE_BYTES`: the queue and the backlog, but
    /// not the one snapshot in flight (it may be larger than the bound by itself).
    pub(super) fn charged_bytes(&self) -> usize {
        let snapshot = match self.snapshot {
            Snapshot::Queued { position, len } if self.outbox.sent() < position => len,
            _ => 0,
        };
        self.outbox.queued_bytes().saturating_sub(snapshot) + self.backlog.bytes()
    }

    pub(super) fn publish_bytes(&self) {
        let waiting = match &self.snapshot {
            Snapshot::Waiting(frame) => frame.len(),
            _ => 0,
        };
        self.held_bytes
            .store(self.backlog.bytes() + waiting, Ordering::Relaxed);
    }
    pub(super) fn enqueue(&mut self, env: Arc<Envelope>, ctx: &mut Context<Self>) {
        if self.enqueue_quietly(&env, ctx) {
            self.note_sent(1);
        }
    }

    /// Records that `sent` changes went into the queue (the client is taking them).
    pub(super) fn note_sent(&mut self, sent: u64) {
        if sent > 0 {
            self.last_progress = Instant::now();
            self.settings.metrics.ws_messages.inc_by(sent);
        }
    }

    /// Queues one change (or backlogs it); `true` when it went into the queue. The
    /// caller notes the progress and counts it: once per delivered batch, as the
    /// clock read and the counter shared by every worker thread cost more than the
    /// queueing itself.
    pub(super) fn enqueue_quietly(&mut self, env: &Arc<Envelope>, ctx: &mut Context<Self>) -> bool {
        if !self.backlog.is_empty() || matches!(self.snapshot, Snapshot::Waiting(_)) {
            self.backlog.push(Arc::clone(env));
            return false;
        }
        match self.outbox.frame(change_frame(env)) {
            Ok(()) => true,
            Err(SendError::Full) => {
                self.backlog.push(Arc::clone(env));
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
    ///
    /// Over the byte bound the backlog is conflated at once. Otherwise only a client
    /// that took nothing from its queue for [`STALL`] is conflated (or one whose
    /// backlog is [`BACKLOG_HARD_FACTOR`] times the limit): a batch larger than the
    /// queue is not a sign of a slow reader, and conflating it made a prompt reader
    /// miss changes.
    ///
    /// A conflated backlog can stay over the limit (more distinct extensions and calls
    /// than the limit): conflating it again on every batch was O(backlog) per batch,
    /// and with a thousand lagging clients that kept the HTTP workers so busy that
    /// `/api/health` went unanswered for 30 s. So the next pass waits until the
    /// backlog has doubled since the last one — amortised O(1) per change. (A pass
    /// for bytes must free a quarter of the bound, so it is amortised as well.)
    pub(super) fn check_backlog(&mut self, ctx: &mut Context<Self>) {
        if self.closing {
            return;
        }
        if self.charged_bytes() > self.settings.queue_bytes {
            self.conflate(ctx);
            return;
        }
        let limit = self.settings.backlog_limit;
        let stuck = self.last_progress.elapsed() > STALL;
        let len = self.backlog.len();
        let due = limit.max(self.conflated_len.saturating_mul(2));
        if len > due && (stuck || len > limit.saturating_mul(BACKLOG_HARD_FACTOR)) {
            self.conflate(ctx);
        }
    }

    /// Keeps only the latest change per extension and per call; drops the client
    /// when even that leaves too many changes, or too many bytes (over three
    /// quarters of the bound).
    pub(super) fn conflate(&mut self, ctx: &mut Context<Self>) {
        let dropped = self.backlog.conflate();
        self.settings.metrics.ws_conflated.inc_by(dropped as u64);
        self.conflated_len = self.backlog.len();
        let limit = self.settings.backlog_limit;
        let bound = self.settings.queue_bytes;
        let too_many = self.backlog.len() > limit.saturating_mul(4).max(limit + 1);
        let too_big = self.charged_bytes() > bound - bound / 4;
        if too_many || too_big {
            self.settings.metrics.ws_dropped.inc();
            log::warn!(
                "websocket client {} cannot keep up ({} changes, {} bytes waiting after conflation); closing it",
                self.id,
                self.backlog.len(),
                self.charged_bytes()
            );
            self.close_after_flush(
                CloseCode::Policy,
                "too slow: cannot keep up with the change rate",
                ctx,
            );
        }
    }

    /// Drains the backlog as soon as the queue has room again. (Polling it on a
    /// timer capped a client at one queue-full per tick: with a small `WS_QUEUE` even
    /// a client reading promptly fell behind, was conflated and dropped.)
    pub(super) fn schedule_retry(&mut self, ctx: &mut Context<Self>) {
        if !self.retry_scheduled {
            self.retry_scheduled = true;
            let next_len = match &self.snapshot {
                Snapshot::Waiting(frame) => frame.len(),
                _ => self.backlog.front_len(),
            };
            let room = self.outbox.room(self.backlog.len(), next_len);
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

    /// Moves the waiting snapshot, then the backlog, into the queue while it has room.
    pub(super) fn drain(&mut self, ctx: &mut Context<Self>) {
        if self.closing {
            return;
        }
        if let Snapshot::Waiting(frame) = &self.snapshot {
            let len = frame.len();
            match self.outbox.frame(frame.clone()) {
                Ok(()) => {
                    let position = self.outbox.last_queued();
                    self.snapshot = Snapshot::Queued { position, len };
                }
                Err(SendError::Full) => {
                    self.schedule_retry(ctx);
                    self.publish_bytes();
                    return;
                }
                Err(SendError::Closed) => {
                    ctx.stop();
                    return;
                }
            }
        }
        let mut sent = 0;
        while let Some(frame) = self.backlog.front_frame() {
            match self.outbox.frame(frame) {
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
        self.publish_bytes();
    }
}
