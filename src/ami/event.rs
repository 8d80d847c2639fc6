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
    /// The name's byte range, trimmed: every hop (counting, routing, tracking) asks.
    name: (u32, u32),
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
        for i in 1..raw.len() {
            let k = raw.key_bytes(i);
            // Dispatch on length and first letter (`| 0x20` lowercases a letter and
            // only a letter maps onto one): most keys are none of these.
            let slot = match (k.len(), k.first().map(|b| b | 0x20)) {
                (7, Some(b'c')) if k.eq_ignore_ascii_case(b"Channel") => &mut c.channel,
                (8, Some(b'a')) if k.eq_ignore_ascii_case(b"ActionID") => &mut c.action_id,
                (8, Some(b'u')) if k.eq_ignore_ascii_case(b"Uniqueid") => &mut c.uniqueid,
                (8, Some(b'l')) if k.eq_ignore_ascii_case(b"Linkedid") => &mut c.linkedid,
                (9, Some(b'p')) if k.eq_ignore_ascii_case(b"Privilege") => &mut c.privilege,
                (9, Some(b't')) if k.eq_ignore_ascii_case(b"Timestamp") => &mut c.timestamp,
                (9, Some(b'e')) if k.eq_ignore_ascii_case(b"EventList") => &mut c.event_list,
                _ => continue,
            };
            if *slot == NONE {
                *slot = i as u32;
            }
        }
        let timestamp = value_at(&raw, c.timestamp).and_then(parse_timestamp);
        let name = raw.trimmed_value_range(0);
        Self {
            raw,
            name,
            common: c,
            timestamp,
        }
    }

    /// The event's name, e.g. `Newchannel`.
    pub fn name(&self) -> &str {
        self.raw.slice(self.name)
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
    raw.value(index as usize)
}

/// Powers of ten that are exact in an `f64`.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// Parses a `Timestamp:` value (`seconds.micros`), exactly as `str::parse::<f64>` does.
///
/// Such a value is an integer below 2^53 over a power of ten up to 10^22, both exact
/// in an `f64`, so one correctly rounded division gives the correctly rounded result
/// (Clinger's fast path) without the general parser, which takes anything else.
fn parse_timestamp(value: &str) -> Option<f64> {
    let text = value.trim();
    let mut mantissa: u64 = 0;
    let mut digits = 0usize;
    let mut point = None;
    for (i, &b) in text.as_bytes().iter().enumerate() {
        match b {
            b'0'..=b'9' if mantissa < (1 << 53) / 10 => {
                mantissa = mantissa * 10 + u64::from(b - b'0');
                digits += 1;
            }
            b'.' if point.is_none() => point = Some(i),
            _ => return text.parse().ok(),
        }
    }
    let scale = point.map_or(0, |p| text.len() - p - 1);
    match POW10.get(scale) {
        Some(pow) if digits > 0 => Some(mantissa as f64 / pow),
        _ => text.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_timestamp;

    #[test]
    fn timestamp_fast_path_matches_the_standard_parser() {
        let cases = [
            "1795311659.127699",
            "1795311669.189605",
            " 1795311669.000001 ",
            "0.1",
            "5.",
            ".5",
            "123",
            "9007199254740993",
            "1795311669.1234567890123",
            "1e9",
            "-1.5",
            ".",
            "",
            "1.2.3",
            "abc",
            "00000000000000000001.5",
        ];
        for case in cases {
            let want = case.trim().parse::<f64>().ok();
            assert_eq!(
                parse_timestamp(case).map(f64::to_bits),
                want.map(f64::to_bits),
                "{case:?}"
            );
        }
    }

    #[test]
    fn timestamp_agrees_on_many_microsecond_values() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..100_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let text = format!("{}.{:06}", 1_700_000_000 + x % 200_000_000, x % 1_000_000);
            assert_eq!(
                parse_timestamp(&text).map(f64::to_bits),
                text.parse::<f64>().ok().map(f64::to_bits),
                "{text}"
            );
        }
    }
}
