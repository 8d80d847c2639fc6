//! The correlator: replies matched by ActionID, event lists collected, timeouts,
//! epochs, and the real `queries` session replayed with the ActionIDs its client sent.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use switchboard::ami::{
    Action, ActionIds, AmiCodec, AmiMessage, Correlated, Correlator, Frame, Limits, RawMessage,
    ResponseKind,
};

use crate::common::ami::{decode_all, decode_with, fixture};

fn msg(pairs: &[(&str, &str)]) -> AmiMessage {
    AmiMessage::classify(RawMessage::from_pairs(pairs)).expect("Event or Response")
}

fn id_of(action: &Action) -> String {
    action
        .action_id()
        .expect("registered action has an ID")
        .to_string()
}

fn correlator() -> (Correlator<&'static str>, Instant) {
    (Correlator::new(ActionIds::new(0xabc, 1)), Instant::now())
}

#[test]
fn replies_match_their_actions_in_any_order() {
    let (mut c, now) = correlator();
    let deadline = now + Duration::from_secs(5);
    let ping = c.register(Action::ping(), "ping", deadline);
    let state = c.register(
        Action::extension_state("1001", "from-internal"),
        "state",
        deadline,
    );
    let (ping_id, state_id) = (id_of(&ping), id_of(&state));
    assert_ne!(ping_id, state_id);
    assert_eq!(state.get("Exten"), Some("1001"), "headers kept");
    assert_eq!(c.pending(), 2);

    let out = c.accept(msg(&[
        ("Response", "Success"),
        ("ActionID", &state_id),
        ("Status", "0"),
    ]));
    let Correlated::Reply { token, response } = out else {
        panic!("{out:?}")
    };
    assert_eq!(token, "state");
    assert_eq!(response.get("Status"), Some("0"));

    let out = c.accept(msg(&[
        ("Response", "Success"),
        ("ActionID", &ping_id),
        ("Ping", "Pong"),
    ]));
    assert!(
        matches!(out, Correlated::Reply { token: "ping", .. }),
        "{out:?}"
    );
    assert_eq!(c.pending(), 0);

    // The same reply again waits for nothing.
    let out = c.accept(msg(&[("Response", "Success"), ("ActionID", &ping_id)]));
    assert!(matches!(out, Correlated::Stale(_)), "{out:?}");
    let out = c.accept(msg(&[
        ("Response", "Error"),
        ("Message", "Missing action in request"),
    ]));
    assert!(matches!(out, Correlated::Stale(_)), "no ActionID: {out:?}");
}

#[test]
fn error_reply_to_a_list_action_is_a_plain_reply() {
    let (mut c, now) = correlator();
    let a = c.register(
        Action::status(Some("PJSIP/x")),
        "status",
        now + Duration::from_secs(5),
    );
    let out = c.accept(msg(&[
        ("Response", "Error"),
        ("ActionID", &id_of(&a)),
        ("Message", "No such channel"),
    ]));
    let Correlated::Reply { token, response } = out else {
        panic!("{out:?}")
    };
    assert_eq!(token, "status");
    assert_eq!(response.kind(), ResponseKind::Error);
}

#[test]
fn event_list_is_collected_and_live_events_pass_between_its_items() {
    let (mut c, now) = correlator();
    let a = c.register(
        Action::extension_state_list(),
        "list",
        now + Duration::from_secs(5),
    );
    let id = id_of(&a);
    let start = c.accept(msg(&[
        ("Response", "Success"),
        ("ActionID", &id),
        ("EventList", "start"),
        ("Message", "Extension Statuses will follow"),
    ]));
    assert!(matches!(start, Correlated::Absorbed), "{start:?}");
    for exten in ["1001", "1002"] {
        let item = c.accept(msg(&[
            ("Event", "ExtensionStatus"),
            ("Exten", exten),
            ("ActionID", &id),
        ]));
        assert!(matches!(item, Correlated::Absorbed), "{item:?}");
        // A live ExtensionStatus looks the same but has no ActionID.
        let live = c.accept(msg(&[("Event", "ExtensionStatus"), ("Exten", "2001")]));
        let Correlated::Live(e) = live else {
            panic!("{live:?}")
        };
        assert_eq!(e.get("Exten"), Some("2001"));
    }
    let done = c.accept(msg(&[
        ("Event", "ExtensionStateListComplete"),
        ("ActionID", &id),
        ("EventList", "Complete"),
        ("ListItems", "2"),
    ]));
    let Correlated::List {
        token,
        response,
        items,
        complete,
    } = done
    else {
        panic!("{done:?}")
    };
    assert_eq!(token, "list");
    assert!(response.starts_event_list());
    let extens: Vec<_> = items.iter().filter_map(|e| e.get("Exten")).collect();
    assert_eq!(extens, ["1001", "1002"]);
    assert_eq!(complete.get("ListItems"), Some("2"));
    assert_eq!(c.pending(), 0);
}

