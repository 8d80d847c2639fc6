//! The codec's limits and hostile or broken input: over-long lines (also endless ones
//! arriving in chunks), too many headers, oversized messages, truncation at EOF,
//! invalid UTF-8 and a peer that sends one byte at a time. Each case checks the bad
//! message is reported once, memory stays bounded, and the next good message decodes.

use bytes::BytesMut;
use switchboard::ami::{AmiCodec, AmiMessage, Frame, FrameError, Limits};
use tokio_util::codec::Decoder;

use crate::common::ami::{
    decode_all, decode_chunked, decode_chunked_bounded, decode_with, fixture,
};

const SMALL: Limits = Limits {
    max_line: 64,
    max_headers: 8,
    max_message: 512,
};

/// Most bytes the codec may hold between reads under `limits`.
fn bound(limits: Limits) -> usize {
    limits.max_message.max(limits.max_line + 1)
}

const GOOD: &[u8] = b"Event: Good\r\nUniqueid: u-1\r\n\r\n";

fn good(frame: &Frame) -> bool {
    matches!(frame, Frame::Message(m) if m.get("Event") == Some("Good") && m.get("Uniqueid") == Some("u-1"))
}

fn server(limits: Limits) -> AmiCodec {
    AmiCodec::server(limits)
}

#[test]
fn over_long_line_is_reported_once_and_its_message_skipped() {
    let mut wire = b"Event: Bad\r\nLong: ".to_vec();
    wire.extend(std::iter::repeat_n(b'x', 100));
    wire.extend_from_slice(b"\r\nAfter: still the bad message\r\n\r\n");
    wire.extend_from_slice(GOOD);
    for chunk in [1, 7, 64, 4096] {
        let frames = decode_chunked_bounded(server(SMALL), &wire, &[chunk], bound(SMALL));
        assert_eq!(frames.len(), 2, "chunk {chunk}: {frames:?}");
        assert_eq!(
            frames[0],
            Frame::Malformed(FrameError::LineTooLong { limit: 64 })
        );
        assert!(good(&frames[1]), "{frames:?}");
    }
}

#[test]
fn line_of_exactly_max_line_bytes_is_accepted_even_with_cr_and_lf_apart() {
    let value = "v".repeat(SMALL.max_line - "Key: ".len());
    let wire = format!("Event: Edge\r\nKey: {value}\r\n\r\n");
    // Split right after the CR, so the codec sees a full-length line plus CR first.
    let cut = wire.find(&value).expect("value") + value.len() + 1;
    let frames = decode_chunked(server(SMALL), wire.as_bytes(), &[cut, 4096]);
    assert_eq!(frames.len(), 1, "{frames:?}");
    let Frame::Message(m) = &frames[0] else {
        panic!("{frames:?}")
    };
    assert_eq!(m.get("Key"), Some(value.as_str()));
    // One byte more is too long, however it arrives.
    let wire = format!("Event: Edge\r\nKey: {value}v\r\n\r\n");
    for sizes in [&[cut, 4096][..], &[1], &[4096]] {
        let frames = decode_chunked(server(SMALL), wire.as_bytes(), sizes);
        assert_eq!(
            frames,
            [Frame::Malformed(FrameError::LineTooLong { limit: 64 })]
        );
    }
}

#[test]
fn endless_line_in_chunks_stays_bounded_and_is_one_error() {
    let mut codec = server(SMALL);
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    buf.extend_from_slice(b"Event: Flood\r\nData: ");
    for _ in 0..10_000 {
        buf.extend_from_slice(&[b'z'; 100]);
        while let Some(f) = codec.decode(&mut buf).expect("decode") {
            frames.push(f);
        }
        assert!(buf.len() <= bound(SMALL), "holds {} bytes", buf.len());
    }
    assert_eq!(
        frames,
        [Frame::Malformed(FrameError::LineTooLong { limit: 64 })]
    );
    // The line ends, the rest of its message is skipped, the next one decodes.
    buf.extend_from_slice(b"zzz\r\nMore: of the flood\r\n\r\n");
    buf.extend_from_slice(GOOD);
    let f = codec.decode(&mut buf).expect("decode").expect("a frame");
    assert!(good(&f), "{f:?}");
    assert_eq!(codec.decode_eof(&mut buf).expect("eof"), None);
}

