//! The codec's early decision (`AmiCodec::skip_unread`): an event nothing reads is
//! dropped at its `Event:` line and reported as `Frame::Skipped(label)`, and nothing
//! else changes. Checked against every capture, at every split point of a skipped
//! event followed by a read one, on random streams in random chunks, and with a
//! 70 KiB value.

use bytes::BytesMut;
use proptest::prelude::*;
use switchboard::ami::consumed::skip_label;
use switchboard::ami::{AmiCodec, Frame, Limits};
use tokio_util::codec::Decoder;

use crate::common::ami::{decode_all, decode_with, fixture, SCENARIOS};

fn skipping(limits: Limits) -> AmiCodec {
    AmiCodec::new(limits).skip_unread(true)
}

/// What the skipping codec must yield, derived from the ordinary codec's frames:
/// each event that is known, read by nobody and carries no ActionID becomes its label.
fn expected(frames: Vec<Frame>) -> Vec<Frame> {
    frames
        .into_iter()
        .map(|f| match &f {
            Frame::Message(m)
                if m.field(0)
                    .is_some_and(|(k, _)| k.eq_ignore_ascii_case("Event"))
                    && m.get("ActionID").is_none() =>
            {
                match skip_label(m.field(0).map_or("", |(_, v)| v.trim()).as_bytes()) {
                    Some(label) => Frame::Skipped(label),
                    None => f,
                }
            }
            _ => f,
        })
        .collect()
}

/// Feeds `bytes` in two pieces split at `at`, as two socket reads.
fn decode_split(mut codec: AmiCodec, bytes: &[u8], at: usize) -> Vec<Frame> {
    let mut buf = BytesMut::from(&bytes[..at]);
    let mut frames = Vec::new();
    while let Some(f) = codec.decode(&mut buf).expect("decode") {
        frames.push(f);
    }
    buf.extend_from_slice(&bytes[at..]);
    while let Some(f) = codec.decode_eof(&mut buf).expect("decode") {
        frames.push(f);
    }
    frames
}

#[test]
fn every_capture_decodes_to_the_same_frames_with_the_unread_events_as_labels() {
    let mut skipped = 0;
    for scenario in SCENARIOS {
        let bytes = fixture(&format!("{scenario}.server.ami"));
        let want = expected(decode_all(&bytes));
        let got = decode_with(skipping(Limits::default()), &bytes);
        assert_eq!(got, want, "{scenario}");
        skipped += got
            .iter()
            .filter(|f| matches!(f, Frame::Skipped(_)))
            .count();
    }
    assert!(skipped > 0, "the captures hold events nothing reads");
}

const VARSET: &str = "Event: VarSet\r\nPrivilege: dialplan,all\r\nChannel: PJSIP/1001-0001\r\n\
                      Uniqueid: 1.1\r\nVariable: X\r\nValue: a: b\r\n\r\n";
const HANGUP: &str = "Event: Hangup\r\nPrivilege: call,all\r\nChannel: PJSIP/1001-0001\r\n\
                      Uniqueid: 1.1\r\nLinkedid: 1.1\r\nCause: 16\r\n\r\n";

#[test]
fn a_skipped_event_then_a_read_one_split_at_every_byte() {
    for text in [
        format!("Asterisk Call Manager/11.0.0\r\n{VARSET}{HANGUP}"),
        format!(
            "Asterisk Call Manager/11.0.0\n{}{}",
            VARSET.replace("\r\n", "\n"),
            HANGUP.replace("\r\n", "\n")
        ),
    ] {
        let bytes = text.as_bytes();
        let want = expected(decode_all(bytes));
        assert!(matches!(want[1], Frame::Skipped("VarSet")), "{want:?}");
        assert!(matches!(&want[2], Frame::Message(m) if m.get("Cause") == Some("16")));
        for at in 0..=bytes.len() {
            assert_eq!(
                decode_split(skipping(Limits::default()), bytes, at),
                want,
                "split at {at}"
            );
        }
    }
}

