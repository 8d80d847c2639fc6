//! What the pipeline and its subscribers exchange: the [`Change`] the actors
//! publish, the numbered [`Envelope`] the hub hands out, subscription [`Filter`]s,
//! the subscribe/deliver messages, and what goes to the store writer.
//!
//! This layer sits below the actors, the store, the cluster and the WebSocket
//! sessions so each of them can speak these types without importing another: the
//! hub fans out through the [`DeliveryRoute`] trait and never names a WebSocket
//! type, and the store and cluster read changes from here, not from the actors.

pub mod calls_snapshot;
pub mod change;
pub mod envelope;
pub mod feed_form;
pub mod filter;
pub mod store_writes;
pub mod subscription;

pub use calls_snapshot::{CallsSnapshot, SyncCalls};
pub use change::{Change, Confirmed};
pub use envelope::{wire_json, Envelope};
pub use filter::{Filter, FilterError, FilterKind, MAX_FILTER_EXTENSIONS};
pub use store_writes::{Persist, PersistMany};
pub use subscription::{
    Catchup, Deliver, DeliveryRoute, GoingAway, Resubscribe, Shares, Subscribe, Unsubscribe,
};
