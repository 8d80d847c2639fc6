//! The one table of the events this service reads, and the two decisions drawn from
//! it: which events the codec may skip unread ([`skip_label`]) and which events the
//! `AMI_EVENT_FILTER=auto` whitelist asks the PBX for ([`auto_filter_names`]).
//!
//! Keeping both on one table is what makes them agree: an event the state needs can
//! be neither skipped nor filtered out, and a consumer added here (a new tracker) is
//! both read and asked for. The router's own lists (`state::route`) must stay inside
//! this table; `tests/it/ami_filter.rs` routes every known name to check it.

use std::sync::OnceLock;

use super::event_names::KNOWN;

/// Who in the service reads an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consumer {
    /// A call tracker (keyed by Linkedid).
    Call,
    /// An extension actor (hint, device or contact state).
    Extension,
    /// The connection itself: restart and shutdown detection.
    Connection,
    /// Queue and agent tracking.
    Queue,
}

/// Every event name some part of the service reads, with its reader.
///
/// Event-list items (`CoreShowChannel`, `QueueMember`…) need no entry to be read: they
/// carry an `ActionID`, which the codec never skips and a PBX never filters (replies
/// are written to the session directly, not through its event queue).
pub const CONSUMED: &[(&str, Consumer)] = &[
    ("Newchannel", Consumer::Call),
    ("Newstate", Consumer::Call),
    ("NewCallerid", Consumer::Call),
    ("NewConnectedLine", Consumer::Call),
    ("DialBegin", Consumer::Call),
    ("DialState", Consumer::Call),
    ("DialEnd", Consumer::Call),
    ("BridgeEnter", Consumer::Call),
    ("BridgeLeave", Consumer::Call),
    ("Hold", Consumer::Call),
    ("Unhold", Consumer::Call),
    ("BlindTransfer", Consumer::Call),
    ("AttendedTransfer", Consumer::Call),
    ("HangupRequest", Consumer::Call),
    ("SoftHangupRequest", Consumer::Call),
    ("Hangup", Consumer::Call),
    ("LocalBridge", Consumer::Call),
    ("LocalOptimizationBegin", Consumer::Call),
    ("LocalOptimizationEnd", Consumer::Call),
    ("MusicOnHoldStart", Consumer::Call),
    ("MusicOnHoldStop", Consumer::Call),
    ("OriginateResponse", Consumer::Call),
    ("Rename", Consumer::Call),
    ("ExtensionStatus", Consumer::Extension),
    ("DeviceStateChange", Consumer::Extension),
    ("PeerStatus", Consumer::Extension),
    ("ContactStatus", Consumer::Extension),
    ("FullyBooted", Consumer::Connection),
    ("Shutdown", Consumer::Connection),
    ("Reload", Consumer::Connection),
    ("QueueCallerJoin", Consumer::Queue),
    ("QueueCallerLeave", Consumer::Queue),
    ("QueueCallerAbandon", Consumer::Queue),
    ("QueueMemberStatus", Consumer::Queue),
    ("QueueMemberPause", Consumer::Queue),
    ("QueueMemberAdded", Consumer::Queue),
    ("QueueMemberRemoved", Consumer::Queue),
    ("AgentCalled", Consumer::Queue),
    ("AgentConnect", Consumer::Queue),
    ("AgentComplete", Consumer::Queue),
    ("QueueParams", Consumer::Queue),
    ("QueueMember", Consumer::Queue),
    ("QueueEntry", Consumer::Queue),
    ("QueueStatusComplete", Consumer::Queue),
    ("QueueSummary", Consumer::Queue),
];

/// True when some part of the service reads events named `name`.
pub fn is_consumed(name: &str) -> bool {
    CONSUMED.iter().any(|(n, _)| *n == name)
}

/// For each name of [`KNOWN`], whether the codec may skip it (known, read by nobody).
fn skippable() -> &'static [bool] {
    static SKIP: OnceLock<Vec<bool>> = OnceLock::new();
    SKIP.get_or_init(|| KNOWN.iter().map(|n| !is_consumed(n)).collect())
}

/// The metric label of an event named `name` that nothing in the service reads, or
/// `None` when it must be read: consumed, or a name Asterisk does not document (those
/// are read so the router can count them as unrouted).
#[inline]
pub fn skip_label(name: &[u8]) -> Option<&'static str> {
    let i = super::event_names::known_index(name)?;
    skippable()[i].then_some(KNOWN[i])
}

/// The event names the `auto` filter asks the PBX for: every consumed one.
pub fn auto_filter_names() -> Vec<&'static str> {
    CONSUMED.iter().map(|(n, _)| *n).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ami::event_names::label;

    #[test]
    fn every_consumed_name_is_a_known_label_and_listed_once() {
        for (i, (name, _)) in CONSUMED.iter().enumerate() {
            assert_eq!(label(name), *name, "{name} is not in event_names::KNOWN");
            assert!(
                !CONSUMED[..i].iter().any(|(n, _)| n == name),
                "{name} twice"
            );
        }
    }

    #[test]
    fn consumed_and_unknown_names_are_never_skipped() {
        for (name, _) in CONSUMED {
            assert_eq!(skip_label(name.as_bytes()), None, "{name}");
        }
        for name in ["MadeUp", "hangup", "", "VarSet "] {
            assert_eq!(skip_label(name.as_bytes()), None, "{name:?}");
        }
        for name in ["VarSet", "Newexten", "RTCPSent", "Cdr", "UserEvent"] {
            assert_eq!(skip_label(name.as_bytes()), Some(name));
        }
    }
}
