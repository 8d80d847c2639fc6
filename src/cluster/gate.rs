//! [`PersistGate`]: only the lease holder of a PBX writes that PBX's state.
//!
//! Every instance's hub publishes every change it applies — its own and those
//! replayed from the feed — and hands them to be stored. The gate passes on the
//! writes of PBXs this instance holds and drops the rest: replayed changes are
//! already stored by their holder, and an instance that lost a lease must not
//! write after the new holder (it is fenced here as well as at its AMI socket).

use std::collections::HashSet;

use actix::prelude::*;

use super::payload::pbx_of;
use crate::actors::hub::{Persist, PersistMany};
use crate::store::StoreWriter;

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
}

impl PersistGate {
    /// A gate in front of `writer`, holding nothing yet.
    pub fn new(writer: Addr<StoreWriter>) -> Self {
        Self {
            writer,
            held: HashSet::new(),
            dropped: 0,
        }
    }
}

impl Actor for PersistGate {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(1 << 20);
    }
}

impl Handler<Persist> for PersistGate {
    type Result = ();

    fn handle(&mut self, msg: Persist, _: &mut Context<Self>) {
        if pbx_of(&msg).is_some_and(|p| self.held.contains(p)) {
            self.writer.do_send(msg);
        } else {
            self.dropped += 1;
        }
    }
}

impl Handler<PersistMany> for PersistGate {
    type Result = ();

    fn handle(&mut self, PersistMany(list): PersistMany, _: &mut Context<Self>) {
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

impl Handler<Hold> for PersistGate {
    type Result = ();

    fn handle(&mut self, msg: Hold, _: &mut Context<Self>) {
        if msg.held {
            self.held.insert(msg.pbx);
        } else {
            self.held.remove(&msg.pbx);
        }
    }
}

impl Handler<Dropped> for PersistGate {
    type Result = u64;

    fn handle(&mut self, _: Dropped, _: &mut Context<Self>) -> u64 {
        self.dropped
    }
}
