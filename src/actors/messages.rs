//! Every actix message of the pipeline, one documented struct each.

use std::sync::Arc;

use actix::prelude::*;
use chrono::{DateTime, Utc};

use super::backpressure::BatchTicket;
use crate::ami::{Action, AmiError, Event, Response};
/// What [`Publish`] carries: defined with the delivery types, which the store,
/// the cluster and the WebSocket sessions read without importing the actors.
pub use crate::delivery::Change;
pub use crate::model::refresh::ExtensionCorrection;
use crate::model::{DisplayName, HintStatus};
use crate::state::extension::Correction;

/// Live events of one PBX, in arrival order (a batch per socket read keeps the
/// per-event cost of crossing threads low).
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct EventBatch {
    /// The PBX they came from.
    pub pbx: Arc<str>,
    /// The events.
    pub events: Vec<Event>,
    /// Events read before the last of `events` that nothing reads, skipped unparsed
    /// by the codec; the router counts them as routed (to nowhere, as it would have).
    pub skipped: u64,
    /// Holds the socket read's place in the pipeline's bounded queue until the
    /// router, the trackers and the hub have handled what it caused
    /// ([`super::backpressure`]); `None` when the batch does not come from a
    /// socket (benchmarks, tests).
    pub ticket: Option<BatchTicket>,
}

/// After each login: every channel the PBX has now (`CoreShowChannel` items), so
/// the router closes calls that are gone and adopts calls it did not know.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct ResyncChannels {
    /// The PBX.
    pub pbx: Arc<str>,
    /// The list items.
    pub items: Vec<Event>,
}

/// Which queue list a [`ResyncQueues`] carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueList {
    /// `QueueStatus`: `QueueParams`, `QueueMember` and `QueueEntry` items, the
    /// whole truth about members and callers.
    Status,
    /// `QueueSummary`: one item per queue (names queues with nobody in them).
    Summary,
}

/// After each login: the PBX's queue lists, so the router's queue book starts
/// from what the PBX has now.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct ResyncQueues {
    /// The PBX.
    pub pbx: Arc<str>,
    /// Which list.
    pub list: QueueList,
    /// The list items.
    pub items: Vec<Event>,
}

/// Extension states read from the PBX (`ExtensionStatus` list items after a login,
/// or `ExtensionState` replies of a refresh); answers the corrections made.
#[derive(Message, Debug)]
#[rtype(result = "Vec<ExtensionCorrection>")]
pub struct ConfirmExtensions {
    /// The PBX.
    pub pbx: Arc<str>,
    /// What the PBX said, per extension.
    pub states: Vec<ReadState>,
    /// When it was read.
    pub at: DateTime<Utc>,
}

/// Display names read from the PBX (or the names file) after a login or by a
/// refresh: per extension the winning source's name, or `None` when no source has one.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct NamesRead {
    /// The PBX.
    pub pbx: Arc<str>,
    /// Extension number and its name.
    pub names: Vec<(String, Option<DisplayName>)>,
}

/// One extension's display name, from [`NamesRead`].
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct SetName(pub Option<DisplayName>);

/// One extension's state as read from the PBX.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadState {
    /// Extension number.
    pub exten: String,
    /// Its context.
    pub context: String,
    /// Its hint, when given.
    pub hint: Option<String>,
    /// Numeric status.
    pub status: HintStatus,
    /// Status text, when given.
    pub status_text: Option<String>,
}

/// One event for a call tracker.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct CallEvent {
    /// The event.
    pub event: Event,
    /// The ticket of the socket read it came in, passed on to what the tracker
    /// publishes so the read's permit waits for the hub ([`super::backpressure`]).
    pub ticket: Option<BatchTicket>,
}

/// Asks a call tracker to end its call for a reason other than a hangup.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct CloseCall {
    /// The outcome recorded (`lostWhileDisconnected`, `timedOut`).
    pub outcome: crate::model::CallOutcome,
}

/// The channels of a call that the PBX listed after a (re)login: the tracker adopts
/// them and ends the legs that are gone.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct ResyncCall {
    /// `CoreShowChannel` items of this call.
    pub items: Vec<Event>,
}

/// A tracker tells the router its call is over (so it forgets the tracker).
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct CallFinished {
    /// The call id (Linkedid).
    pub id: String,
}

/// One event for an extension actor.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct ExtensionEvent {
    /// The event.
    pub event: Event,
    /// The ticket of the socket read it came in (see [`CallEvent::ticket`]).
    pub ticket: Option<BatchTicket>,
}

/// What the PBX said about an extension; answers the correction, if any.
#[derive(Message, Debug)]
#[rtype(result = "Option<Correction>")]
pub struct ConfirmState {
    /// What was read.
    pub state: ReadState,
    /// When.
    pub at: DateTime<Utc>,
}

/// Publishes one change to the hub.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct Publish {
    /// What changed.
    pub change: Change,
    /// The PBX `Timestamp` of the event that caused it (seconds since the epoch), for
    /// the delivery-latency histogram and the message's `ts`.
    pub event_ts: Option<f64>,
    /// The ticket of the socket read whose event caused it: dropped once the hub
    /// has handled the change, which returns the read's permit
    /// ([`super::backpressure`]). `None` for changes no read caused (resyncs,
    /// refreshes, restores, connection states).
    pub ticket: Option<BatchTicket>,
}

impl Publish {
    /// A change caused by an event stamped `event_ts` by the PBX.
    pub fn new(change: Change, event_ts: Option<f64>) -> Self {
        Self {
            change,
            event_ts,
            ticket: None,
        }
    }

    /// The same change, holding the permit of the read that caused it.
    pub fn with_ticket(mut self, ticket: Option<BatchTicket>) -> Self {
        self.ticket = ticket;
        self
    }
}

/// Sends an action on the main AMI connection and waits for its reply (or list).
#[derive(Message, Debug)]
#[rtype(result = "Result<AmiReply, AmiError>")]
pub struct SendAction {
    /// The action (its ActionID is assigned by the connection).
    pub action: Action,
    /// How long to wait for the reply.
    pub timeout: std::time::Duration,
}

/// A reply to an action.
#[derive(Debug, Clone)]
pub enum AmiReply {
    /// A single reply.
    Response(Response),
    /// An event list: the opening reply and the items.
    List {
        /// The reply that opened the list.
        response: Response,
        /// The items.
        items: Vec<Event>,
    },
}

pub use crate::supervision::InjectPanic;
