//! The codec against every real Asterisk capture: each server transcript decodes to
//! exactly the messages, events and responses its `.md` note counts, with the banner
//! first and no errors; each client transcript (actions, no banner) decodes with the
//! server-side codec.

use std::collections::BTreeMap;

use switchboard::ami::{AmiCodec, AmiMessage, Frame, Limits};

use crate::common::ami::{decode_all, decode_with, fixture, note, SCENARIOS};

/// Counts of one decoded server transcript.
#[derive(Debug, Default)]
struct Tally {
    banners: Vec<String>,
    messages: u64,
    events: BTreeMap<String, u64>,
    responses: BTreeMap<String, u64>,
    malformed: Vec<String>,
    unclassified: u64,
}

fn tally(frames: Vec<Frame>) -> Tally {
    let mut t = Tally::default();
    for (i, frame) in frames.into_iter().enumerate() {
        match frame {
            Frame::Banner(b) => {
                assert_eq!(i, 0, "the banner comes first");
                t.banners.push(b.to_string());
            }
            Frame::Malformed(e) => t.malformed.push(e.to_string()),
            Frame::Skipped(name) => panic!("skipping is off, yet {name} was skipped"),
            Frame::Message(raw) => {
                t.messages += 1;
                match AmiMessage::classify(raw) {
                    Ok(AmiMessage::Event(e)) => *t.events.entry(e.name().into()).or_default() += 1,
                    Ok(AmiMessage::Response(r)) => {
                        *t.responses.entry(r.value().into()).or_default() += 1
                    }
                    Err(_) => t.unclassified += 1,
                }
            }
        }
    }
    t
}

#[test]
fn every_server_fixture_decodes_to_the_counts_of_its_note() {
    for scenario in SCENARIOS {
        let expected = note(scenario);
        let t = tally(decode_all(&fixture(&format!("{scenario}.server.ami"))));
        assert_eq!(
            t.banners,
            vec![expected.banner.clone()],
            "{scenario}: banner"
        );
        assert!(t.malformed.is_empty(), "{scenario}: {:?}", t.malformed);
        assert_eq!(t.unclassified, 0, "{scenario}: unclassified messages");
        assert_eq!(
            t.messages, expected.messages,
            "{scenario}: complete messages"
        );
        assert_eq!(
            t.events.values().sum::<u64>(),
            expected.events,
            "{scenario}: events"
        );
        assert_eq!(t.responses, expected.responses, "{scenario}: responses");
        assert_eq!(t.events, expected.event_table, "{scenario}: events by name");
    }
}

/// Pins a few counts by hand, so a note-reading mistake cannot make the test above
/// compare nothing with nothing.
#[test]
fn notes_are_read_as_written() {
    let devstate = note("devstate");
    assert_eq!(devstate.messages, 3411);
    assert_eq!(devstate.events, 2206);
    assert_eq!(devstate.responses.get("Success"), Some(&1204));
    assert_eq!(devstate.event_table.get("ExtensionStatus"), Some(&1002));
    let queries = note("queries");
    assert_eq!(queries.responses.get("Error"), Some(&12));
    assert_eq!(queries.event_table.len(), 57);
    assert_eq!(
        note("calls-local-ast20").banner,
        "Asterisk Call Manager/9.0.0"
    );
}

#[test]
fn banner_is_not_a_message_and_needs_no_blank_line() {
    let frames = decode_all(&fixture("login-idle.server.ami"));
    assert_eq!(
        frames[0],
        Frame::Banner("Asterisk Call Manager/11.0.0".into())
    );
    let Frame::Message(first) = &frames[1] else {
        panic!("second frame is a message: {:?}", frames[1]);
    };
    assert_eq!(first.field(0), Some(("Response", "Success")));
    assert_eq!(first.get("Message"), Some("Authentication accepted"));
}

