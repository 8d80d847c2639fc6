//! [`Change`]: one state change as the pipeline publishes it, and [`Confirmed`]:
//! extensions the PBX confirmed without a change.

use std::sync::Arc;

use actix::prelude::*;

use crate::model::queue::Queue;
use crate::model::refresh::RefreshReport;
use crate::model::{Call, ConnectionStatus, Extension};

/// A state change to fan out (WebSocket), keep (live view) and store.
#[derive(Debug, Clone)]
pub enum Change {
    /// An extension's state changed.
    Extension(Arc<Extension>),
    /// A call began.
    CallStarted(Arc<Call>),
    /// A call changed.
    CallUpdated(Arc<Call>),
    /// A call ended (final record).
    CallEnded(Arc<Call>),
    /// An AMI connection changed state.
    Connection(Arc<ConnectionStatus>),
    /// A refresh finished (its JSON result).
    RefreshCompleted(Arc<RefreshReport>),
    /// A queue changed (callers, members or today's figures); live only, not stored.
    Queue(Arc<Queue>),
}

impl Change {
    /// The WebSocket message type.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Extension(_) => "extension.status",
            Self::CallStarted(_) => "call.started",
            Self::CallUpdated(_) => "call.updated",
            Self::CallEnded(_) => "call.ended",
            Self::Connection(_) => "ami.connection",
            Self::RefreshCompleted(_) => "refresh.completed",
            Self::Queue(_) => "queue.updated",
        }
    }
}

/// Extensions whose state a refresh or resync confirmed (no state change to fan out).
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct Confirmed {
    /// The PBX.
    pub pbx: Arc<str>,
    /// The extensions read.
    pub extensions: Vec<String>,
    /// When.
    pub at: chrono::DateTime<chrono::Utc>,
}
