//! [`ExtensionActor`]: one extension's state; publishes only real changes.
//!
//! When the PBX reports the hint removed, the actor publishes that last change (an
//! `extension.status` whose state is `removed`, which takes the extension out of the
//! live view) and stops: the router has already forgotten it, so a PBX whose hints
//! come and go does not accumulate actors.

use std::sync::Arc;

use actix::prelude::*;
use chrono::Utc;

use super::backpressure::BatchTicket;
use super::messages::{Change, ConfirmState, ExtensionEvent, Publish, SetName};
use crate::state::extension::{Correction, ExtensionModel};
use crate::supervision::{ActorHandle, Registry};

/// The actor of one extension.
pub struct ExtensionActor {
    model: ExtensionModel,
    publish: Recipient<Publish>,
    registry: Registry,
    handle: Option<ActorHandle>,
}

impl ExtensionActor {
    /// The actor of extension `exten` on `pbx`.
    pub fn new(pbx: &str, exten: &str, publish: Recipient<Publish>, registry: Registry) -> Self {
        Self {
            model: ExtensionModel::new(pbx, exten, Utc::now()),
            publish,
            registry,
            handle: None,
        }
    }

    /// Publishes the extension as it is now; `ticket` is the permit of the read
    /// whose event changed it, if any.
    fn publish(&self, event_ts: Option<f64>, ticket: Option<BatchTicket>) {
        let ext = Arc::new(self.model.extension().clone());
        self.publish
            .do_send(Publish::new(Change::Extension(ext), event_ts).with_ticket(ticket));
    }
}

impl Actor for ExtensionActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        // Events arrive with `do_send` (no capacity check) and confirmations with
        // `send`: past the default capacity of 16 a confirmation would be queued
        // behind events read after it, and its older state would win.
        ctx.set_mailbox_capacity(1 << 16);
        let name = format!(
            "{}/{}",
            self.model.extension().pbx,
            self.model.extension().extension
        );
        self.handle = Some(self.registry.register("extension", name));
    }
}

impl Handler<ExtensionEvent> for ExtensionActor {
    type Result = ();

    fn handle(
        &mut self,
        ExtensionEvent { event, ticket }: ExtensionEvent,
        ctx: &mut Context<Self>,
    ) {
        if let Some(h) = &self.handle {
            h.handled();
        }
        if self.model.apply(&event, Utc::now()).is_some() {
            self.publish(event.timestamp(), ticket);
        }
        if self.model.is_removed() {
            ctx.stop();
        }
    }
}

impl Handler<ConfirmState> for ExtensionActor {
    type Result = Option<Correction>;

    fn handle(&mut self, msg: ConfirmState, _: &mut Context<Self>) -> Option<Correction> {
        if let Some(h) = &self.handle {
            h.handled();
        }
        let s = msg.state;
        self.model.set_context(&s.context);
        let (correction, transition) = self.model.confirm(
            s.status,
            s.status_text.as_deref(),
            s.hint.as_deref(),
            msg.at,
        );
        // Publish a correction, and the first confirmation (it sets lastConfirmed).
        if transition.is_some() || correction.is_some() {
            self.publish(None, None);
        }
        correction
    }
}

impl Handler<SetName> for ExtensionActor {
    type Result = ();

    fn handle(&mut self, SetName(name): SetName, _: &mut Context<Self>) {
        if let Some(h) = &self.handle {
            h.handled();
        }
        if self.model.set_name(name) {
            self.publish(None, None);
        }
    }
}
