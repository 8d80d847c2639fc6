//! Typed errors of the AMI layer.
//!
//! Two families: [`FrameError`] describes one broken or hostile message on the wire
//! (the codec reports it and resynchronises, so one bad message never ends a
//! connection), [`AmiError`] is what a connection-level operation (connect, login,
//! an action's reply) can fail with.

use std::io;
use std::time::Duration;

use thiserror::Error;

/// A message the codec could not turn into a [`crate::ami::RawMessage`].
///
/// The codec yields these as items instead of stream errors, because a PBX that
/// sends one damaged message is still worth listening to.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FrameError {
    /// A line grew past the configured limit before its end arrived.
    #[error("line longer than {limit} bytes")]
    LineTooLong {
        /// The configured maximum line length in bytes.
        limit: usize,
    },
    /// A message had more header lines than allowed.
    #[error("message has more than {limit} headers")]
    TooManyHeaders {
        /// The configured maximum number of headers.
        limit: usize,
    },
    /// A message grew past the configured size limit.
    #[error("message larger than {limit} bytes")]
    MessageTooLarge {
        /// The configured maximum message size in bytes.
        limit: usize,
    },
    /// The stream ended inside a message.
    #[error("stream ended inside a message ({bytes} bytes)")]
    Truncated {
        /// How many bytes of the unfinished message were received.
        bytes: usize,
    },
    /// A complete message whose first header is neither `Event` nor `Response`.
    #[error("message starts with {first_key:?}, not Event or Response")]
    Unclassified {
        /// The key of the first header line (lossy, at most 64 bytes).
        first_key: String,
    },
}

/// Why an action could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ActionError {
    /// A header key or value contains CR or LF, which would inject extra headers.
    #[error("header {key:?} contains a line break")]
    LineBreak {
        /// The offending header's key.
        key: String,
    },
    /// A line over Asterisk's 1024-byte limit, which Asterisk rejects.
    #[error("header {key:?} makes a line of {len} bytes, over Asterisk's 1024")]
    LineTooLong {
        /// The offending header's key.
        key: String,
        /// The length of the encoded line.
        len: usize,
    },
}

/// Failure of a connection-level AMI operation.
#[derive(Debug, Error)]
pub enum AmiError {
    /// The socket failed.
    #[error("i/o error: {0}")]
    Io(#[from] io::Error),
    /// Connecting or waiting for an answer took longer than allowed.
    #[error("timed out after {0:?} while {1}")]
    Timeout(Duration, &'static str),
    /// The peer closed the connection.
    #[error("connection closed by the peer while {0}")]
    Closed(&'static str),
    /// The peer did not speak AMI (no banner, or an unexpected answer).
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The PBX refused the login; the message is the PBX's own (never the secret).
    #[error("login refused: {0}")]
    LoginRefused(String),
    /// An action could not be encoded.
    #[error(transparent)]
    Action(#[from] ActionError),
}
