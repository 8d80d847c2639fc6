//! A queue member as the PBX describes it: the `QueueMember` list item of
//! `QueueStatus` and the `QueueMemberStatus`/`Pause`/`Added`/`Removed` events carry
//! the same fields (the list names the interface `Location` and the name `Name`,
//! the events `Interface` and `MemberName`).

use chrono::{DateTime, TimeZone, Utc};

use crate::ami::Event;
use crate::model::queue::{MemberState, QueueMember};

/// Asterisk's device states (`Status:` of a member), from `devicestate.h`.
mod device {
    pub const UNKNOWN: i32 = 0;
    pub const NOT_INUSE: i32 = 1;
    pub const INUSE: i32 = 2;
    pub const BUSY: i32 = 3;
    pub const INVALID: i32 = 4;
    pub const UNAVAILABLE: i32 = 5;
    pub const RINGING: i32 = 6;
    pub const RINGINUSE: i32 = 7;
    pub const ONHOLD: i32 = 8;
}

/// The one state a supervisor reads from Asterisk's device state, paused flag and
/// reason, and `InCall` flag. An unreachable device wins over a pause (a paused
/// agent whose phone is gone cannot be un-paused into taking calls); a pause wins
/// over what the device does (a paused agent on a private call is still paused).
pub fn member_state(status: i32, paused: bool, reason: Option<&str>, in_call: bool) -> MemberState {
    match status {
        device::INVALID | device::UNAVAILABLE => MemberState::Unavailable,
        _ if paused => MemberState::Paused {
            reason: reason
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .map(str::to_string),
        },
        device::RINGING => MemberState::Ringing,
        device::INUSE | device::BUSY | device::RINGINUSE | device::ONHOLD => MemberState::OnCall,
        _ if in_call => MemberState::OnCall,
        device::UNKNOWN | device::NOT_INUSE => MemberState::Free,
        _ => MemberState::Free,
    }
}

/// A `0`-or-epoch-seconds field (`LastCall`) as a time.
fn epoch(value: Option<&str>) -> Option<DateTime<Utc>> {
    let secs: i64 = value?.trim().parse().ok()?;
    if secs <= 0 {
        return None;
    }
    Utc.timestamp_opt(secs, 0).single()
}

fn flag(value: Option<&str>) -> bool {
    value.is_some_and(|v| {
        let v = v.trim();
        v == "1" || v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("yes")
    })
}

/// The member an event or list item describes (`None` without an interface).
pub fn read_member(ev: &Event) -> Option<QueueMember> {
    let interface = ev
        .get("Interface")
        .or_else(|| ev.get("Location"))
        .map(str::trim)
        .filter(|i| !i.is_empty())?
        .to_string();
    let name = ev
        .get("MemberName")
        .or_else(|| ev.get("Name"))
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .unwrap_or(&interface)
        .to_string();
    let status = ev
        .get("Status")
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(device::UNKNOWN);
    Some(QueueMember {
        state: member_state(
            status,
            flag(ev.get("Paused")),
            ev.get("PausedReason"),
            flag(ev.get("InCall")),
        ),
        calls_taken: ev
            .get("CallsTaken")
            .and_then(|c| c.trim().parse().ok())
            .unwrap_or(0),
        last_call: epoch(ev.get("LastCall")),
        dynamic: ev
            .get("Membership")
            .is_some_and(|m| m.trim().eq_ignore_ascii_case("dynamic")),
        interface,
        name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ami::RawMessage;

    fn ev(pairs: &[(&str, &str)]) -> Event {
        Event::from_raw(RawMessage::from_pairs(pairs))
    }

    #[test]
    fn states_fold_device_state_pause_and_in_call() {
        assert_eq!(member_state(1, false, None, false), MemberState::Free);
        assert_eq!(member_state(6, false, None, false), MemberState::Ringing);
        assert_eq!(member_state(2, false, None, false), MemberState::OnCall);
        assert_eq!(member_state(1, false, None, true), MemberState::OnCall);
        assert_eq!(
            member_state(5, true, Some("x"), false),
            MemberState::Unavailable
        );
        assert_eq!(
            member_state(2, true, Some(" lunch "), false),
            MemberState::Paused {
                reason: Some("lunch".into())
            }
        );
        assert_eq!(
            member_state(1, true, Some(""), false),
            MemberState::Paused { reason: None }
        );
    }

    #[test]
    fn list_items_and_events_read_alike() {
        let item = ev(&[
            ("Event", "QueueMember"),
            ("Queue", "support"),
            ("Name", "Agent 8001"),
            ("Location", "Local/8001@queue-agents/n"),
            ("Membership", "static"),
            ("CallsTaken", "3"),
            ("LastCall", "1796606213"),
            ("Status", "1"),
            ("Paused", "0"),
        ]);
        let event = ev(&[
            ("Event", "QueueMemberStatus"),
            ("Queue", "support"),
            ("MemberName", "Agent 8001"),
            ("Interface", "Local/8001@queue-agents/n"),
            ("Membership", "static"),
            ("CallsTaken", "3"),
            ("LastCall", "1796606213"),
            ("Status", "1"),
            ("Paused", "0"),
        ]);
        let (a, b) = (
            read_member(&item).expect("member"),
            read_member(&event).expect("member"),
        );
        assert_eq!(a, b);
        assert_eq!(a.calls_taken, 3);
        assert_eq!(a.last_call.map(|t| t.timestamp()), Some(1796606213));
        assert!(read_member(&ev(&[("Event", "QueueMember")])).is_none());
    }
}
