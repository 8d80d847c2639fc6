//! The live view: applying changes, confirmations and take-over snapshots to the
//! shared [`LiveState`](crate::actors::live::LiveState) that HTTP handlers read,
//! and the `snapshot` message a new subscriber gets from it.

use std::sync::Arc;

use actix::prelude::*;
use chrono::Utc;
use serde::Serialize;

use super::Hub;
use crate::actors::live::RECENT_CALLS;
use crate::actors::messages::Publish;
use crate::delivery::{wire_json, Change, Confirmed, Filter, FilterKind, Persist, SyncCalls};
use crate::model::queue::Queue;
use crate::model::{Call, ConnectionStatus, Extension};
use crate::supervision::guarded;

/// `buf` holding (`pbx`, `key`), its strings' memory reused: a map key to look up
/// without allocating.
fn reuse_key<'a>(buf: &'a mut (String, String), pbx: &str, key: &str) -> &'a (String, String) {
    buf.0.clear();
    buf.0.push_str(pbx);
    buf.1.clear();
    buf.1.push_str(key);
    buf
}

impl Hub {
    /// Applies change number `self.seq` to the live view.
    pub(super) fn apply_live(&mut self, change: &Change) {
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
            Change::Queue(q) if q.removed => {
                live.queues.remove(&(q.pbx.clone(), q.name.clone()));
            }
            Change::Queue(q) => {
                live.queues
                    .insert((q.pbx.clone(), q.name.clone()), Arc::clone(q));
            }
        }
    }

    /// The live view, as far as `filter` lets through, as one `snapshot` message.
    pub(super) fn snapshot(&self, filter: &Filter) -> String {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Snapshot<'a> {
            extensions: Vec<&'a Extension>,
            calls: Vec<&'a Call>,
            recent_calls: Vec<&'a Call>,
            connections: Vec<&'a ConnectionStatus>,
            queues: Vec<&'a Queue>,
        }
        let Ok(live) = self.live.read() else {
            return wire_json(self.seq, "snapshot", Utc::now(), serde_json::json!({}));
        };
        let ext_ok = |e: &Extension| filter.matches(&Change::Extension(Arc::new(e.clone())));
        let call_ok = |c: &Arc<Call>| filter.matches(&Change::CallUpdated(c.clone()));
        let extensions: Vec<&Extension> =
            if !matches!(filter.kind, FilterKind::All | FilterKind::Extensions) {
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
        // Active calls' durations run up to the snapshot (the stored copy moves only
        // when the call changes).
        let now = Utc::now();
        let mut calls: Vec<Call> = live
            .calls
            .values()
            .filter(|c| call_ok(c))
            .map(|c| c.running_at(now))
            .collect();
        calls.sort_by_key(|a| a.started_at);
        let recent: Vec<&Call> = live
            .recent
            .iter()
            .filter(|c| call_ok(c))
            .map(|c| c.as_ref())
            .collect();
        let data = Snapshot {
            extensions,
            calls: calls.iter().collect(),
            recent_calls: recent,
            connections: live.connections.values().map(|c| c.as_ref()).collect(),
            queues: live
                .queues
                .values()
                .filter(|q| filter.matches(&Change::Queue(Arc::clone(q))))
                .map(|q| q.as_ref())
                .collect(),
        };
        wire_json(self.seq, "snapshot", now, data)
    }

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
        if msg.feed && self.store.push(Persist::Snapshot(msg.snapshot)) {
            self.schedule_flush(ctx);
        }
    }

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
        // Queued behind the changes before it, which it must not overtake.
        if self.store.push(Persist::Confirmed(msg)) {
            self.schedule_flush(ctx);
        }
    }
}

impl Handler<SyncCalls> for Hub {
    type Result = ();

    fn handle(&mut self, msg: SyncCalls, ctx: &mut Context<Self>) {
        guarded(self, ctx, "SyncCalls", |act, ctx| act.sync_calls(msg, ctx));
    }
}

impl Handler<Confirmed> for Hub {
    type Result = ();

    fn handle(&mut self, msg: Confirmed, ctx: &mut Context<Self>) {
        guarded(self, ctx, "Confirmed", |act, ctx| act.confirmed(msg, ctx));
    }
}