#[test]
fn list_items_and_unknown_names_are_always_read() {
    let text = format!(
        "Asterisk Call Manager/11.0.0\r\n\
         Event: CoreShowChannel\r\nActionID: a-1\r\nChannel: PJSIP/1-1\r\n\r\n\
         Event: VarSet\r\nActionID: a-2\r\nVariable: X\r\n\r\n\
         Event: MadeUpByAModule\r\nX: 1\r\n\r\n{VARSET}"
    );
    let got = decode_with(skipping(Limits::default()), text.as_bytes());
    assert_eq!(got.len(), 5, "{got:?}");
    assert!(
        got[1..4].iter().all(|f| matches!(f, Frame::Message(_))),
        "{got:?}"
    );
    assert_eq!(got[4], Frame::Skipped("VarSet"));
}

#[test]
fn a_70_kib_value_is_read_whole_or_skipped_whole_and_the_next_event_is_intact() {
    let value = "x".repeat(70 * 1024);
    let text = format!(
        "Asterisk Call Manager/11.0.0\r\nEvent: VarSet\r\nVariable: BLOB\r\nValue: {value}\r\n\r\n{HANGUP}"
    );
    let bytes = text.as_bytes();
    // Default limits: too large to skip unparsed (it could break a header limit), so
    // it is read the ordinary way.
    let read = decode_with(skipping(Limits::default()), bytes);
    assert!(
        matches!(&read[1], Frame::Message(m) if m.get("Value").map(str::len) == Some(value.len()))
    );
    // Limits that admit it unread: skipped whole.
    let roomy = Limits {
        max_headers: 1 << 20,
        ..Limits::default()
    };
    for at in [
        0,
        40,
        1000,
        40_000,
        bytes.len() - HANGUP.len() - 1,
        bytes.len(),
    ] {
        let got = decode_split(skipping(roomy), bytes, at);
        assert_eq!(got[1], Frame::Skipped("VarSet"), "split at {at}");
        assert!(matches!(&got[2], Frame::Message(m) if m.get("Cause") == Some("16")));
    }
    // A skipped message past the message limit is reported as the ordinary path does.
    let small = Limits {
        max_line: 8192,
        max_message: 8192,
        max_headers: 1 << 20,
    };
    let plain = decode_with(AmiCodec::new(small), bytes);
    assert_eq!(decode_with(skipping(small), bytes), expected(plain));
}

/// One random event: a name (read, unread, unknown), maybe an ActionID, some headers.
fn event() -> impl Strategy<Value = String> {
    let names = prop::sample::select(vec![
        "VarSet",
        "Newexten",
        "RTCPSent",
        "Cdr",
        "Hangup",
        "Newchannel",
        "QueueMemberStatus",
        "ExtensionStatus",
        "Invented",
    ]);
    (
        names,
        any::<bool>(),
        prop::collection::vec("[a-zA-Z]{1,8}: [ -~]{0,30}", 0..6),
    )
        .prop_map(|(name, id, headers)| {
            let mut e = format!("Event: {name}\r\n");
            if id {
                e.push_str("ActionID: t-1\r\n");
            }
            for h in headers {
                e.push_str(&h);
                e.push_str("\r\n");
            }
            e.push_str("\r\n");
            e
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn random_streams_in_random_pieces_match_the_ordinary_codec(
        events in prop::collection::vec(event(), 1..20),
        lf in any::<bool>(),
        cuts in prop::collection::vec(1usize..200, 1..10),
    ) {
        let mut text = format!("Asterisk Call Manager/11.0.0\r\n{}", events.concat());
        if lf {
            text = text.replace("\r\n", "\n");
        }
        let bytes = text.as_bytes();
        let want = expected(decode_all(bytes));
        let mut codec = skipping(Limits::default());
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        let (mut at, mut i) = (0, 0);
        while at < bytes.len() {
            let n = cuts[i % cuts.len()].min(bytes.len() - at);
            buf.extend_from_slice(&bytes[at..at + n]);
            at += n;
            i += 1;
            while let Some(f) = codec.decode(&mut buf).expect("decode") {
                got.push(f);
            }
        }
        while let Some(f) = codec.decode_eof(&mut buf).expect("decode") {
            got.push(f);
        }
        prop_assert_eq!(got, want);
    }
}
