//! [`Response`]: an AMI message whose first header is `Response:` — the reply to an action.

use super::message::RawMessage;

/// The `Response:` value, which says how the action went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseKind {
    /// The action succeeded (also the start of an event list).
    Success,
    /// The action failed; `Message` says why.
    Error,
    /// Legacy command output follows, up to `--END COMMAND--`.
    Follows,
    /// The reply to `Logoff`.
    Goodbye,
    /// Any other value, kept as text in the message.
    Other,
}

/// A reply to an action, correlated by ActionID.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    raw: RawMessage,
    kind: ResponseKind,
}

impl Response {
    /// Wraps `raw`, whose first header must be `Response`.
    pub fn from_raw(raw: RawMessage) -> Self {
        let value = raw.field(0).map(|(_, v)| v.trim()).unwrap_or("");
        let kind = if value.eq_ignore_ascii_case("Success") {
            ResponseKind::Success
        } else if value.eq_ignore_ascii_case("Error") {
            ResponseKind::Error
        } else if value.eq_ignore_ascii_case("Follows") {
            ResponseKind::Follows
        } else if value.eq_ignore_ascii_case("Goodbye") {
            ResponseKind::Goodbye
        } else {
            ResponseKind::Other
        };
        Self { raw, kind }
    }

    /// How the action went.
    pub fn kind(&self) -> ResponseKind {
        self.kind
    }

    /// The `Response:` value as sent.
    pub fn value(&self) -> &str {
        self.raw.field(0).map(|(_, v)| v.trim()).unwrap_or("")
    }

    /// True for `Success` (and `Follows`, which is a successful command).
    pub fn is_success(&self) -> bool {
        matches!(self.kind, ResponseKind::Success | ResponseKind::Follows)
    }

    /// The ActionID echoed from the action.
    pub fn action_id(&self) -> Option<&str> {
        self.raw.get("ActionID")
    }

    /// The human-readable `Message` header.
    pub fn message(&self) -> Option<&str> {
        self.raw.get("Message")
    }

    /// True when this reply opens an event list (`EventList: start`).
    pub fn starts_event_list(&self) -> bool {
        self.raw
            .get("EventList")
            .is_some_and(|v| v.eq_ignore_ascii_case("start"))
    }

    /// Any header by name.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.raw.get(key)
    }

    /// Command output lines (`Output:` headers, or a `Follows` body).
    pub fn output(&self) -> impl Iterator<Item = &str> {
        self.raw.get_all("Output")
    }

    /// The underlying message.
    pub fn raw(&self) -> &RawMessage {
        &self.raw
    }
}