#[test]
fn expire_returns_only_actions_past_their_deadline() {
    let (mut c, now) = correlator();
    let early = c.register(Action::ping(), "early", now + Duration::from_secs(1));
    let late = c.register(Action::ping(), "late", now + Duration::from_secs(5));
    assert!(c.expire(now).is_empty());
    let expired = c.expire(now + Duration::from_secs(2));
    assert_eq!(expired, vec![(id_of(&early), "early")]);
    assert_eq!(c.pending(), 1);
    // The reply to the expired action arrives after all: nobody waits for it.
    let out = c.accept(msg(&[
        ("Response", "Success"),
        ("ActionID", &id_of(&early)),
    ]));
    assert!(matches!(out, Correlated::Stale(_)), "{out:?}");
    let out = c.accept(msg(&[("Response", "Success"), ("ActionID", &id_of(&late))]));
    assert!(
        matches!(out, Correlated::Reply { token: "late", .. }),
        "{out:?}"
    );
    assert!(c.expire(now + Duration::from_secs(60)).is_empty());
}

#[test]
fn late_items_of_an_expired_list_are_absorbed_not_live() {
    let (mut c, now) = correlator();
    let a = c.register(
        Action::device_state_list(),
        "devs",
        now + Duration::from_secs(1),
    );
    let id = id_of(&a);
    let start = c.accept(msg(&[
        ("Response", "Success"),
        ("ActionID", &id),
        ("EventList", "start"),
    ]));
    assert!(matches!(start, Correlated::Absorbed));
    let first = c.accept(msg(&[("Event", "DeviceStateChange"), ("ActionID", &id)]));
    assert!(matches!(first, Correlated::Absorbed));
    assert_eq!(c.expire(now + Duration::from_secs(2)).len(), 1);
    for _ in 0..3 {
        let late = c.accept(msg(&[
            ("Event", "DeviceStateChange"),
            ("Device", "Custom:2001"),
            ("ActionID", &id),
        ]));
        assert!(matches!(late, Correlated::Absorbed), "{late:?}");
    }
    let end = c.accept(msg(&[
        ("Event", "DeviceStateListComplete"),
        ("ActionID", &id),
        ("EventList", "Complete"),
        ("ListItems", "4"),
    ]));
    assert!(matches!(end, Correlated::Absorbed), "{end:?}");
}

#[test]
fn reset_returns_pending_tokens_and_old_epoch_replies_are_stale() {
    let (mut c, now) = correlator();
    let deadline = now + Duration::from_secs(5);
    let old = c.register(Action::ping(), "a", deadline);
    c.register(Action::core_show_channels(), "b", deadline);
    let mut tokens = c.reset(ActionIds::new(0xabc, 2));
    tokens.sort_unstable();
    assert_eq!(tokens, ["a", "b"]);
    assert_eq!(c.pending(), 0);
    let fresh = c.register(Action::ping(), "c", deadline);
    assert_ne!(id_of(&fresh), id_of(&old));
    assert!(ActionIds::new(0xabc, 2).is_current(&id_of(&fresh)));
    assert!(!ActionIds::new(0xabc, 2).is_current(&id_of(&old)));
    let out = c.accept(msg(&[("Response", "Success"), ("ActionID", &id_of(&old))]));
    assert!(matches!(out, Correlated::Stale(_)), "{out:?}");
    // The end of a list we asked for on the old connection is ours, never live.
    let out = c.accept(msg(&[
        ("Event", "CoreShowChannelsComplete"),
        ("ActionID", &format!("{}0", id_of(&old))),
        ("EventList", "Complete"),
    ]));
    assert!(matches!(out, Correlated::Absorbed), "{out:?}");
    let out = c.accept(msg(&[
        ("Response", "Success"),
        ("ActionID", &id_of(&fresh)),
    ]));
    assert!(
        matches!(out, Correlated::Reply { token: "c", .. }),
        "{out:?}"
    );
}

