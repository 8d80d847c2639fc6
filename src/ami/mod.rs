//! The AMI protocol as plain code: framing, typed messages, actions and correlation.
//!
//! No actors, no sockets, no clock (the correlator is handed `Instant`s), so all of
//! it can be tested, fuzzed and benchmarked on its own. Layers, bottom up:
//! [`codec`] frames bytes into [`RawMessage`]s; [`AmiMessage::classify`] gives them
//! meaning ([`Event`] or [`Response`]); [`action`] builds what we send;
//! [`correlator`] matches replies and event lists to the actions that asked.

pub mod action;
pub mod auth;
pub mod codec;
pub mod consumed;
pub mod correlator;
pub mod error;
pub mod event;
pub mod event_names;
pub mod filter;
pub mod message;
pub mod response;
mod scan;

pub use action::{md5_key, Action, ActionIds};
pub use auth::AuthMethod;
pub use codec::{AmiCodec, Frame, Limits};
pub use correlator::{Correlated, Correlator};
pub use error::{ActionError, AmiError, FrameError};
pub use event::Event;
pub use filter::EventFilter;
pub use message::RawMessage;
pub use response::{Response, ResponseKind};

/// A classified message from a PBX.
#[derive(Debug, Clone, PartialEq)]
pub enum AmiMessage {
    /// Something happened on the PBX (or an event-list item).
    Event(Event),
    /// A reply to an action.
    Response(Response),
}

impl AmiMessage {
    /// Classifies by the first header, as Asterisk always writes `Event:` or `Response:`
    /// first (so `OriginateResponse`, an event that also carries `Response:`, is an event).
    pub fn classify(raw: RawMessage) -> Result<Self, FrameError> {
        let first = raw.field(0).map(|(k, _)| k).unwrap_or("");
        if first.eq_ignore_ascii_case("Event") {
            Ok(Self::Event(Event::from_raw(raw)))
        } else if first.eq_ignore_ascii_case("Response") {
            Ok(Self::Response(Response::from_raw(raw)))
        } else {
            let mut first_key = first.to_string();
            first_key.truncate(first_key.floor_char_boundary_compat(64));
            Err(FrameError::Unclassified { first_key })
        }
    }

    /// The ActionID, for correlation.
    pub fn action_id(&self) -> Option<&str> {
        match self {
            Self::Event(e) => e.action_id(),
            Self::Response(r) => r.action_id(),
        }
    }
}

/// `str::floor_char_boundary` is unstable; this is the small stable equivalent.
trait FloorCharBoundary {
    fn floor_char_boundary_compat(&self, index: usize) -> usize;
}

impl FloorCharBoundary for String {
    fn floor_char_boundary_compat(&self, index: usize) -> usize {
        if index >= self.len() {
            return self.len();
        }
        (0..=index)
            .rev()
            .find(|&i| self.is_char_boundary(i))
            .unwrap_or(0)
    }
}
