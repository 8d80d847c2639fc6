//! Fuzz target `ami_decoder`: arbitrary bytes through the whole receive path — the
//! codec (in chunks, under small or default limits), `AmiMessage::classify` and the
//! correlator — checking that nothing panics and the codec's buffer stays bounded.
//!
//! The first three input bytes choose the read size and the limits, so the fuzzer
//! explores chunk boundaries and limit edges along with the content.

#![no_main]

use std::time::{Duration, Instant};

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use switchboard::ami::{Action, ActionIds, AmiCodec, AmiMessage, Correlator, Frame, Limits};
use tokio_util::codec::Decoder;

fuzz_target!(|data: &[u8]| {
    let [chunk, small, line, rest @ ..] = data else {
        return;
    };
    let chunk = usize::from(*chunk) + 1;
    let limits = if small & 1 == 1 {
        Limits {
            max_line: usize::from(*line) + 1,
            max_headers: usize::from(small >> 1) + 1,
            max_message: usize::from(*line) * 8 + 16,
        }
    } else {
        Limits::default()
    };
    let bound = limits.max_message.max(limits.max_line + 1);

    let now = Instant::now();
    let mut correlator: Correlator<u8> = Correlator::new(ActionIds::new(1, 1));
    for token in 0..4 {
        correlator.register(Action::ping(), token, now + Duration::from_secs(1));
    }
    let mut codec = AmiCodec::new(limits);
    let mut buf = BytesMut::new();
    let mut handle = |frame: Frame| {
        if let Frame::Message(raw) = frame {
            assert!(raw.len() <= limits.max_headers);
            if let Ok(msg) = AmiMessage::classify(raw) {
                let _ = correlator.accept(msg);
            }
        }
    };
    for piece in rest.chunks(chunk) {
        buf.extend_from_slice(piece);
        while let Ok(Some(frame)) = codec.decode(&mut buf) {
            handle(frame);
        }
        assert!(buf.len() <= bound, "codec holds {} bytes", buf.len());
    }
    while let Ok(Some(frame)) = codec.decode_eof(&mut buf) {
        handle(frame);
    }
    assert!(buf.is_empty());
    correlator.expire(now + Duration::from_secs(2));
});
