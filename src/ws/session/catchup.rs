//! The catch-up of a [`WsSession`]: at most one snapshot in flight per client.
//!
//! Subscribe and resume messages that arrive while a catch-up is pending (asked of
//! the hub and not yet answered, or a snapshot in the queue the client has not
//! taken) merge into the next one: a burst of a thousand costs one snapshot, not a
//! thousand queued behind each other. Changes published meanwhile are held, and the
//! catch-up's `seq` decides which of them follow it, so the stream stays gap-free.

use actix::prelude::*;
use actix_http::ws::CloseCode;

use super::{Snapshot, Wanted, WsSession};
use crate::delivery::{Catchup, Filter, Resubscribe};
use crate::ws::transport::text_frame;

impl WsSession {
    /// Merges a subscribe (`filter`) or resume (`last_seq`) into the catch-up to
    /// request next, and requests it unless one is still on its way.
    pub(super) fn want(
        &mut self,
        filter: Option<Filter>,
        last_seq: Option<u64>,
        ctx: &mut Context<Self>,
    ) {
        let earlier = self.wanted.take().unwrap_or_default();
        self.wanted = Some(Wanted {
            filter: filter.or(earlier.filter),
            last_seq,
        });
        self.request_catchup(ctx);
    }

    /// Requests the wanted catch-up, when no other is pending: a request to the hub
    /// unanswered, or a snapshot in the queue the client has not taken (it cannot be
    /// taken back, so the next one waits for it to leave). A snapshot still waiting
    /// for room is replaced, and with it the backlog behind it.
    pub(super) fn request_catchup(&mut self, ctx: &mut Context<Self>) {
        if self.wanted.is_none() || self.requesting || self.closing {
            return;
        }
        if let Snapshot::Queued { position, .. } = self.snapshot {
            if self.outbox.sent() < position {
                self.wait_snapshot_gone(position, ctx);
                return;
            }
        }
        let Some(wanted) = self.wanted.take() else {
            return;
        };
        self.snapshot = Snapshot::Done;
        self.backlog.clear();
        self.conflated_len = 0;
        self.publish_bytes();
        self.ready = false;
        self.requesting = true;
        let request = self.settings.hub.send(Resubscribe {
            id: self.id,
            filter: wanted.filter,
            last_seq: wanted.last_seq,
        });
        ctx.spawn(request.into_actor(self).map(|res, act, ctx| {
            act.requesting = false;
            match res {
                _ if act.closing => {}
                // Superseded while it was built: never queued; the merged request
                // goes out instead (changes are held until its answer).
                Ok(Some(_)) if act.wanted.is_some() => act.request_catchup(ctx),
                Ok(Some(catchup)) => act.apply_catchup(catchup, ctx),
                _ => act.close(CloseCode::Error, "the hub is unavailable", ctx),
            }
        }));
    }

    pub(super) fn wait_snapshot_gone(&mut self, position: u64, ctx: &mut Context<Self>) {
        if self.waiting_gone.is_some() {
            return;
        }
        let gone = self.outbox.gone(position);
        let handle = ctx.spawn(gone.into_actor(self).map(|open, act, ctx| {
            act.waiting_gone = None;
            if open {
                act.request_catchup(ctx);
            } else {
                ctx.stop();
            }
        }));
        self.waiting_gone = Some(handle);
    }

    pub(super) fn apply_catchup(&mut self, catchup: Catchup, ctx: &mut Context<Self>) {
        if self.closing {
            return;
        }
        self.backlog.clear();
        self.conflated_len = 0;
        match catchup {
            Catchup::Snapshot { json, seq } => {
                self.floor = seq;
                self.snapshot = Snapshot::Waiting(text_frame(&json));
                self.drain(ctx);
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
        self.publish_bytes();
    }
}
