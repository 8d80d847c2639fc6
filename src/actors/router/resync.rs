//! The router's side of a resynchronisation: the channel list read after each
//! login says which calls still exist, and calls restored from the store are
//! tracked again until that list says whether they do.
//!
//! A call the list leaves out is not closed at once. Asterisk's manager session
//! writes an action's response as the action runs and the events queued
//! meanwhile after it, so the `Hangup`s of a call that ended while
//! `CoreShowChannels` ran reach us *after* a list that no longer shows it. Closed at the list, that call
//! would be stored as lost while disconnected although its real end is a moment
//! behind; so it stays tracked (its channels still known) for
//! [`UNLISTED_GRACE`], ends with its real outcome when those events come, and is
//! closed as lost only if nothing ends it by then.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use actix::prelude::*;

use super::{EventRouterActor, Tracked};
use crate::actors::call_tracker::CallTrackerActor;
use crate::actors::messages::{CloseCall, ResyncCall, ResyncChannels};
use crate::ami::Event;
use crate::model::CallOutcome;
use crate::state::admit::RecentlyEnded;
use crate::state::route::call_key;

/// How long a call missing from the list may still end by its own events.
pub const UNLISTED_GRACE: Duration = Duration::from_secs(2);

impl Handler<ResyncChannels> for EventRouterActor {
    type Result = ();

    fn handle(&mut self, msg: ResyncChannels, ctx: &mut Context<Self>) {
        // A new session: what the PBX lists now is the truth, and a PBX that
        // restarted may reuse ids of calls that ended before.
        self.ended = RecentlyEnded::default();
        let mut by_call: HashMap<String, Vec<Event>> = HashMap::new();
        for item in msg.items {
            if let Some(key) = call_key(&item) {
                let key = key.to_string();
                if let Some(uid) = item.uniqueid() {
                    self.channels.insert(uid.to_string(), key.clone());
                }
                by_call.entry(key).or_default().push(item);
            }
        }
        let unlisted: HashSet<String> = self
            .calls
            .keys()
            .filter(|k| !by_call.contains_key(*k))
            .cloned()
            .collect();
        if !unlisted.is_empty() || !by_call.is_empty() {
            log::info!(
                "pbx {}: resync: {} calls not listed (closed as lost unless their end \
                 arrives within {} ms), checking {} live calls",
                self.pbx,
                unlisted.len(),
                UNLISTED_GRACE.as_millis(),
                by_call.len()
            );
        }
        self.channels
            .retain(|_, call| by_call.contains_key(call) || unlisted.contains(call));
        self.now = Instant::now();
        for (id, items) in by_call {
            self.tracker(&id, ctx).do_send(ResyncCall { items });
        }
        if !unlisted.is_empty() {
            ctx.run_later(UNLISTED_GRACE, move |act, _| act.close_unlisted(unlisted));
        }
    }
}

impl EventRouterActor {
    /// Closes as lost the unlisted calls that are still tracked once the grace
    /// is over (a call whose own `Hangup`s came meanwhile has ended already).
    fn close_unlisted(&mut self, unlisted: HashSet<String>) {
        let mut closed = 0;
        for id in &unlisted {
            if let Some(t) = self.calls.remove(id) {
                t.addr.do_send(CloseCall {
                    outcome: CallOutcome::LostWhileDisconnected,
                });
                self.ended.insert(id);
                closed += 1;
            }
        }
        self.channels.retain(|_, call| !unlisted.contains(call));
        if closed > 0 {
            log::info!(
                "pbx {}: resync: closed {closed} calls lost while disconnected",
                self.pbx
            );
        }
    }
}

/// Calls that were active when the service last stopped, to track again until the
/// first resync says whether they still exist.
#[derive(Message)]
#[rtype(result = "()")]
pub struct RestoreCalls(pub Vec<crate::model::Call>);

impl Handler<RestoreCalls> for EventRouterActor {
    type Result = ();

    fn handle(&mut self, msg: RestoreCalls, ctx: &mut Context<Self>) {
        for call in msg.0 {
            if self.calls.contains_key(&call.id) {
                continue;
            }
            for leg in call.legs.iter().filter(|l| l.ended_at.is_none()) {
                self.channels.insert(leg.uniqueid.clone(), call.id.clone());
            }
            let id = call.id.clone();
            let addr = CallTrackerActor::restored(
                crate::state::call::CallModel::from_call(call),
                self.publish.clone(),
                ctx.address().recipient(),
                self.registry.clone(),
                self.metrics.clone(),
            )
            .start();
            self.calls.insert(
                id,
                Tracked {
                    addr,
                    last_event: Instant::now(),
                },
            );
        }
    }
}
