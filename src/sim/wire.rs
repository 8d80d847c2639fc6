//! Writing AMI messages the way Asterisk lays them out, straight into a byte buffer.
//!
//! The simulator's hot path: every generated event is appended here with no
//! intermediate strings, so a generator can write hundreds of thousands of events a
//! second. Header names and their order copy the real Asterisk 22 captures in
//! `tests/fixtures` (see the fixture README): an async event starts with `Event`,
//! `Privilege`, `Timestamp`, `SystemName`; list items and replies carry no Timestamp.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::{BufMut, BytesMut};

use super::channel::Channel;

/// The banner Asterisk 22 sends when a client connects.
pub const BANNER: &[u8] = b"Asterisk Call Manager/11.0.0\r\n";

/// Seconds since the epoch with microseconds, as `Timestamp:` and `Ping` print it.
pub fn epoch_timestamp() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    format!("{}.{:06}", now.as_secs(), now.subsec_micros())
}

/// A byte buffer that knows how to write AMI headers, events and replies.
#[derive(Debug)]
pub struct Wire {
    buf: BytesMut,
    timestamp: String,
    system_name: String,
    events: u64,
}

impl Wire {
    /// An empty buffer whose async events name `system_name` as `SystemName`.
    pub fn new(system_name: &str, capacity: usize) -> Self {
        Self {
            buf: BytesMut::with_capacity(capacity),
            timestamp: epoch_timestamp(),
            system_name: system_name.to_string(),
            events: 0,
        }
    }

    /// Re-reads the wall clock for the `Timestamp` of the events written next; called
    /// once per generator step so the clock is read once per handful of events.
    pub fn stamp(&mut self) {
        self.timestamp = epoch_timestamp();
    }

    /// Bytes written and not yet taken.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// True when nothing is waiting to be taken.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Events written since the last [`Wire::take`].
    pub fn events(&self) -> u64 {
        self.events
    }

    /// Hands over everything written so far (and the count of its events).
    pub fn take(&mut self) -> (bytes::Bytes, u64) {
        let events = std::mem::take(&mut self.events);
        (self.buf.split().freeze(), events)
    }

    /// One `Key: Value` line.
    pub fn h(&mut self, key: &str, value: &str) -> &mut Self {
        self.buf.put_slice(key.as_bytes());
        self.buf.put_slice(b": ");
        self.buf.put_slice(value.as_bytes());
        self.buf.put_slice(b"\r\n");
        self
    }

    /// One `Key: <number>` line.
    pub fn n(&mut self, key: &str, value: i64) -> &mut Self {
        use std::fmt::Write;
        self.buf.put_slice(key.as_bytes());
        self.buf.put_slice(b": ");
        let _ = write!(self, "{value}");
        self.buf.put_slice(b"\r\n");
        self
    }

    /// The blank line that ends a message.
    pub fn end(&mut self) {
        self.buf.put_slice(b"\r\n");
    }

    /// Starts an async event: `Event`, `Privilege`, `Timestamp`, `SystemName`.
    pub fn event(&mut self, name: &str, privilege: &str) -> &mut Self {
        self.events += 1;
        self.buf.put_slice(b"Event: ");
        self.buf.put_slice(name.as_bytes());
        self.buf.put_slice(b"\r\nPrivilege: ");
        self.buf.put_slice(privilege.as_bytes());
        self.buf.put_slice(b"\r\nTimestamp: ");
        self.buf.put_slice(self.timestamp.as_bytes());
        self.buf.put_slice(b"\r\nSystemName: ");
        self.buf.put_slice(self.system_name.as_bytes());
        self.buf.put_slice(b"\r\n");
        self
    }

    /// Starts an event-list item (no Privilege, no Timestamp): `Event`, `ActionID`.
    pub fn list_item(&mut self, name: &str, action_id: Option<&str>) -> &mut Self {
        self.h("Event", name);
        if let Some(id) = action_id {
            self.h("ActionID", id);
        }
        self
    }

    /// Starts a reply: `Response`, then the ActionID when the action had one.
    pub fn response(&mut self, kind: &str, action_id: Option<&str>) -> &mut Self {
        self.h("Response", kind);
        if let Some(id) = action_id {
            self.h("ActionID", id);
        }
        self
    }

    /// A whole `Response` + `Message` reply.
    pub fn reply(&mut self, kind: &str, action_id: Option<&str>, message: &str) {
        self.response(kind, action_id).h("Message", message).end();
    }

    /// The channel snapshot Asterisk puts in every channel event, under `prefix`
    /// (`""`, `Dest`, `Transferer`...): Channel .. Linkedid in capture order.
    pub fn channel(&mut self, prefix: &str, c: &Channel) -> &mut Self {
        let p = |s: &mut Self, k: &str, v: &str| {
            s.buf.put_slice(prefix.as_bytes());
            s.h(k, v);
        };
        p(self, "Channel", &c.name);
        self.buf.put_slice(prefix.as_bytes());
        self.n("ChannelState", i64::from(c.state.code()));
        p(self, "ChannelStateDesc", c.state.desc());
        p(self, "CallerIDNum", &c.cid_num);
        p(self, "CallerIDName", &c.cid_name);
        p(self, "ConnectedLineNum", &c.conn_num);
        p(self, "ConnectedLineName", &c.conn_name);
        p(self, "Language", "en");
        p(self, "AccountCode", "");
        p(self, "Context", &c.context);
        p(self, "Exten", &c.exten);
        p(self, "Priority", "1");
        p(self, "Uniqueid", &c.uniqueid);
        p(self, "Linkedid", &c.linkedid);
        self
    }

    /// The bridge snapshot of bridge events, under `prefix` (`""`, `Orig`, `Second`).
    pub fn bridge(&mut self, prefix: &str, id: &str, members: usize) -> &mut Self {
        let p = |s: &mut Self, k: &str, v: &str| {
            s.buf.put_slice(prefix.as_bytes());
            s.h(k, v);
        };
        p(self, "BridgeUniqueid", id);
        p(self, "BridgeType", "basic");
        p(self, "BridgeTechnology", "simple_bridge");
        p(self, "BridgeCreator", "<unknown>");
        p(self, "BridgeName", "<unknown>");
        self.buf.put_slice(prefix.as_bytes());
        self.n("BridgeNumChannels", members as i64);
        p(self, "BridgeVideoSourceMode", "none");
        self
    }

    /// Appends raw bytes (pre-encoded messages).
    pub fn raw(&mut self, bytes: &[u8]) {
        self.buf.put_slice(bytes);
    }
}

impl std::fmt::Write for Wire {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.buf.put_slice(s.as_bytes());
        Ok(())
    }
}
