//! [`CallTrackerActor`]: one call, start to finish.
//!
//! Created by the router on a call's first event; applies each event to a
//! [`CallModel`], publishes every visible change, and when the last channel hangs up
//! publishes the final record (the hub stores it in history) and stops itself. A call
//! whose hangup never arrives is closed after a configurable timeout: the router
//! watches every call's last event with one timer and sends [`CloseCall`], so an
//! idle tracker costs no timer of its own.

use std::sync::Arc;

use actix::prelude::*;
use chrono::Utc;

use super::backpressure::BatchTicket;
use super::messages::{CallEvent, CallFinished, Change, CloseCall, Publish, ResyncCall};
use crate::metrics::Metrics;
use crate::state::call::{CallEffect, CallModel};
use crate::supervision::{ActorHandle, Registry};

/// The tracker of one call.
pub struct CallTrackerActor {
    model: CallModel,
    publish: Recipient<Publish>,
    finished: Recipient<CallFinished>,
    registry: Registry,
    handle: Option<ActorHandle>,
    metrics: Arc<Metrics>,
    announced: bool,
}

impl CallTrackerActor {
    /// A tracker for call `id` of `pbx`.
    pub fn new(
        pbx: &str,
        id: &str,
        publish: Recipient<Publish>,
        finished: Recipient<CallFinished>,
        registry: Registry,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            model: CallModel::new(pbx, id, Utc::now()),
            publish,
            finished,
            registry,
            handle: None,
            metrics,
            announced: false,
        }
    }

    /// A tracker for a call restored from the store after a service restart.
    pub fn restored(
        model: CallModel,
        publish: Recipient<Publish>,
        finished: Recipient<CallFinished>,
        registry: Registry,
        metrics: Arc<Metrics>,
    ) -> Self {
        metrics.calls_active.inc();
        Self {
            model,
            publish,
            finished,
            registry,
            handle: None,
            metrics,
            announced: true,
        }
    }

    /// Publishes what `effect` changed; `ticket` (the permit of the read that
    /// caused it, if any) goes along to the hub.
    fn after(
        &mut self,
        effect: CallEffect,
        ts: Option<f64>,
        ticket: Option<BatchTicket>,
        ctx: &mut Context<Self>,
    ) {
        match effect {
            CallEffect::None => {}
            CallEffect::Updated => {
                let call = self.model.shared();
                let change = if self.announced {
                    Change::CallUpdated(call)
                } else {
                    self.announced = true;
                    self.metrics.calls_active.inc();
                    Change::CallStarted(call)
                };
                self.publish
                    .do_send(Publish::new(change, ts).with_ticket(ticket));
            }
            CallEffect::Ended => self.end(ts, ticket, ctx),
        }
    }

    fn end(&mut self, ts: Option<f64>, ticket: Option<BatchTicket>, ctx: &mut Context<Self>) {
        if self.announced {
            self.metrics.calls_active.dec();
        }
        self.metrics.calls_finished.inc();
        self.publish
            .do_send(Publish::new(Change::CallEnded(self.model.shared()), ts).with_ticket(ticket));
        self.finished.do_send(CallFinished {
            id: self.model.call().id.clone(),
        });
        ctx.stop();
    }
}

impl Actor for CallTrackerActor {
    type Context = Context<Self>;

    fn started(&mut self, _: &mut Context<Self>) {
        self.handle = Some(
            self.registry
                .register("callTracker", self.model.call().id.clone()),
        );
    }
}

impl Handler<CallEvent> for CallTrackerActor {
    type Result = ();

    fn handle(&mut self, CallEvent { event, ticket }: CallEvent, ctx: &mut Context<Self>) {
        if let Some(h) = &self.handle {
            h.handled();
        }
        let change = self.model.apply(&event, Utc::now());
        self.after(change, event.timestamp(), ticket, ctx);
    }
}

impl Handler<ResyncCall> for CallTrackerActor {
    type Result = ();

    fn handle(&mut self, msg: ResyncCall, ctx: &mut Context<Self>) {
        if let Some(h) = &self.handle {
            h.handled();
        }
        let change = self.model.resync(&msg.items, Utc::now());
        self.after(change, None, None, ctx);
    }
}

impl Handler<CloseCall> for CallTrackerActor {
    type Result = ();

    fn handle(&mut self, msg: CloseCall, ctx: &mut Context<Self>) {
        if self.model.is_ended() {
            return;
        }
        self.model.close(msg.outcome, Utc::now());
        self.end(None, None, ctx);
    }
}

/// Cluster mode: another instance now tracks this call (or will, from the store);
/// the tracker stops without publishing anything.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct Discard;

impl Handler<Discard> for CallTrackerActor {
    type Result = ();

    fn handle(&mut self, _: Discard, ctx: &mut Context<Self>) {
        if self.announced {
            self.metrics.calls_active.dec();
        }
        ctx.stop();
    }
}