#[test]
fn endless_line_without_any_message_start_is_bounded_too() {
    let flood: Vec<u8> = (0..200_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let frames = decode_chunked_bounded(server(SMALL), &flood, &[1000, 3, 4096], bound(SMALL));
    assert_eq!(
        frames,
        [Frame::Malformed(FrameError::LineTooLong { limit: 64 })]
    );
}

#[test]
fn too_many_headers_is_reported_and_skipped() {
    let mut wire = b"Event: Many\r\n".to_vec();
    for i in 0..20 {
        wire.extend_from_slice(format!("H{i}: v\r\n").as_bytes());
    }
    wire.extend_from_slice(b"\r\n");
    wire.extend_from_slice(GOOD);
    for chunk in [1, 13, 4096] {
        let frames = decode_chunked_bounded(server(SMALL), &wire, &[chunk], bound(SMALL));
        assert_eq!(
            frames[0],
            Frame::Malformed(FrameError::TooManyHeaders { limit: 8 }),
            "chunk {chunk}"
        );
        assert_eq!(frames.len(), 2);
        assert!(good(&frames[1]));
    }
    // Exactly max_headers is fine.
    let mut wire = b"Event: Eight\r\n".to_vec();
    for i in 0..7 {
        wire.extend_from_slice(format!("H{i}: v\r\n").as_bytes());
    }
    wire.extend_from_slice(b"\r\n");
    let frames = decode_with(server(SMALL), &wire);
    assert!(
        matches!(&frames[..], [Frame::Message(m)] if m.len() == 8),
        "{frames:?}"
    );
}

#[test]
fn oversized_message_is_reported_and_skipped_while_bounded() {
    let limits = Limits {
        max_line: 64,
        max_headers: 1000,
        max_message: 512,
    };
    let mut wire = b"Event: Big\r\n".to_vec();
    for i in 0..100 {
        wire.extend_from_slice(format!("Header{i}: some value of a line\r\n").as_bytes());
    }
    wire.extend_from_slice(b"\r\n");
    wire.extend_from_slice(GOOD);
    for chunk in [1, 50, 600, 8192] {
        let frames = decode_chunked_bounded(server(limits), &wire, &[chunk], bound(limits));
        assert_eq!(
            frames[0],
            Frame::Malformed(FrameError::MessageTooLarge { limit: 512 }),
            "chunk {chunk}"
        );
        assert_eq!(frames.len(), 2, "chunk {chunk}: {frames:?}");
        assert!(good(&frames[1]));
    }
}

#[test]
fn default_limits_take_every_real_message() {
    let limits = Limits::default();
    // Asterisk puts no limit on a value: a line may be as long as the message.
    assert_eq!(limits.max_line, limits.max_message);
    assert!(limits.max_line >= 10 * 70 * 1024, "room for a 70 KiB value");
    assert!(limits.max_headers >= 1024);
    assert_eq!(AmiCodec::new(limits).limits(), limits);
}

/// A 70 KiB value as a real PBX writes one: base64-like text with `: ` and non-ASCII
/// UTF-8 inside, different at every position (so a lost or doubled piece shows).
fn long_value() -> String {
    let mut value = String::with_capacity(70 * 1024 + 16);
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut i: u64 = 0;
    while value.len() < 70 * 1024 {
        i += 1;
        match i % 997 {
            0 => value.push_str(": "),
            500 => value.push('\u{e9}'),
            _ => value.push(alphabet[((i * 2_654_435_761) >> 7) as usize % 64] as char),
        }
    }
    value
}

/// A call event, the 70 KiB `VarSet`, another call event.
fn long_value_wire(value: &str) -> Vec<u8> {
    let mut wire = b"Asterisk Call Manager/9.0.0\r\n".to_vec();
    wire.extend_from_slice(b"Event: Newchannel\r\nPrivilege: call,all\r\nUniqueid: 1700000000.1\r\nLinkedid: 1700000000.1\r\n\r\n");
    wire.extend_from_slice(
        format!(
            "Event: VarSet\r\nPrivilege: dialplan,all\r\nChannel: PJSIP/1001-00000001\r\nUniqueid: 1700000000.1\r\nVariable: BLOB\r\nValue: {value}\r\n\r\n"
        )
        .as_bytes(),
    );
    wire.extend_from_slice(b"Event: Hangup\r\nPrivilege: call,all\r\nUniqueid: 1700000000.1\r\nLinkedid: 1700000000.1\r\nCause: 16\r\n\r\n");
    wire
}

fn assert_long_value_intact(frames: &[Frame], value: &str, how: &str) {
    let names: Vec<&str> = frames
        .iter()
        .map(|f| match f {
            Frame::Banner(_) => "banner",
            Frame::Message(m) => m.get("Event").unwrap_or("?"),
            Frame::Malformed(e) => panic!("{how}: malformed {e}"),
            Frame::Skipped(name) => panic!("{how}: skipped {name}"),
        })
        .collect();
    assert_eq!(names, ["banner", "Newchannel", "VarSet", "Hangup"], "{how}");
    let Frame::Message(m) = &frames[2] else {
        panic!("{how}: no VarSet")
    };
    assert_eq!(m.get("Value").map(str::len), Some(value.len()), "{how}");
    assert!(m.get("Value") == Some(value), "{how}: the value changed");
    assert_eq!(m.get("Variable"), Some("BLOB"), "{how}");
}

#[test]
fn a_70_kib_value_arrives_intact_at_every_chunk_size_class() {
    let value = long_value();
    let wire = long_value_wire(&value);
    let at_value = wire
        .windows(7)
        .position(|w| w == b"Value: ")
        .expect("value")
        + 7;
    let sizes: &[&[usize]] = &[
        &[1],
        &[2],
        &[3],
        &[7],
        &[64],
        &[1000],
        &[1460],
        &[4096],
        &[8192],
        &[16 * 1024],
        &[16 * 1024 + 1],
        &[65_536],
        &[70 * 1024],
        &[wire.len()],
        // The value's first byte alone, then the rest in one piece.
        &[at_value, 1, wire.len()],
        // Split right after the value's CR, before its LF.
        &[at_value + value.len() + 1, wire.len()],
    ];
    for sizes in sizes {
        let frames = decode_chunked_bounded(
            AmiCodec::new(Limits::default()),
            &wire,
            sizes,
            bound(Limits::default()),
        );
        assert_long_value_intact(&frames, &value, &format!("chunks {sizes:?}"));
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]
    #[test]
    fn a_70_kib_value_survives_any_split(sizes in proptest::collection::vec(1usize..20_000, 1..6)) {
        let value = long_value();
        let wire = long_value_wire(&value);
        let frames = decode_chunked(AmiCodec::new(Limits::default()), &wire, &sizes);
        assert_long_value_intact(&frames, &value, &format!("chunks {sizes:?}"));
    }
}

#[test]
fn a_value_beyond_the_configured_limit_is_still_refused_and_the_next_event_decodes() {
    let value = long_value();
    let wire = long_value_wire(&value);
    let line = |max_message| Limits {
        max_line: 64 * 1024,
        max_headers: 4096,
        max_message,
    };
    for (limits, what) in [
        (line(128 * 1024), "line"),
        (line(64 * 1024), "line = message"),
    ] {
        for chunk in [1, 1460, 65_536, wire.len()] {
            let frames =
                decode_chunked_bounded(AmiCodec::new(limits), &wire, &[chunk], bound(limits));
            assert_eq!(frames.len(), 4, "{what}, chunk {chunk}: {frames:?}");
            assert!(
                matches!(&frames[1], Frame::Message(m) if m.get("Event") == Some("Newchannel"))
            );
            match (&frames[2], limits.max_message > limits.max_line) {
                (Frame::Malformed(FrameError::LineTooLong { limit: 65_536 }), _) => {}
                // At equal limits, arriving in pieces, the message's earlier lines make
                // it too large before the line alone is too long.
                (Frame::Malformed(FrameError::MessageTooLarge { limit: 65_536 }), false) => {}
                (other, _) => panic!("{what}, chunk {chunk}: {other:?}"),
            }
            assert!(
                matches!(&frames[3], Frame::Message(m) if m.get("Event") == Some("Hangup")),
                "{what}, chunk {chunk}: {frames:?}"
            );
        }
    }
}

#[test]
fn truncated_at_eof_is_one_error_with_its_size() {
    let wire = b"Event: Whole\r\n\r\nEvent: Cut\r\nChannel: PJSIP/1";
    let frames = decode_with(server(Limits::default()), wire);
    assert_eq!(frames.len(), 2, "{frames:?}");
    assert!(matches!(&frames[0], Frame::Message(m) if m.get("Event") == Some("Whole")));
    assert_eq!(
        frames[1],
        Frame::Malformed(FrameError::Truncated { bytes: 28 })
    );
    // A message missing only its blank line is truncated too.
    let frames = decode_with(server(Limits::default()), b"Event: NoBlank\r\n");
    assert_eq!(
        frames,
        [Frame::Malformed(FrameError::Truncated { bytes: 16 })]
    );
    // Trailing line breaks are not a message.
    let frames = decode_with(server(Limits::default()), b"Event: A\r\n\r\n\r\n\n");
    assert_eq!(frames.len(), 1, "{frames:?}");
}

#[test]
fn invalid_utf8_is_repaired_lossily_and_the_message_kept() {
    let wire = b"Event: Newchannel\r\nCallerIDName: Zo\xeb \xff\xfe\r\nUniqueid: u-9\r\nExten: 100\r\n\r\n";
    for chunk in [1, 5, 4096] {
        let frames = decode_chunked(server(Limits::default()), wire, &[chunk]);
        let [Frame::Message(m)] = &frames[..] else {
            panic!("{frames:?}")
        };
        assert_eq!(m.get("CallerIDName"), Some("Zo\u{fffd} \u{fffd}\u{fffd}"));
        assert_eq!(
            m.get("Uniqueid"),
            Some("u-9"),
            "later headers still indexed"
        );
        assert_eq!(m.len(), 4);
        let AmiMessage::Event(e) = AmiMessage::classify(m.clone()).expect("event") else {
            panic!("an event")
        };
        assert_eq!(e.uniqueid(), Some("u-9"));
    }
    // Invalid bytes in a key and in the banner are repaired too.
    let frames = decode_all(b"Asterisk Call Manager/\xff1\r\nEv\xc3nt: X\r\n\r\n");
    assert_eq!(
        frames[0],
        Frame::Banner("Asterisk Call Manager/\u{fffd}1".into())
    );
    assert!(matches!(&frames[1], Frame::Message(m) if m.field(0) == Some(("Ev\u{fffd}nt", "X"))));
}

#[test]
fn slow_drip_peer_one_byte_per_call_decodes_like_a_whole_read() {
    let mut bytes = fixture("login-idle.server.ami");
    let queries = fixture("queries.server.ami");
    // The bare-LF reply and its neighbours, past the banner.
    let at = queries
        .windows(17)
        .position(|w| w == b"No Contacts found")
        .expect("bare-LF reply");
    let from = at - 2000;
    let start = from
        + queries[from..]
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("end")
        + 4;
    bytes.extend_from_slice(&queries[start..at + 4000]);
    let whole = decode_all(&bytes);
    let drip = decode_chunked(AmiCodec::new(Limits::default()), &bytes, &[1]);
    assert_eq!(drip, whole);
    assert!(whole.len() > 15, "{} frames", whole.len());
    assert!(matches!(
        whole.last(),
        Some(Frame::Malformed(FrameError::Truncated { .. }))
    ));
}

#[test]
fn blank_lines_between_messages_and_bare_lf_endings() {
    let wire = b"\r\n\r\nEvent: A\nX: 1\n\n\n\r\nEvent: B\r\nY: 2\r\n\r\n";
    let frames = decode_with(server(Limits::default()), wire);
    let names: Vec<_> = frames
        .iter()
        .map(|f| match f {
            Frame::Message(m) => m.get("Event").unwrap_or(""),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(names, ["A", "B"]);
}

#[test]
fn only_the_first_line_can_be_a_banner() {
    let frames = decode_all(b"Response: Success\r\n\r\nAsterisk Call Manager/1.0\r\n\r\n");
    assert!(matches!(&frames[0], Frame::Message(_)));
    assert!(
        matches!(&frames[1], Frame::Message(m) if m.field(0) == Some(("Asterisk Call Manager/1.0", ""))),
        "{frames:?}"
    );
    // The server side never expects one.
    let frames = decode_with(
        server(Limits::default()),
        b"Asterisk Call Manager/1.0\r\n\r\n",
    );
    assert!(matches!(&frames[..], [Frame::Message(_)]), "{frames:?}");
}

#[test]
fn unclassified_message_is_an_error_of_classify_not_of_the_codec() {
    let frames = decode_with(server(Limits::default()), b"Foo: bar\r\n\r\n");
    let [Frame::Message(m)] = &frames[..] else {
        panic!("{frames:?}")
    };
    let err = AmiMessage::classify(m.clone()).expect_err("neither Event nor Response");
    assert_eq!(
        err,
        FrameError::Unclassified {
            first_key: "Foo".into()
        }
    );
}

#[test]
fn blank_output_lines_count_towards_the_message_size() {
    // A Follows body of nothing but blank lines, all in one read.
    let mut wire = b"Response: Follows\r\nActionID: f\r\n".to_vec();
    wire.extend(std::iter::repeat_n(b'\n', 5000));
    wire.extend_from_slice(b"--END COMMAND--\r\n\r\n");
    wire.extend_from_slice(GOOD);
    let frames = decode_with(server(SMALL), &wire);
    assert_eq!(
        frames[0],
        Frame::Malformed(FrameError::MessageTooLarge { limit: 512 })
    );
    assert!(frames.iter().any(good), "{frames:?}");
}
