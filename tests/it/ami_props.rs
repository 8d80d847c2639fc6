//! Property tests of the AMI layer: chunking never changes what a fixture decodes to;
//! garbage and mutated captures never panic and never grow the codec's buffer past
//! its limits; any message built from pairs survives encode → decode unchanged; and
//! action encoding refuses line breaks and lines over Asterisk's 1024 bytes.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use proptest::prelude::*;
use switchboard::ami::{
    Action, ActionError, ActionIds, AmiCodec, AmiMessage, Correlator, Frame, Limits, RawMessage,
};
use tokio_util::codec::{Decoder, Encoder};

use crate::common::ami::{decode_all, decode_chunked, fixture, SCENARIOS};

/// Every fixture's bytes and its whole-buffer decoding, computed once.
fn decoded() -> &'static Vec<(Vec<u8>, Vec<Frame>)> {
    static CELL: OnceLock<Vec<(Vec<u8>, Vec<Frame>)>> = OnceLock::new();
    CELL.get_or_init(|| {
        SCENARIOS
            .iter()
            .map(|s| {
                let bytes = fixture(&format!("{s}.server.ami"));
                let frames = decode_all(&bytes);
                (bytes, frames)
            })
            .collect()
    })
}

/// Decodes `bytes` in the given chunk sizes, feeding every message to the correlator,
/// and checks after each read that the codec holds no more than its limits allow.
fn decode_hostile(limits: Limits, bytes: &[u8], sizes: &[usize]) -> usize {
    let bound = limits.max_message.max(limits.max_line + 1);
    let mut codec = AmiCodec::new(limits);
    let mut correlator: Correlator<u32> = Correlator::new(ActionIds::new(1, 1));
    let now = Instant::now();
    correlator.register(Action::ping(), 1, now + Duration::from_secs(1));
    let mut buf = BytesMut::new();
    let mut frames = 0;
    let mut rest = bytes;
    let mut i = 0;
    let mut feed = |frame: Frame| {
        frames += 1;
        if let Frame::Message(m) = frame {
            assert!(m.len() <= limits.max_headers);
            // The closing blank line may pass the limit; lossy repair may triple bytes.
            assert!(
                m.byte_len() <= 3 * (limits.max_message + 2),
                "{}",
                m.byte_len()
            );
            if let Ok(msg) = AmiMessage::classify(m) {
                let _ = correlator.accept(msg);
            }
        }
    };
    while !rest.is_empty() {
        let n = sizes[i % sizes.len()].clamp(1, rest.len());
        i += 1;
        buf.extend_from_slice(&rest[..n]);
        rest = &rest[n..];
        while let Some(frame) = codec.decode(&mut buf).expect("in-memory decode") {
            feed(frame);
        }
        assert!(buf.len() <= bound, "holds {} > {bound}", buf.len());
    }
    while let Some(frame) = codec.decode_eof(&mut buf).expect("in-memory decode") {
        feed(frame);
    }
    assert!(buf.is_empty(), "EOF consumes everything");
    correlator.expire(now + Duration::from_secs(2));
    frames
}

fn small_limits() -> impl Strategy<Value = Limits> {
    (1usize..200, 1usize..40, 1usize..2000).prop_map(|(max_line, max_headers, max_message)| {
        Limits {
            max_line,
            max_headers,
            max_message,
        }
    })
}

