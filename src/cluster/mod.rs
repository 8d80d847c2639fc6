//! Several instances on one PostgreSQL: who holds each PBX's AMI connection, and
//! how every instance sees every change.
//!
//! - [`lease`]: one advisory lock per PBX on a dedicated session per instance;
//!   the holder runs the PBX's ConnectionActor, the others keep it on standby.
//! - [`payload`]: the holder's store writer appends each change to `change_feed`
//!   ([`crate::store::feed`]) in the same transaction as the state and notifies
//!   `switchboard_feed`.
//! - [`tap`]: the others LISTEN, read new rows per PBX in id order and publish
//!   them to their own hub (live view and WebSocket subscribers).
//! - [`gate`]: only the holder of a PBX writes that PBX's state (and feed).
//! - [`crate::delivery::CallsSnapshot`]: at a take-over the new holder feeds the
//!   store's picture of the PBX's calls, so changes the fenced old holder could not
//!   feed are not lost.
//! - [`worker`] runs leases and tap on one thread; [`controller`] turns its
//!   verdicts into actor messages (take over, stand by); [`view`] is what
//!   `/api/health` shows. The settings live in [`crate::config::cluster`].
//!
//! Off (SQLite, or `CLUSTER=off`), none of this runs and the service behaves as
//! a single instance.

pub mod controller;
pub mod gate;
pub mod lease;
pub mod payload;
pub mod tap;
pub mod view;
pub mod worker;

use thiserror::Error;

pub use controller::{prepare, ClusterRuntime, Prepared};
pub use view::ClusterView;

/// What can go wrong between an instance and the shared database.
#[derive(Debug, Error)]
pub enum ClusterError {
    /// The lease or feed session could not be opened.
    #[error("cannot connect to the cluster database: {0}")]
    Connect(#[from] diesel::ConnectionError),
    /// A lease or feed statement failed (the session is then treated as lost).
    #[error("cluster database statement failed: {0}")]
    Query(#[from] diesel::result::Error),
    /// A feed payload that is not the JSON of its kind.
    #[error("bad change-feed payload: {0}")]
    Payload(#[from] serde_json::Error),
    /// A feed entry this version cannot read back.
    #[error(transparent)]
    Form(#[from] crate::delivery::feed_form::FeedFormError),
}
