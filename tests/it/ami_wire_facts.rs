//! The protocol facts the fixtures README lists, checked on the real bytes: the
//! bare-LF `Message`, `Output:` lines with trailing spaces, the `ListCommands` reply
//! and the 35 KB `core show hints` output, a 228-char ActionID with spaces and a
//! colon, `OriginateResponse` being an event, values containing `: `, repeated keys
//! in order, and the legacy `Response: Follows` body (not in the captures, so built
//! by hand).

use switchboard::ami::{AmiCodec, AmiMessage, Event, Frame, Limits, Response, ResponseKind};

use crate::common::ami::{decode_all, decode_with, fixture};

fn classified(scenario: &str) -> Vec<AmiMessage> {
    decode_all(&fixture(&format!("{scenario}.server.ami")))
        .into_iter()
        .filter_map(|f| match f {
            Frame::Message(m) => Some(AmiMessage::classify(m).expect("classifiable")),
            Frame::Banner(_) => None,
            Frame::Malformed(e) => panic!("{scenario}: {e}"),
            Frame::Skipped(name) => panic!("{scenario}: skipped {name}"),
        })
        .collect()
}

fn response<'a>(messages: &'a [AmiMessage], action_id: &str) -> &'a Response {
    messages
        .iter()
        .find_map(|m| match m {
            AmiMessage::Response(r) if r.action_id() == Some(action_id) => Some(r),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no reply to {action_id}"))
}

fn events<'a>(messages: &'a [AmiMessage], name: &'a str) -> impl Iterator<Item = &'a Event> {
    messages.iter().filter_map(move |m| match m {
        AmiMessage::Event(e) if e.name() == name => Some(e),
        _ => None,
    })
}

#[test]
fn bare_lf_inside_no_contacts_reply_ends_the_line_not_the_stream() {
    let all = classified("queries");
    let r = response(&all, "pjsipshowcontacts-15");
    assert_eq!(r.kind(), ResponseKind::Error);
    assert_eq!(r.message(), Some("No Contacts found"));
    assert_eq!(r.raw().len(), 3);
    // The extra CRLF after it is skipped; the next reply is intact and next in order.
    let pos = all
        .iter()
        .position(|m| m.action_id() == Some("pjsipshowcontacts-15"))
        .expect("reply position");
    let AmiMessage::Response(next) = &all[pos + 1] else {
        panic!("a reply follows: {:?}", all[pos + 1]);
    };
    assert_eq!(next.action_id(), Some("pjsipshowregistrationsinbound-16"));
    assert!(next.starts_event_list());
}

#[test]
fn command_output_lines_keep_trailing_spaces_and_order() {
    let bytes = fixture("queries.server.ami");
    let all = classified("queries");
    let channels = response(&all, "command-26");
    assert_eq!(channels.kind(), ResponseKind::Success);
    assert_eq!(channels.message(), Some("Command output follows"));
    let lines: Vec<&str> = channels.output().collect();
    assert_eq!(lines.len(), 12);
    // The first line as it is on the wire, between "Output: " and CRLF.
    let text = String::from_utf8_lossy(&bytes);
    let wire = text
        .split("\r\n")
        .find(|l| l.starts_with("Output: Channel  "))
        .and_then(|l| l.strip_prefix("Output: "))
        .expect("header line of core show channels");
    assert!(wire.ends_with(' '), "the capture has trailing spaces");
    assert_eq!(lines[0], wire);
    assert_eq!(response(&all, "command-25").output().count(), 1);
    assert_eq!(response(&all, "command-27").output().count(), 224);
    let unknown = response(&all, "command-28");
    assert_eq!(unknown.kind(), ResponseKind::Error);
    assert_eq!(unknown.output().count(), 1);
}

/// The README calls `ListCommands` the 35 KB message; in the capture it is 8.6 KB and
/// the 35,835-byte message the note counts as the largest is `core show hints`.
#[test]
fn list_commands_and_the_largest_message_decode_whole() {
    let all = classified("queries");
    let r = response(&all, "listcommands-29");
    assert_eq!(r.kind(), ResponseKind::Success);
    // The note's sizes exclude the closing blank line; byte_len includes it.
    assert_eq!(r.raw().byte_len(), 8607 + 4);
    let actions: Vec<(&str, &str)> = r.raw().iter().skip(2).collect();
    assert_eq!(actions.len(), 115, "one header per manager action");
    assert!(actions.iter().all(|(_, v)| v.contains("(Priv: ")));
    assert_eq!(
        r.get("ListCommands"),
        Some("List available manager commands.  (Priv: <none>)")
    );
    let largest = all
        .iter()
        .map(|m| match m {
            AmiMessage::Event(e) => e.raw().byte_len(),
            AmiMessage::Response(r) => r.raw().byte_len(),
        })
        .max();
    assert_eq!(largest, Some(35_835 + 4));
    assert_eq!(response(&all, "command-27").raw().byte_len(), 35_835 + 4);
}

#[test]
fn long_action_id_with_spaces_and_colon_is_echoed_verbatim() {
    let sent = decode_with(
        AmiCodec::server(Limits::default()),
        &fixture("queries.client.ami"),
    )
    .into_iter()
    .find_map(|f| match f {
        Frame::Message(m)
            if m.get("ActionID")
                .is_some_and(|id| id.starts_with("id with")) =>
        {
            m.get("ActionID").map(str::to_string)
        }
        _ => None,
    })
    .expect("the long ActionID the client sent");
    assert_eq!(sent.len(), 228);
    assert!(sent.contains(": "));
    let all = classified("queries");
    let r = response(&all, &sent);
    assert_eq!(r.kind(), ResponseKind::Success);
    assert_eq!(r.get("Ping"), Some("Pong"));
}

#[test]
fn originate_response_is_an_event_carrying_response_and_action_id() {
    for (scenario, count) in [("queries", 4), ("calls-local", 50), ("calls-outcomes", 1)] {
        let all = classified(scenario);
        let found: Vec<&Event> = events(&all, "OriginateResponse").collect();
        assert_eq!(found.len(), count, "{scenario}");
        for e in found {
            assert!(
                matches!(e.get("Response"), Some("Success" | "Failure")),
                "{e:?}"
            );
            assert!(e.action_id().is_some(), "{e:?}");
        }
    }
    let all = classified("queries");
    let mut ids: Vec<&str> = events(&all, "OriginateResponse")
        .filter_map(Event::action_id)
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, ["qorig-0", "qorig-1", "qorig-2", "qorig-3"]);
}