#[derive(Debug, Clone)]
enum Mutation {
    Set(usize, u8),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let special = prop_oneof![
        Just(b'\r'),
        Just(b'\n'),
        Just(b':'),
        Just(b' '),
        Just(0xff),
        Just(0xc3),
        any::<u8>()
    ];
    prop_oneof![
        (any::<usize>(), special).prop_map(|(at, b)| Mutation::Set(at, b)),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..300))
            .prop_map(|(at, v)| Mutation::Insert(at, v)),
        (any::<usize>(), 1usize..500).prop_map(|(at, n)| Mutation::Delete(at, n)),
        (any::<usize>(), Just(b"\r\n\r\n".to_vec())).prop_map(|(at, v)| Mutation::Insert(at, v)),
        (any::<usize>(), Just(b"Response: Follows\r\n".to_vec()))
            .prop_map(|(at, v)| Mutation::Insert(at, v)),
    ]
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    let len = bytes.len().max(1);
    match m {
        Mutation::Set(at, b) => {
            if !bytes.is_empty() {
                bytes[at % len] = *b;
            }
        }
        Mutation::Insert(at, v) => {
            let at = at % (bytes.len() + 1);
            bytes.splice(at..at, v.iter().copied());
        }
        Mutation::Delete(at, n) => {
            let at = at % len;
            let end = (at + n).min(bytes.len());
            bytes.drain(at.min(end)..end);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn any_chunking_of_a_fixture_decodes_like_the_whole(
        which in 0..SCENARIOS.len(),
        sizes in prop::collection::vec(1usize..9000, 1..24),
    ) {
        let (bytes, whole) = &decoded()[which];
        let chunked = decode_chunked(AmiCodec::new(Limits::default()), bytes, &sizes);
        prop_assert_eq!(&chunked, whole, "{} with sizes {:?}", SCENARIOS[which], sizes);
    }

    #[test]
    fn tiny_chunks_of_a_fixture_window_decode_like_the_whole(
        which in 0..SCENARIOS.len(),
        from in any::<usize>(),
        sizes in prop::collection::vec(1usize..6, 1..8),
    ) {
        // Tiny reads over a 6 KB window, so one-byte steps stay affordable.
        let (bytes, _) = &decoded()[which];
        let from = from % bytes.len();
        let window = &bytes[from..(from + 6000).min(bytes.len())];
        let whole = crate::common::ami::decode_with(AmiCodec::server(Limits::default()), window);
        let chunked = decode_chunked(AmiCodec::server(Limits::default()), window, &sizes);
        prop_assert_eq!(chunked, whole);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_garbage_never_panics_and_stays_bounded(
        bytes in prop::collection::vec(any::<u8>(), 0..6000),
        limits in small_limits(),
        sizes in prop::collection::vec(1usize..700, 1..8),
    ) {
        decode_hostile(limits, &bytes, &sizes);
    }

    #[test]
    fn line_shaped_garbage_never_panics_and_stays_bounded(
        lines in prop::collection::vec(
            prop_oneof![
                "[A-Za-z]{0,12}: [ -~]{0,80}",
                "Response: Follows",
                "--END COMMAND--",
                "Event: [A-Za-z]{1,12}",
                "EventList: (start|Complete)",
                "ActionID: sb00000001-1-[0-9]",
                "",
                "[^\r\n]{0,300}",
            ],
            0..120,
        ),
        crlf in any::<bool>(),
        limits in small_limits(),
        sizes in prop::collection::vec(1usize..300, 1..8),
    ) {
        let sep = if crlf { "\r\n" } else { "\n" };
        let text = lines.join(sep);
        decode_hostile(limits, text.as_bytes(), &sizes);
        decode_hostile(Limits::default(), text.as_bytes(), &sizes);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn mutated_fixtures_never_panic_and_stay_bounded(
        which in 0..SCENARIOS.len(),
        from in any::<usize>(),
        mutations in prop::collection::vec(mutation(), 1..12),
        limits in small_limits(),
        sizes in prop::collection::vec(1usize..5000, 1..8),
    ) {
        let (bytes, _) = &decoded()[which];
        let from = from % bytes.len();
        let mut window = bytes[from..(from + 40_000).min(bytes.len())].to_vec();
        for m in &mutations {
            apply(&mut window, m);
        }
        decode_hostile(Limits::default(), &window, &sizes);
        decode_hostile(limits, &window, &sizes);
    }
}

/// A header key the codec reads back as written: no colon or line break, and not a
/// `Response: Follows` that would switch the decoder to command output.
fn key() -> impl Strategy<Value = String> {
    "[^:\r\n]{0,24}"
}

/// A value the codec reads back as written: no line break, no leading blank (the
/// decoder drops the blanks after the colon).
fn value() -> impl Strategy<Value = String> {
    "([^ \t\r\n][^\r\n]{0,150})?"
}

fn encode(action: &Action) -> Result<BytesMut, switchboard::ami::AmiError> {
    let mut dst = BytesMut::new();
    AmiCodec::default().encode(action, &mut dst)?;
    Ok(dst)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn message_from_pairs_survives_encode_and_decode(
        name in value(),
        pairs in prop::collection::vec((key(), value()), 0..30),
    ) {
        prop_assume!(!pairs.iter().any(|(k, v)| {
            k.eq_ignore_ascii_case("Response") && v.eq_ignore_ascii_case("Follows")
        }));
        let mut all = vec![("Action".to_string(), name.clone())];
        all.extend(pairs.iter().cloned());
        let original = RawMessage::from_pairs(&all);

        let mut action = Action::new(name);
        for (k, v) in &pairs {
            action = action.header(k.clone(), v.clone());
        }
        let wire = encode(&action).expect("encodable");
        prop_assert_eq!(wire.as_ref(), original.as_text().as_bytes());

        let mut buf = wire;
        let mut codec = AmiCodec::server(Limits::default());
        let frame = codec.decode(&mut buf).expect("decode");
        prop_assert_eq!(frame, Some(Frame::Message(original.clone())));
        prop_assert!(buf.is_empty());
        let decoded_pairs: Vec<(String, String)> = original
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        prop_assert_eq!(decoded_pairs, all);
    }

    #[test]
    fn action_with_a_line_break_in_a_value_is_refused(
        before in "[^\r\n]{0,40}",
        brk in prop_oneof![Just("\r"), Just("\n"), Just("\r\n")],
        after in "[^\r\n]{0,40}",
        key in "[A-Za-z]{1,12}",
    ) {
        let evil = format!("{before}{brk}{after}");
        let action = Action::new("Originate").header(key.clone(), evil.clone());
        let mut dst = BytesMut::from(&b"kept"[..]);
        let err = action.encode_into(&mut dst).expect_err("line break refused");
        prop_assert_eq!(err, ActionError::LineBreak { key: key.clone() });
        prop_assert_eq!(dst.as_ref(), b"kept", "nothing written");
        // In the name or the ActionID, too.
        prop_assert!(Action::new(evil.clone()).encode_into(&mut dst).is_err());
        prop_assert!(Action::ping().with_id(evil).encode_into(&mut dst).is_err());
        let colon_key = Action::ping().header(format!("{key}:x"), "v");
        prop_assert!(colon_key.encode_into(&mut dst).is_err());
    }

    #[test]
    fn action_lines_over_1024_bytes_are_refused(
        key in "[A-Za-z]{1,20}",
        len in 900usize..1200,
    ) {
        let value = "v".repeat(len);
        let line = key.len() + 2 + len;
        let action = Action::new("Setvar").header(key.clone(), value);
        let mut dst = BytesMut::new();
        let result = action.encode_into(&mut dst);
        if line > 1024 {
            prop_assert_eq!(result, Err(ActionError::LineTooLong { key, len: line }));
            prop_assert!(dst.is_empty());
        } else {
            prop_assert_eq!(result, Ok(()));
            prop_assert_eq!(dst.len(), "Action: Setvar\r\n".len() + line + 2 + 2);
        }
    }
}
