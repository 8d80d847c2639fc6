//! Typed AMI actions and their ActionIDs.
//!
//! Every action the service sends is built here and encoded as `Key: Value` lines.
//! Values are checked for line breaks (which would let a caller inject headers) and
//! for Asterisk's 1024-byte line limit before anything reaches the socket.
//!
//! ActionIDs are scoped to a connection epoch — `sb<instance>-<connection>-<seq>` —
//! so a late reply or list item from an earlier connection can never be matched to a
//! request made on a new one, and nothing is replayed blindly after a reconnect.

use std::fmt;

use bytes::{BufMut, BytesMut};
use md5::{Digest, Md5};

use super::error::ActionError;

/// Asterisk rejects action lines longer than this ("Failed to parse message: line too long").
pub const MAX_ACTION_LINE: usize = 1024;

/// Issues ActionIDs for one connection epoch.
#[derive(Debug, Clone)]
pub struct ActionIds {
    prefix: String,
    seq: u64,
}

impl ActionIds {
    /// IDs for connection number `connection` of service instance `instance`.
    ///
    /// `instance` should differ between processes (e.g. random at start-up) so two
    /// switchboard instances on one PBX never share IDs.
    pub fn new(instance: u32, connection: u64) -> Self {
        Self {
            prefix: format!("sb{instance:08x}-{connection}-"),
            seq: 0,
        }
    }

    /// The next unused ActionID of this epoch.
    pub fn next_id(&mut self) -> String {
        self.seq += 1;
        format!("{}{}", self.prefix, self.seq)
    }

    /// True when `id` was issued by this epoch.
    pub fn is_current(&self, id: &str) -> bool {
        id.starts_with(&self.prefix)
    }

    /// True when `id` looks like one of ours from any epoch of this instance.
    pub fn is_ours(&self, id: &str) -> bool {
        let instance_prefix = self.prefix.split('-').next().unwrap_or("");
        id.starts_with(instance_prefix) && id.as_bytes().get(instance_prefix.len()) == Some(&b'-')
    }
}

/// One AMI action: its name, an optional ActionID and further headers in order.
#[derive(Clone, PartialEq, Eq)]
pub struct Action {
    name: String,
    action_id: Option<String>,
    headers: Vec<(String, String)>,
}

impl fmt::Debug for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(k, v)| {
                let secret = k.eq_ignore_ascii_case("Secret") || k.eq_ignore_ascii_case("Key");
                (k.as_str(), if secret { "***" } else { v.as_str() })
            })
            .collect();
        f.debug_struct("Action")
            .field("name", &self.name)
            .field("action_id", &self.action_id)
            .field("headers", &headers)
            .finish()
    }
}

