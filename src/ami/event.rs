//! [`Event`]: an AMI message whose first header is `Event:`.
//!
//! The headers every consumer asks for (name, ActionID, Privilege, Timestamp,
//! Uniqueid, Linkedid, Channel, EventList) are located once, when the event is
//! built, so routing and tracking never scan the headers again. Everything else
//! stays reachable through [`Event::get`]; unknown events are kept whole.

use super::message::RawMessage;

const NONE: u32 = u32::MAX;

/// Positions of the common headers, `NONE` when absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Common {
    action_id: u32,
    privilege: u32,
    timestamp: u32,
    uniqueid: u32,
    linkedid: u32,
    channel: u32,
    event_list: u32,
}

/// One AMI event with its common headers parsed once.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    raw: RawMessage,
    common: Common,
    timestamp: Option<f64>,
}

impl Event {
    /// Wraps `raw`, whose first header must be `Event` (see [`crate::ami::AmiMessage`]).
    pub fn from_raw(raw: RawMessage) -> Self {
        let mut c = Common {
            action_id: NONE,
            privilege: NONE,
            timestamp: NONE,
            uniqueid: NONE,
            linkedid: NONE,
            channel: NONE,
            event_list: NONE,
        };
        for (i, (k, _)) in raw.iter().enumerate().skip(1) {
            let slot = match k.len() {
                7 if k.eq_ignore_ascii_case("Channel") => &mut c.channel,
                8 if k.eq_ignore_ascii_case("ActionID") => &mut c.action_id,
                8 if k.eq_ignore_ascii_case("Uniqueid") => &mut c.uniqueid,
                8 if k.eq_ignore_ascii_case("Linkedid") => &mut c.linkedid,
                9 if k.eq_ignore_ascii_case("Privilege") => &mut c.privilege,
                9 if k.eq_ignore_ascii_case("Timestamp") => &mut c.timestamp,
                9 if k.eq_ignore_ascii_case("EventList") => &mut c.event_list,
                _ => continue,
            };
            if *slot == NONE {
                *slot = i as u32;
            }
        }
        let timestamp = value_at(&raw, c.timestamp).and_then(|t| t.trim().parse::<f64>().ok());
        Self {
            raw,
            common: c,
            timestamp,
        }
    }

    /// The event's name, e.g. `Newchannel`.
    pub fn name(&self) -> &str {
        self.raw.field(0).map(|(_, v)| v.trim()).unwrap_or("")
    }

    /// The ActionID, present on event-list items and on events caused by our own actions.
    pub fn action_id(&self) -> Option<&str> {
        value_at(&self.raw, self.common.action_id)
    }

    /// The `Privilege` classes (e.g. `call,all`).
    pub fn privilege(&self) -> Option<&str> {
        value_at(&self.raw, self.common.privilege)
    }

    /// The PBX's own send time (seconds since the epoch) when `timestampevents=yes`.
    pub fn timestamp(&self) -> Option<f64> {
        self.timestamp
    }

    /// The channel's Uniqueid.
    pub fn uniqueid(&self) -> Option<&str> {
        value_at(&self.raw, self.common.uniqueid)
    }

    /// The Linkedid: the Uniqueid of the oldest channel of the call, which keys a call.
    pub fn linkedid(&self) -> Option<&str> {
        value_at(&self.raw, self.common.linkedid)
    }

    /// The channel name, e.g. `PJSIP/1001-00000007`.
    pub fn channel(&self) -> Option<&str> {
        value_at(&self.raw, self.common.channel)
    }

    /// `EventList` marker (`Complete` on the last event of a list).
    pub fn event_list(&self) -> Option<&str> {
        value_at(&self.raw, self.common.event_list)
    }

    /// Any header by name (case-insensitive); the first when repeated.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.raw.get(key)
    }

    /// The underlying message with every header in order.
    pub fn raw(&self) -> &RawMessage {
        &self.raw
    }

    /// Unwraps the underlying message.
    pub fn into_raw(self) -> RawMessage {
        self.raw
    }
}

fn value_at(raw: &RawMessage, index: u32) -> Option<&str> {
    if index == NONE {
        return None;
    }
    raw.field(index as usize).map(|(_, v)| v)
}