#[test]
fn events_caused_by_our_actions_pass_through_as_live() {
    let (mut c, now) = correlator();
    let deadline = now + Duration::from_secs(5);
    let user = c.register(Action::user_event("Wallboard"), "user", deadline);
    let orig = c.register(
        Action::originate("Local/800@from-internal", "from-internal", "600", None),
        "orig",
        deadline,
    );
    // Asterisk may write the UserEvent before the reply: still live, still pending.
    let ev = c.accept(msg(&[
        ("Event", "UserEvent"),
        ("UserEvent", "Wallboard"),
        ("ActionID", &id_of(&user)),
    ]));
    assert!(matches!(ev, Correlated::Live(_)), "{ev:?}");
    assert_eq!(c.pending(), 2);
    let r = c.accept(msg(&[("Response", "Success"), ("ActionID", &id_of(&user))]));
    assert!(matches!(r, Correlated::Reply { token: "user", .. }));
    let r = c.accept(msg(&[
        ("Response", "Success"),
        ("ActionID", &id_of(&orig)),
        ("Message", "Originate successfully queued"),
    ]));
    assert!(matches!(r, Correlated::Reply { token: "orig", .. }));
    // OriginateResponse comes after the reply and carries `Response:` too.
    let ev = c.accept(msg(&[
        ("Event", "OriginateResponse"),
        ("ActionID", &id_of(&orig)),
        ("Response", "Success"),
        ("Uniqueid", "peerpbx-1.1"),
    ]));
    let Correlated::Live(e) = ev else {
        panic!("{ev:?}")
    };
    assert_eq!(e.name(), "OriginateResponse");
    assert_eq!(e.uniqueid(), Some("peerpbx-1.1"));
    // Someone else's list end is none of our business: live.
    let ev = c.accept(msg(&[
        ("Event", "StatusComplete"),
        ("ActionID", "other-client-7"),
        ("EventList", "Complete"),
    ]));
    assert!(matches!(ev, Correlated::Live(_)), "{ev:?}");
}

#[test]
fn track_displaces_and_returns_a_token_waiting_under_the_same_id() {
    let (mut c, now) = correlator();
    let deadline = now + Duration::from_secs(5);
    assert_eq!(c.track("x-1", "first", deadline), None);
    assert_eq!(c.track("x-1", "second", deadline), Some("first"));
    let out = c.accept(msg(&[("Response", "Success"), ("ActionID", "x-1")]));
    assert!(
        matches!(
            out,
            Correlated::Reply {
                token: "second",
                ..
            }
        ),
        "{out:?}"
    );
}

/// What the replayed queries session produced.
#[derive(Default)]
struct Replay {
    replies: BTreeMap<String, ResponseKind>,
    lists: BTreeMap<String, (usize, u64, String)>,
    live: Vec<switchboard::ami::Event>,
    absorbed: usize,
    stale: usize,
}

fn replay_queries() -> (Replay, Correlator<String>) {
    let now = Instant::now();
    let mut c = Correlator::new(ActionIds::new(7, 1));
    let client = decode_with(
        AmiCodec::server(Limits::default()),
        &fixture("queries.client.ami"),
    );
    for frame in client {
        if let Frame::Message(m) = frame {
            if let Some(id) = m.get("ActionID") {
                assert_eq!(
                    c.track(id, id.to_string(), now + Duration::from_secs(60)),
                    None
                );
            }
        }
    }
    let mut r = Replay::default();
    for frame in decode_all(&fixture("queries.server.ami")) {
        let Frame::Message(m) = frame else { continue };
        match c.accept(AmiMessage::classify(m).expect("classifiable")) {
            Correlated::Reply { token, response } => {
                r.replies.insert(token, response.kind());
            }
            Correlated::List {
                token,
                items,
                complete,
                ..
            } => {
                let listed = complete
                    .get("ListItems")
                    .and_then(|n| n.parse().ok())
                    .expect("ListItems");
                let mut kinds: Vec<&str> = items.iter().map(|e| e.name()).collect();
                kinds.sort_unstable();
                kinds.dedup();
                r.lists
                    .insert(token, (items.len(), listed, kinds.join(",")));
            }
            Correlated::Live(e) => r.live.push(e),
            Correlated::Absorbed => r.absorbed += 1,
            Correlated::Stale(_) => r.stale += 1,
        }
    }
    (r, c)
}

