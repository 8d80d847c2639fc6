//! A change as the WebSocket text frame every subscriber is sent: encoded once
//! per change and shared (the envelope caches it), header written in front of the
//! JSON without copying it.

use bytes::Bytes;

use super::transport::{frame_after_header, frame_buffer, FRAME_HEADROOM};
use crate::delivery::Envelope;

/// `env` as one encoded WebSocket text frame, serialised on first use and shared
/// by every subscriber.
pub fn change_frame(env: &Envelope) -> Bytes {
    env.encoded_with(encode)
}

/// Serialises the change's `{seq, type, ts, data}` message straight into a text
/// frame's buffer: one buffer, no copy of the JSON.
fn encode(env: &Envelope) -> Bytes {
    let mut buf = frame_buffer(512);
    if let Err(e) = env.write_json(&mut buf) {
        log::error!("cannot serialise a {} message: {e}", env.change.kind());
        buf.truncate(FRAME_HEADROOM);
        buf.extend_from_slice(b"{}");
    }
    frame_after_header(buf)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::delivery::{wire_json, Change};

    #[test]
    fn a_change_is_encoded_once_and_its_frame_shared() {
        let report = Arc::new(crate::model::refresh::RefreshReport::example("north"));
        let env = Envelope::new(
            7,
            chrono::DateTime::UNIX_EPOCH,
            Change::RefreshCompleted(Arc::clone(&report)),
        );
        let first = change_frame(&env);
        let again = change_frame(&env);
        assert_eq!(
            first.as_ptr(),
            again.as_ptr(),
            "the same bytes, not a second encoding"
        );
        assert_eq!(first[0], 0x81, "a final text frame");
        assert_eq!(first[1], 126, "a 16-bit length follows");
        let len = usize::from(u16::from_be_bytes([first[2], first[3]]));
        assert_eq!(len, first.len() - 4);
        let json: serde_json::Value = serde_json::from_slice(&first[4..]).expect("JSON");
        assert_eq!(json["seq"], 7);
        assert_eq!(json["type"], "refresh.completed");
        assert_eq!(json["data"]["pbx"], "north");
        let text = wire_json(
            7,
            "refresh.completed",
            chrono::DateTime::UNIX_EPOCH,
            report.as_ref(),
        );
        assert_eq!(
            &first[4..],
            text.as_bytes(),
            "the same bytes as the JSON text form"
        );
    }
}