#[test]
fn failed_originate_reports_unknown_uniqueid() {
    let all = classified("calls-outcomes");
    let e = events(&all, "OriginateResponse").next().expect("one");
    assert_eq!(e.get("Response"), Some("Failure"));
    assert_eq!(e.get("Reason"), Some("3"));
    assert_eq!(e.uniqueid(), Some("<unknown>"));
}

#[test]
fn repeated_keys_are_kept_in_order() {
    let all = classified("queries");
    let user = events(&all, "UserEvent").next().expect("UserEvent");
    assert_eq!(user.action_id(), Some("userevent-38"));
    let second: Vec<&str> = user.raw().get_all("second").collect();
    assert_eq!(second, ["two words", "repeated header"]);
    assert_eq!(user.get("Second"), Some("two words"));
    assert_eq!(user.get("Payload").map(str::len), Some(1000));
    let pos: Vec<usize> = user
        .raw()
        .iter()
        .enumerate()
        .filter(|(_, (k, _))| *k == "Second")
        .map(|(i, _)| i)
        .collect();
    assert_eq!(pos.len(), 2);
    assert_eq!(pos[1], pos[0] + 1);
    assert_eq!(user.raw().position("SECOND"), Some(pos[0]));
}

#[test]
fn values_containing_colon_space_are_split_at_the_first_colon_only() {
    let all = classified("queries");
    let r = response(&all, "foobarnosuchaction-33");
    assert_eq!(
        r.message(),
        Some(
            "Invalid/unknown command: FooBarNoSuchAction. Use Action: ListCommands to show \
             available commands."
        )
    );
    let frames = decode_all(b"Event: X\r\nA: b: c:d\r\nE:  spaced \r\n\r\n");
    let Frame::Message(m) = &frames[0] else {
        panic!("{frames:?}")
    };
    assert_eq!(m.get("A"), Some("b: c:d"));
    assert_eq!(
        m.get("E"),
        Some("spaced "),
        "leading blanks go, trailing stay"
    );
}

