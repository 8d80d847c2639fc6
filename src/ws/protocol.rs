//! The WebSocket protocol: `{seq, type, ts, data}` messages out, filters and resume in.
//!
//! Server → client: `snapshot` (on connect, or when a resume gap is too old:
//! `{extensions, calls, connections}` with `seq` = the last change it includes),
//! `resumed` (`{replayed, seq}`) after a successful resume, then changes: `extension.status`,
//! `call.started`, `call.updated`, `call.ended`, `ami.connection`,
//! `refresh.completed`. Client → server (JSON text):
//! `{"type":"subscribe","filter":{"kind":"all"|"extensions"|"calls","extensions":["1001"],"pbx":"default"}}`,
//! `{"type":"resume","lastSeq":N}`, `{"type":"ping"}`. The same filter and resume can be
//! given in the URL (`/ws?kind=calls&extensions=1001,1002&lastSeq=42`).

use serde::Deserialize;

use crate::delivery::Filter;

/// A message from the client.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", deny_unknown_fields)]
pub enum ClientMessage {
    /// Replace the subscription filter.
    Subscribe {
        /// The new filter.
        filter: Filter,
    },
    /// Send what was missed after `last_seq`.
    #[serde(rename_all = "camelCase")]
    Resume {
        /// The last sequence number the client saw.
        last_seq: u64,
    },
    /// Application-level ping; answered with `pong`.
    Ping,
}