#[test]
fn queries_session_lists_collect_exactly_their_items() {
    let (r, c) = replay_queries();
    let expected: BTreeMap<String, (usize, u64, String)> = [
        ("extensionstatelist-2", 220, 220, "ExtensionStatus"),
        ("coreshowchannels-9", 8, 8, "CoreShowChannel"),
        ("status-10", 8, 8, "Status"),
        ("status-11", 1, 1, "Status"),
        ("pjsipshowendpoints-13", 20, 20, "EndpointList"),
        (
            "pjsipshowendpoint-14",
            3,
            3,
            "AorDetail,AuthDetail,EndpointDetail",
        ),
        (
            "pjsipshowregistrationsinbound-16",
            20,
            20,
            "InboundRegistrationDetail",
        ),
        ("queuestatus-17", 5, 5, "QueueMember,QueueParams"),
        ("queuesummary-18", 1, 1, "QueueSummary"),
        ("queuestatus-19", 0, 0, ""),
        ("devicestatelist-20", 228, 228, "DeviceStateChange"),
        ("bridgelist-21", 1, 1, "BridgeListItem"),
        ("agents-22", 2, 2, "Agents"),
        ("iaxpeerlist-31", 1, 1, "PeerEntry"),
        // Asterisk's IAXpeers writes its PeerEntry without the ActionID: it cannot be
        // told from a live event, so the list closes with none of the one it announces.
        ("iaxpeers-32", 0, 1, ""),
    ]
    .into_iter()
    .map(|(id, n, listed, kind)| (id.to_string(), (n, listed, kind.to_string())))
    .collect();
    assert_eq!(r.lists, expected);
    assert_eq!(c.pending(), 0, "every action was answered");
}

#[test]
fn queries_session_list_items_never_surface_as_live_events() {
    let (r, _) = replay_queries();
    for e in &r.live {
        if let Some(id) = e.action_id() {
            assert!(!r.lists.contains_key(id), "list item leaked: {e:?}");
        }
    }
    // 726 events in the capture; items and the ...Complete events were absorbed.
    let items: usize = r.lists.values().map(|l| l.0).sum();
    assert_eq!(r.live.len(), 726 - items - r.lists.len());
    assert_eq!(r.absorbed, items + r.lists.len(), "items and list starts");
    let originate: Vec<_> = r
        .live
        .iter()
        .filter(|e| e.name() == "OriginateResponse")
        .filter_map(|e| e.action_id())
        .collect();
    assert_eq!(originate.len(), 4);
    assert!(r.live.iter().any(|e| e.name() == "UserEvent"));
}

#[test]
fn queries_session_plain_replies_and_the_one_without_action_id() {
    let (r, _) = replay_queries();
    assert_eq!(r.replies.get("login-1"), Some(&ResponseKind::Success));
    assert_eq!(r.replies.get("status-12"), Some(&ResponseKind::Error));
    assert_eq!(
        r.replies.get("pjsipshowcontacts-15"),
        Some(&ResponseKind::Error)
    );
    assert_eq!(r.replies.get("logoff-49"), Some(&ResponseKind::Goodbye));
    assert_eq!(r.replies.get("qorig-3"), Some(&ResponseKind::Success));
    // "Missing action in request" after the lone CRLF carries no ActionID.
    assert_eq!(r.stale, 1);
    // Every response is either a reply, a list start or stale: 58 in the capture.
    assert_eq!(r.replies.len() + r.lists.len() + r.stale, 58);
}
