//! How a subscriber joins the hub and how changes reach it: the subscribe,
//! resubscribe and unsubscribe messages, the [`Catchup`] a subscriber gets first,
//! [`Deliver`] for the changes after it, and the [`DeliveryRoute`] a transport
//! implements so the hub can hand one thread's deliveries over at once.

use std::sync::Arc;

use actix::prelude::*;

use super::envelope::Envelope;
use super::filter::Filter;

/// Changes for one subscriber.
///
/// Shared: every subscriber that takes everything gets the same list, so a flush
/// to them costs one reference count each rather than one per change each (those
/// counts were bounced between the pipeline thread and every worker thread).
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct Deliver(pub Arc<[Arc<Envelope>]>);

/// Tells a subscriber the service is going away (graceful shutdown): it closes
/// its connection accordingly.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct GoingAway;

/// One flush's changes for the subscribers of one route: (subscriber id, its changes).
pub type Shares = Vec<(u64, Arc<[Arc<Envelope>]>)>;

/// Where the deliveries of several subscribers go in one hand-over (the transport's
/// subscribers that share a thread), so a flush costs one cross-thread wake-up per
/// route instead of one per subscriber.
pub trait DeliveryRoute: Send + Sync + std::fmt::Debug {
    /// Tells routes apart: subscribers with the same id share one hand-over.
    fn id(&self) -> u64;

    /// Hands each subscriber its share; `false` when the route is gone (its
    /// thread has stopped) and the shares were dropped.
    fn deliver(&self, shares: Shares) -> bool;
}

/// What a new or resuming subscriber receives first.
#[derive(Debug, Clone)]
pub enum Catchup {
    /// The full current state as one `snapshot` message (JSON) as of `seq`.
    Snapshot {
        /// The message.
        json: String,
        /// The last change it includes.
        seq: u64,
    },
    /// The changes after the client's `lastSeq` up to `seq`, filtered.
    Replay {
        /// The missed changes.
        changes: Vec<Arc<Envelope>>,
        /// The last change the replay covers.
        seq: u64,
    },
}

/// Registers a subscriber; answers its catch-up, or `None` when the hub failed
/// while building it (it is being restarted: the subscriber closes, and its client
/// reconnects and resumes).
#[derive(Message)]
#[rtype(result = "Option<Catchup>")]
pub struct Subscribe {
    /// The subscriber's id.
    pub id: u64,
    /// Where to deliver.
    pub client: Recipient<Deliver>,
    /// Where to say goodbye on shutdown.
    pub closer: Recipient<GoingAway>,
    /// The route `client` joined; deliveries then go through it (`None`:
    /// straight to `client`).
    pub route: Option<Arc<dyn DeliveryRoute>>,
    /// What it wants.
    pub filter: Filter,
    /// The last `seq` it saw, when resuming.
    pub last_seq: Option<u64>,
}

/// Changes a subscriber's filter (or resumes) — answers a fresh catch-up.
#[derive(Message)]
#[rtype(result = "Option<Catchup>")]
pub struct Resubscribe {
    /// The subscriber's id.
    pub id: u64,
    /// The new filter (unchanged when `None`).
    pub filter: Option<Filter>,
    /// Resume after this `seq` (a fresh snapshot when `None`).
    pub last_seq: Option<u64>,
}

/// Removes a subscriber.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Unsubscribe {
    /// The subscriber's id.
    pub id: u64,
}
