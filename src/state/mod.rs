//! Event-to-state logic as plain code: which events concern which call or extension,
//! and how each event changes a call or an extension.
//!
//! The actors (`crate::actors`) only move events and state around; everything that
//! decides *what the state is* lives here, with no actors and no IO, so it can be
//! tested against the real captures and fuzzed on its own.

pub mod call;
pub mod extension;
pub mod route;

use chrono::{DateTime, TimeZone, Utc};

use crate::ami::Event;

/// The PBX's own time of an event (`Timestamp:`), or `fallback` when it has none.
pub fn event_time(event: &Event, fallback: DateTime<Utc>) -> DateTime<Utc> {
    event
        .timestamp()
        .and_then(|t| {
            let secs = t.floor();
            let nanos = ((t - secs) * 1e9).round().clamp(0.0, 999_999_999.0) as u32;
            Utc.timestamp_opt(secs as i64, nanos).single()
        })
        .unwrap_or(fallback)
}