impl Action {
    /// A generic action, for anything without a typed constructor.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            action_id: None,
            headers: Vec::new(),
        }
    }

    /// Adds a header (kept in order; keys may repeat, e.g. `Variable`).
    pub fn header(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((key.into(), value.into()));
        self
    }

    /// Sets the ActionID the reply will carry.
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.action_id = Some(id.into());
        self
    }

    /// The action's name (`Action:` header).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The ActionID, once set.
    pub fn action_id(&self) -> Option<&str> {
        self.action_id.as_deref()
    }

    /// The first value of header `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    /// Plain-text login.
    pub fn login(username: &str, secret: &str) -> Self {
        Self::new("Login")
            .header("Username", username)
            .header("Secret", secret)
    }

    /// Asks for an MD5 challenge, the first step of a login that keeps the secret off the wire.
    pub fn challenge() -> Self {
        Self::new("Challenge").header("AuthType", "MD5")
    }

    /// The MD5 login answering `challenge`.
    pub fn login_md5(username: &str, secret: &str, challenge: &str) -> Self {
        Self::new("Login")
            .header("AuthType", "MD5")
            .header("Username", username)
            .header("Key", md5_key(challenge, secret))
    }

    /// Ends the session politely.
    pub fn logoff() -> Self {
        Self::new("Logoff")
    }

    /// Keep-alive; a missing reply reveals a dead peer.
    pub fn ping() -> Self {
        Self::new("Ping")
    }

    /// The hint state of one extension.
    pub fn extension_state(exten: &str, context: &str) -> Self {
        Self::new("ExtensionState")
            .header("Exten", exten)
            .header("Context", context)
    }

    /// Every hint's state as an event list (`ExtensionStatus` items).
    pub fn extension_state_list() -> Self {
        Self::new("ExtensionStateList")
    }

    /// Every device's state as an event list (`DeviceStateChange` items).
    pub fn device_state_list() -> Self {
        Self::new("DeviceStateList")
    }

    /// Every active channel as an event list (`CoreShowChannel` items).
    pub fn core_show_channels() -> Self {
        Self::new("CoreShowChannels")
    }

    /// Every queue's parameters, members and waiting callers as an event list
    /// (`QueueParams`, `QueueMember`, `QueueEntry` items).
    pub fn queue_status() -> Self {
        Self::new("QueueStatus")
    }

    /// One `QueueSummary` item per queue.
    pub fn queue_summary() -> Self {
        Self::new("QueueSummary")
    }

    /// Status of one channel, or of all when `channel` is `None`.
    pub fn status(channel: Option<&str>) -> Self {
        let a = Self::new("Status");
        match channel {
            Some(c) => a.header("Channel", c),
            None => a,
        }
    }

    /// An asynchronous Originate to `exten@context`; the outcome arrives as `OriginateResponse`.
    pub fn originate(channel: &str, context: &str, exten: &str, caller_id: Option<&str>) -> Self {
        let a = Self::new("Originate")
            .header("Channel", channel)
            .header("Context", context)
            .header("Exten", exten)
            .header("Priority", "1")
            .header("Async", "true");
        match caller_id {
            Some(cid) => a.header("CallerID", cid),
            None => a,
        }
    }

    /// A user event; Asterisk copies its headers (and ActionID) into `Event: UserEvent`.
    pub fn user_event(name: &str) -> Self {
        Self::new("UserEvent").header("UserEvent", name)
    }

    /// A CLI command; its output arrives as `Output:` lines.
    pub fn command(command: &str) -> Self {
        Self::new("Command").header("Command", command)
    }

    /// One PJSIP endpoint's objects as an event list; its `EndpointDetail` item
    /// carries the endpoint's `Callerid`.
    pub fn pjsip_show_endpoint(endpoint: &str) -> Self {
        Self::new("PJSIPShowEndpoint").header("Endpoint", endpoint)
    }

    /// One chan_sip peer; the reply itself carries its `Callerid`.
    pub fn sip_show_peer(peer: &str) -> Self {
        Self::new("SIPshowpeer").header("Peer", peer)
    }

    /// One AstDB value; it arrives as a `DBGetResponse` list item (`Val`).
    pub fn db_get(family: &str, key: &str) -> Self {
        Self::new("DBGet")
            .header("Family", family)
            .header("Key", key)
    }

    /// Writes the action in wire format, refusing line breaks and over-long lines.
    pub fn encode_into(&self, dst: &mut BytesMut) -> Result<(), ActionError> {
        let mut lines: Vec<(&str, &str)> = Vec::with_capacity(self.headers.len() + 2);
        lines.push(("Action", &self.name));
        if let Some(id) = &self.action_id {
            lines.push(("ActionID", id));
        }
        lines.extend(self.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        for (k, v) in &lines {
            if k.contains(['\r', '\n', ':']) || v.contains(['\r', '\n']) {
                return Err(ActionError::LineBreak { key: k.to_string() });
            }
            let len = k.len() + 2 + v.len();
            if len > MAX_ACTION_LINE {
                return Err(ActionError::LineTooLong {
                    key: k.to_string(),
                    len,
                });
            }
        }
        for (k, v) in lines {
            dst.reserve(k.len() + v.len() + 4);
            dst.put_slice(k.as_bytes());
            dst.put_slice(b": ");
            dst.put_slice(v.as_bytes());
            dst.put_slice(b"\r\n");
        }
        dst.put_slice(b"\r\n");
        Ok(())
    }
}

/// The MD5 login key: hex(md5(challenge + secret)), as Asterisk computes it.
pub fn md5_key(challenge: &str, secret: &str) -> String {
    let mut h = Md5::new();
    h.update(challenge.as_bytes());
    h.update(secret.as_bytes());
    h.finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>()
}
