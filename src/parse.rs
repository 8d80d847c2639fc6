//! `switchboard parse FILE`: decode a capture and count what it holds.
//!
//! A capture is the raw bytes a PBX sent. The counts are the same as those of the
//! independent reference counter (`tests/fixtures/tools/ami-count`): events by name,
//! responses by value, and errors (damaged or truncated messages).

use std::collections::BTreeMap;

use bytes::BytesMut;
use serde::Serialize;
use tokio_util::codec::Decoder;

use crate::ami::{AmiCodec, AmiMessage, Frame, Limits};

/// What a capture contains.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct CaptureCounts {
    /// The banner line, when the capture starts with one.
    pub banner: Option<String>,
    /// Events by name.
    pub events: BTreeMap<String, u64>,
    /// Responses by `Response:` value.
    pub responses: BTreeMap<String, u64>,
    /// Messages that could not be decoded or classified.
    pub errors: u64,
}

/// Decodes `bytes` as one PBX-to-client stream and counts its messages.
pub fn count_capture(bytes: &[u8], limits: Limits) -> CaptureCounts {
    let mut codec = AmiCodec::new(limits);
    let mut buf = BytesMut::from(bytes);
    let mut counts = CaptureCounts::default();
    loop {
        // The codec's only error is I/O, which an in-memory buffer cannot raise.
        let frame = match codec.decode_eof(&mut buf) {
            Ok(Some(frame)) => frame,
            Ok(None) | Err(_) => break,
        };
        match frame {
            Frame::Banner(b) => counts.banner = Some(b.to_string()),
            Frame::Malformed(_) => counts.errors += 1,
            Frame::Skipped(name) => *counts.events.entry(name.to_string()).or_default() += 1,
            Frame::Message(raw) => match AmiMessage::classify(raw) {
                Ok(AmiMessage::Event(e)) => {
                    *counts.events.entry(e.name().to_string()).or_default() += 1;
                }
                Ok(AmiMessage::Response(r)) => {
                    *counts.responses.entry(r.value().to_string()).or_default() += 1;
                }
                Err(_) => counts.errors += 1,
            },
        }
    }
    counts
}