/// `Action:` lines at the start of a line, counted without the codec.
fn action_lines(bytes: &[u8]) -> usize {
    bytes
        .split(|&b| b == b'\n')
        .filter(|l| l.starts_with(b"Action: "))
        .count()
}

#[test]
fn every_client_fixture_decodes_as_actions_with_the_server_codec() {
    for scenario in SCENARIOS {
        let bytes = fixture(&format!("{scenario}.client.ami"));
        let frames = decode_with(AmiCodec::server(Limits::default()), &bytes);
        let mut actions = 0;
        for frame in &frames {
            match frame {
                Frame::Message(m) => {
                    if m.field(0).map(|(k, _)| k) == Some("Action") {
                        actions += 1;
                        assert!(m.get("Action").is_some_and(|v| !v.is_empty()));
                    }
                }
                other => panic!("{scenario}: unexpected frame {other:?}"),
            }
        }
        assert_eq!(actions, action_lines(&bytes), "{scenario}: actions");
        assert!(actions > 0, "{scenario}: a client sends actions");
    }
}

#[test]
fn login_idle_client_sends_login_pings_and_logoff() {
    let frames = decode_with(
        AmiCodec::server(Limits::default()),
        &fixture("login-idle.client.ami"),
    );
    let names: Vec<String> = frames
        .iter()
        .map(|f| match f {
            Frame::Message(m) => m.get("Action").unwrap_or("").to_string(),
            other => panic!("unexpected frame {other:?}"),
        })
        .collect();
    assert_eq!(names, ["Login", "Ping", "Ping", "Ping", "Ping", "Logoff"]);
    let Frame::Message(login) = &frames[0] else {
        unreachable!()
    };
    assert_eq!(login.get("Username"), Some("admin"));
}

#[test]
fn queries_client_blocks_keep_their_odd_shapes() {
    let frames = decode_with(
        AmiCodec::server(Limits::default()),
        &fixture("queries.client.ami"),
    );
    let messages: Vec<_> = frames
        .iter()
        .map(|f| match f {
            Frame::Message(m) => m,
            other => panic!("unexpected frame {other:?}"),
        })
        .collect();
    // The block without Action is still one message, keyed by its first header.
    let no_action = messages
        .iter()
        .find(|m| m.get("ActionID") == Some("malformed-1"))
        .expect("block without Action");
    assert_eq!(no_action.field(0), Some(("ActionID", "malformed-1")));
    assert_eq!(no_action.get("Action"), None);
    // A colon-less line is a header with an empty value.
    let colonless = messages
        .iter()
        .find(|m| m.get("ActionID") == Some("malformed-2"))
        .expect("colon-less block");
    assert_eq!(colonless.field(2), Some(("this line has no colon", "")));
    // Bare-LF line endings frame like CRLF ones.
    let bare_lf = messages
        .iter()
        .find(|m| m.get("ActionID") == Some("malformed-3"))
        .expect("bare-LF block");
    assert_eq!(bare_lf.len(), 2);
    assert_eq!(bare_lf.get("Action"), Some("Ping"));
    // The 5000-byte Setvar value is one header, below the default line limit.
    let long = messages
        .iter()
        .find(|m| m.get("ActionID") == Some("setvar-34"))
        .expect("long Setvar");
    assert_eq!(long.get("Value").map(str::len), Some(5000));
}

#[test]
fn every_scenario_has_a_consistent_note() {
    for scenario in SCENARIOS {
        let n = note(scenario);
        let table_total: u64 = n.event_table.values().sum();
        let response_total: u64 = n.responses.values().sum();
        assert_eq!(
            table_total, n.events,
            "{scenario}: table sums to the events"
        );
        assert_eq!(
            n.events + response_total,
            n.messages,
            "{scenario}: events + responses = messages"
        );
        assert_eq!(
            fixture(&format!("{scenario}.server.ami")).len(),
            n.server_bytes,
            "{scenario}: fixture is byte-exact (no line-ending normalisation)"
        );
    }
}