#[test]
fn common_event_headers_are_found_wherever_they_sit() {
    let all = classified("queries");
    // Agents list items carry their ActionID last.
    let agent = events(&all, "Agents").next().expect("Agents");
    assert_eq!(agent.action_id(), Some("agents-22"));
    assert_eq!(agent.timestamp(), None, "list items have no Timestamp");
    let all = classified("calls-local");
    let nc = events(&all, "Newchannel").next().expect("Newchannel");
    assert_eq!(nc.privilege(), Some("call,all"));
    assert!(nc.timestamp().is_some_and(|t| t > 1.7e9));
    assert!(nc.uniqueid().is_some_and(|u| u.starts_with("peerpbx-")));
    assert!(nc.linkedid().is_some());
    assert!(nc.channel().is_some_and(|c| c.starts_with("Local/")));
    assert_eq!(nc.event_list(), None);
    assert_eq!(nc.get("channelstatedesc"), Some("Down"));
}

#[test]
fn utf8_caller_name_survives() {
    let all = classified("queries");
    assert!(
        events(&all, "NewCallerid").any(|e| e.get("CallerIDName") == Some("Zoë 电话")),
        "the UTF-8 caller name is decoded as sent"
    );
}

fn follows_frames(wire: &[u8]) -> Vec<Frame> {
    decode_with(AmiCodec::server(Limits::default()), wire)
}

#[test]
fn response_follows_body_becomes_output_headers() {
    let wire = b"Response: Follows\r\nPrivilege: Command\r\nActionID: c1\r\n\
        Name/username             Host   Dyn\n\
        key: value inside output\n\
        \n\
        last line  \n\
        --END COMMAND--\r\n\r\n\
        Event: After\r\n\r\n";
    let frames = follows_frames(wire);
    assert_eq!(frames.len(), 2, "{frames:?}");
    let Frame::Message(m) = &frames[0] else {
        panic!("{frames:?}")
    };
    let r = match AmiMessage::classify(m.clone()) {
        Ok(AmiMessage::Response(r)) => r,
        other => panic!("{other:?}"),
    };
    assert_eq!(r.kind(), ResponseKind::Follows);
    assert!(r.is_success());
    assert_eq!(r.action_id(), Some("c1"));
    let out: Vec<&str> = r.output().collect();
    assert_eq!(
        out,
        [
            "Name/username             Host   Dyn",
            "key: value inside output",
            "last line  "
        ]
    );
    assert_eq!(r.get("key"), None, "output lines are not headers");
    let Frame::Message(after) = &frames[1] else {
        panic!("{frames:?}")
    };
    assert_eq!(after.get("Event"), Some("After"));
}

#[test]
fn end_command_glued_to_the_last_output_line() {
    let wire = b"Response: Follows\r\nActionID: c2\r\nonly line\n--END COMMAND--\r\n\r\n\
        Response: Follows\r\nActionID: c3\r\ntext--END COMMAND--\r\n\r\n";
    let frames = follows_frames(wire);
    let outputs: Vec<Vec<String>> = frames
        .iter()
        .map(|f| match f {
            Frame::Message(m) => m.get_all("Output").map(str::to_string).collect(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        outputs,
        [vec!["only line".to_string()], vec!["text".to_string()]]
    );
}

/// Every `Status:`/`StatusText:` pair a real Asterisk printed in the captures
/// (`ExtensionStatus` events, list items and `ExtensionState` replies, status -1
/// included) is
/// what switchboard's one status table says, so the simulator — which prints the same
/// table — cannot drift from Asterisk either.
#[test]
fn the_status_table_names_every_status_as_asterisk_does() {
    let mut checked = std::collections::BTreeSet::new();
    for scenario in [
        "queries",
        "devstate",
        "calls-hold",
        "calls-sip",
        "calls-outcomes",
    ] {
        for m in classified(scenario) {
            let (status, text) = match &m {
                AmiMessage::Event(e) => (e.get("Status"), e.get("StatusText")),
                AmiMessage::Response(r) => (r.get("Status"), r.get("StatusText")),
            };
            let (Some(status), Some(text)) = (status, text) else {
                continue;
            };
            let Ok(status) = status.parse::<i32>() else {
                continue;
            };
            let ours =
                switchboard::state::extension::status_text(switchboard::model::HintStatus(status));
            assert_eq!(ours, text, "{scenario}: status {status}");
            assert_eq!(switchboard::sim::model::status_text(status), text);
            checked.insert(status);
        }
    }
    // The captures hold idle, in use, busy, unavailable, ringing, hold and -1.
    assert!(
        checked.contains(&-1),
        "no status -1 in the captures: {checked:?}"
    );
    assert!(checked.len() >= 6, "too few statuses checked: {checked:?}");
}
