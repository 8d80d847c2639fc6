//! [`Envelope`]: one numbered change as every subscriber receives it, and the
//! `{seq, type, ts, data}` JSON shape of the messages they read.

use std::sync::OnceLock;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::change::Change;

/// One numbered change.
///
/// It carries a cache for its encoded form: the hub shares one envelope among every
/// subscriber, so the transport encodes a change once, not once per client. What the
/// encoded form is (a WebSocket frame) is the transport's business, see
/// [`Envelope::encoded_with`].
#[derive(Debug)]
pub struct Envelope {
    /// Position in the stream of changes.
    pub seq: u64,
    /// When it happened (the PBX's event time when known).
    pub ts: DateTime<Utc>,
    /// What changed.
    pub change: Change,
    encoded: OnceLock<Bytes>,
}

#[derive(Serialize)]
struct Wire<'a, T: Serialize> {
    seq: u64,
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(serialize_with = "crate::timefmt::utc")]
    ts: DateTime<Utc>,
    data: T,
}

/// Serialises a `{seq, type, ts, data}` message.
pub fn wire_json<T: Serialize>(seq: u64, kind: &str, ts: DateTime<Utc>, data: T) -> String {
    serde_json::to_string(&Wire {
        seq,
        kind,
        ts,
        data,
    })
    .unwrap_or_else(|e| {
        log::error!("cannot serialise a {kind} message: {e}");
        String::from("{}")
    })
}

/// Writes a `{seq, type, ts, data}` message into `out`.
fn write_wire<T: Serialize>(
    out: &mut Vec<u8>,
    seq: u64,
    kind: &str,
    ts: DateTime<Utc>,
    data: T,
) -> serde_json::Result<()> {
    let wire = Wire {
        seq,
        kind,
        ts,
        data,
    };
    serde_json::to_writer(out, &wire)
}

impl Envelope {
    /// Change number `seq`, which happened at `ts`.
    pub fn new(seq: u64, ts: DateTime<Utc>, change: Change) -> Self {
        Self {
            seq,
            ts,
            change,
            encoded: OnceLock::new(),
        }
    }

    /// Appends the change as a `{seq, type, ts, data}` JSON message to `out`
    /// (straight into the caller's buffer, so a transport can put its header
    /// before the JSON without copying it).
    pub fn write_json(&self, out: &mut Vec<u8>) -> serde_json::Result<()> {
        let (seq, ts, kind) = (self.seq, self.ts, self.change.kind());
        match &self.change {
            Change::Extension(e) => write_wire(out, seq, kind, ts, e.as_ref()),
            Change::CallStarted(c) | Change::CallUpdated(c) | Change::CallEnded(c) => {
                write_wire(out, seq, kind, ts, c.as_ref())
            }
            Change::Connection(s) => write_wire(out, seq, kind, ts, s.as_ref()),
            Change::RefreshCompleted(v) => write_wire(out, seq, kind, ts, v.as_ref()),
            Change::Queue(q) => write_wire(out, seq, kind, ts, q.as_ref()),
        }
    }

    /// The encoded form `encode` makes of this envelope, made on first use and
    /// shared by every subscriber afterwards. There is one transport, so one
    /// encoder: every call site passes the same function.
    pub fn encoded_with(&self, encode: impl FnOnce(&Self) -> Bytes) -> Bytes {
        self.encoded.get_or_init(|| encode(self)).clone()
    }

    /// Changes with the same key supersede each other for a lagging client (the
    /// latest state of an extension or call is all it needs); `None` is never merged.
    pub fn conflation_key(&self) -> Option<(u8, &str, &str)> {
        match &self.change {
            Change::Extension(e) => Some((0, e.pbx.as_str(), e.extension.as_str())),
            Change::CallStarted(_) | Change::CallEnded(_) => None,
            Change::CallUpdated(c) => Some((1, c.pbx.as_str(), c.id.as_str())),
            Change::Connection(s) => Some((2, s.pbx.as_str(), "")),
            Change::RefreshCompleted(_) => None,
            Change::Queue(q) => Some((3, q.pbx.as_str(), q.name.as_str())),
        }
    }
}
