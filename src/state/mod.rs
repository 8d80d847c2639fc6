//! Event-to-state logic as plain code: which events concern which call or extension,
//! and how each event changes a call or an extension.
//!
//! The actors (`crate::actors`) only move events and state around; everything that
//! decides *what the state is* lives here, with no actors and no IO, so it can be
//! tested against the real captures and fuzzed on its own.

pub mod admit;
pub mod call;
pub mod extension;
pub mod names;
pub mod queue;
pub mod route;

use chrono::{DateTime, TimeZone, Utc};

use crate::ami::Event;

/// The PBX's own time of an event (`Timestamp:`), or `fallback` when it has none.
pub fn event_time(event: &Event, fallback: DateTime<Utc>) -> DateTime<Utc> {
    event
        .timestamp()
        .and_then(|t| {
            // Asterisk stamps microseconds; an f64 of ~1.8e9 s cannot hold them all
            // exactly, so round to the microsecond rather than keep the float noise
            // (which truncates to 1 µs less when stored).
            Utc.timestamp_micros((t * 1e6).round() as i64).single()
        })
        .unwrap_or(fallback)
}
