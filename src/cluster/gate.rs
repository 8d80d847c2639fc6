//! [`PersistGate`]: only the lease holder of a PBX writes that PBX's state.
//!
//! Every instance's hub publishes every change it applies — its own and those
//! replayed from the feed — and hands them to be stored. The gate passes on the
//! writes of PBXs this instance holds and drops the rest: replayed changes are
//! already stored by their holder, and an instance that lost a lease must not
//! write after the new holder (it is fenced here as well as at its AMI socket).

use std::collections::HashSet;
use std::sync::Arc;

use actix::prelude::*;

use super::payload::pbx_of;
use crate::delivery::{Persist, PersistMany};
use crate::metrics::Metrics;
use crate::store::StoreWriter;
use crate::supervision::guarded;
use crate::supervision::InjectPanic;
use crate::supervision::{ActorHandle, Registry};

/// Starts or stops passing on one PBX's writes.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct Hold {
    /// The PBX.
    pub pbx: String,
    /// Whether this instance now holds it.
    pub held: bool,
}

/// Asks the gate how many writes it dropped (tests, health); answers after every
/// message queued before it, so it doubles as a barrier.
#[derive(Message, Debug)]
#[rtype(result = "u64")]
pub struct Dropped;

/// Sits between the hub and the store writer in cluster mode.
pub struct PersistGate {
    writer: Addr<StoreWriter>,
    held: HashSet<String>,
    dropped: u64,
    /// Where it registers and counts restarts (set when run under a `Supervisor`).
    supervision: Option<(Registry, Arc<Metrics>)>,
    handle: Option<ActorHandle>,
}

impl PersistGate {
    /// A gate in front of `writer`, holding nothing yet.
    pub fn new(writer: Addr<StoreWriter>) -> Self {
        Self {
            writer,
            held: HashSet::new(),
            dropped: 0,
            supervision: None,
            handle: None,
        }
    }

    /// Registers the gate (kind `persistGate`) in `registry` and counts its
    /// supervisor restarts there and in `metrics`.
    pub fn supervised_by(mut self, registry: Registry, metrics: Arc<Metrics>) -> Self {
        self.supervision = Some((registry, metrics));
        self
    }

    fn pass(&mut self, msg: Persist) {
        if pbx_of(&msg).is_some_and(|p| self.held.contains(p)) {
            self.writer.do_send(msg);
        } else {
            self.dropped += 1;
        }
    }

    fn pass_many(&mut self, list: Vec<Persist>) {
        let before = list.len();
        let held: Vec<Persist> = list
            .into_iter()
            .filter(|msg| pbx_of(msg).is_some_and(|p| self.held.contains(p)))
            .collect();
        self.dropped += (before - held.len()) as u64;
        if !held.is_empty() {
            self.writer.do_send(PersistMany(held));
        }
    }
}

impl Actor for PersistGate {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(1 << 20);
        if let (None, Some((registry, _))) = (&self.handle, &self.supervision) {
            self.handle = Some(registry.register("persistGate", "gate"));
        }
    }
}

impl Supervised for PersistGate {
    /// Nothing to rebuild: the held set survives in the actor (the supervisor
    /// restarts the same value), and only the message that panicked is lost.
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        if let Some(h) = &self.handle {
            h.restarted();
        }
        if let Some((_, metrics)) = &self.supervision {
            metrics
                .actor_restarts
                .with_label_values(&["persistGate"])
                .inc();
        }
    }
}

impl Handler<InjectPanic> for PersistGate {
    type Result = ();

    fn handle(&mut self, _: InjectPanic, ctx: &mut Context<Self>) {
        guarded(self, ctx, "InjectPanic", |_, _| {
            panic!("injected panic (fault test)")
        });
    }
}

impl Handler<Persist> for PersistGate {
    type Result = ();

    fn handle(&mut self, msg: Persist, ctx: &mut Context<Self>) {
        guarded(self, ctx, "Persist", |act, _| act.pass(msg));
    }
}

impl Handler<PersistMany> for PersistGate {
    type Result = ();

    fn handle(&mut self, PersistMany(list): PersistMany, ctx: &mut Context<Self>) {
        guarded(self, ctx, "PersistMany", |act, _| act.pass_many(list));
    }
}

impl Handler<Hold> for PersistGate {
    type Result = ();

    fn handle(&mut self, msg: Hold, ctx: &mut Context<Self>) {
        guarded(self, ctx, "Hold", |act, _| {
            if msg.held {
                act.held.insert(msg.pbx);
            } else {
                act.held.remove(&msg.pbx);
            }
        });
    }
}

impl Handler<Dropped> for PersistGate {
    type Result = u64;

    fn handle(&mut self, _: Dropped, _: &mut Context<Self>) -> u64 {
        self.dropped
    }
}
