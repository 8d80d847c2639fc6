//! [`Correlator`]: matches replies and event lists to the actions that asked for them.
//!
//! Asterisk answers actions in any order, interleaved with live events, and event
//! list items reuse live event names (an `ExtensionStatus` list item looks like a
//! live `ExtensionStatus`): only the ActionID tells them apart. The correlator keeps
//! every pending action by ActionID with a caller-chosen token and deadline, collects
//! list items up to `EventList: Complete`, passes everything else through as live
//! events, and drops late replies (after a timeout, or from an earlier connection
//! epoch) instead of matching them to a new request. It reads no clock: callers pass
//! `Instant`s, which keeps it deterministic under test.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Instant;

use super::action::{Action, ActionIds};
use super::event::Event;
use super::response::Response;
use super::AmiMessage;

/// How many timed-out list IDs are remembered, so their late items are not taken as live.
const EXPIRED_MEMORY: usize = 256;

struct Pending<T> {
    token: T,
    deadline: Instant,
    list: Option<(Response, Vec<Event>)>,
}

/// The outcome of feeding one message to the correlator.
#[derive(Debug)]
pub enum Correlated<T> {
    /// Not part of any pending exchange: an event to route as live state.
    Live(Event),
    /// A pending action got its (single) reply.
    Reply {
        /// The token given at registration.
        token: T,
        /// The reply.
        response: Response,
    },
    /// A pending event list is complete.
    List {
        /// The token given at registration.
        token: T,
        /// The reply that opened the list.
        response: Response,
        /// The list items, in order, without the `...Complete` event.
        items: Vec<Event>,
        /// The closing `...Complete` event (carries `ListItems`).
        complete: Event,
    },
    /// Consumed: a list item stored for later, or a late item of an expired list.
    Absorbed,
    /// A reply nobody waits for (timed out, or from an earlier connection); dropped.
    Stale(Response),
}

/// Pending actions of one connection epoch.
pub struct Correlator<T> {
    ids: ActionIds,
    pending: HashMap<String, Pending<T>>,
    expired: HashSet<String>,
    expired_order: VecDeque<String>,
}

impl<T> Correlator<T> {
    /// A correlator issuing IDs from `ids`.
    pub fn new(ids: ActionIds) -> Self {
        Self {
            ids,
            pending: HashMap::new(),
            expired: HashSet::new(),
            expired_order: VecDeque::new(),
        }
    }

    /// Starts a new epoch (a new connection): returns the tokens still pending, which
    /// the caller fails — they are never replayed on the new connection.
    pub fn reset(&mut self, ids: ActionIds) -> Vec<T> {
        self.ids = ids;
        self.expired.clear();
        self.expired_order.clear();
        self.pending.drain().map(|(_, p)| p.token).collect()
    }

    /// Gives `action` a fresh ActionID and waits for its reply until `deadline`.
    pub fn register(&mut self, action: Action, token: T, deadline: Instant) -> Action {
        let id = self.ids.next_id();
        self.track(id.clone(), token, deadline);
        action.with_id(id)
    }

    /// Waits until `deadline` for the reply to an action that already went out with
    /// ActionID `id` (chosen elsewhere, e.g. replaying a recorded session).
    ///
    /// The caller keeps `id` unique on the connection; a token already waiting under
    /// the same ID is displaced and returned, so it can be failed rather than lost.
    pub fn track(&mut self, id: impl Into<String>, token: T, deadline: Instant) -> Option<T> {
        self.pending
            .insert(
                id.into(),
                Pending {
                    token,
                    deadline,
                    list: None,
                },
            )
            .map(|p| p.token)
    }

    /// How many actions await a reply.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Removes and returns every action whose deadline has passed.
    pub fn expire(&mut self, now: Instant) -> Vec<(String, T)> {
        let due: Vec<String> = self
            .pending
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(id, _)| id.clone())
            .collect();
        let mut out = Vec::with_capacity(due.len());
        for id in due {
            if let Some(p) = self.pending.remove(&id) {
                self.remember_expired(id.clone());
                out.push((id, p.token));
            }
        }
        out
    }

    fn remember_expired(&mut self, id: String) {
        if self.expired.insert(id.clone()) {
            self.expired_order.push_back(id);
        }
        while self.expired_order.len() > EXPIRED_MEMORY {
            if let Some(old) = self.expired_order.pop_front() {
                self.expired.remove(&old);
            }
        }
    }

    /// Feeds one message from the PBX.
    pub fn accept(&mut self, msg: AmiMessage) -> Correlated<T> {
        match msg {
            AmiMessage::Response(r) => self.accept_response(r),
            AmiMessage::Event(e) => self.accept_event(e),
        }
    }

    fn accept_response(&mut self, response: Response) -> Correlated<T> {
        let Some(id) = response.action_id() else {
            return Correlated::Stale(response);
        };
        let Some(pending) = self.pending.get_mut(id) else {
            return Correlated::Stale(response);
        };
        if response.is_success() && response.starts_event_list() {
            pending.list = Some((response, Vec::new()));
            return Correlated::Absorbed;
        }
        let id = id.to_string();
        match self.pending.remove(&id) {
            Some(p) => Correlated::Reply {
                token: p.token,
                response,
            },
            None => Correlated::Stale(response),
        }
    }

    fn accept_event(&mut self, event: Event) -> Correlated<T> {
        let Some(id) = event.action_id() else {
            return Correlated::Live(event);
        };
        let complete = event
            .event_list()
            .is_some_and(|v| v.eq_ignore_ascii_case("Complete"));
        if let Some(pending) = self.pending.get_mut(id) {
            if let Some((_, items)) = pending.list.as_mut() {
                if !complete {
                    items.push(event);
                    return Correlated::Absorbed;
                }
                let id = id.to_string();
                if let Some(Pending {
                    token,
                    list: Some((response, items)),
                    ..
                }) = self.pending.remove(&id)
                {
                    return Correlated::List {
                        token,
                        response,
                        items,
                        complete: event,
                    };
                }
                return Correlated::Absorbed;
            }
            // An event caused by a pending plain action (UserEvent, OriginateResponse).
            return Correlated::Live(event);
        }
        if self.expired.contains(id) {
            if complete {
                self.expired.remove(id);
            }
            return Correlated::Absorbed;
        }
        if complete && self.ids.is_ours(id) {
            return Correlated::Absorbed;
        }
        Correlated::Live(event)
    }
}
