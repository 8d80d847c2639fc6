//! Real Asterisk captures replayed through the whole pipeline over TCP: a replay AMI
//! server (tests/common/replay.rs) writes each capture's events, byte for byte, to
//! the real service (`app::start`: connection, router, call trackers, extension
//! actors, hub, store writer on SQLite), and the calls in the store and the
//! extension states in the live view are checked against the call tables of
//! `tests/fixtures/<scenario>.md` and against what the capture itself says
//! (timestamps, causes, the last `ExtensionStatus` of each extension).

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::common::pipeline::{start, Changes, Running, Setup};
use crate::common::replay::{load, Capture, ReplayOptions, ReplayServer};
use switchboard::model::{Call, CallState, Direction};

/// One replayed scenario, settled: every event routed, every change stored.
struct Replayed {
    running: Running,
    _server: ReplayServer,
    history: Vec<Call>,
    capture: Capture,
    changes: Changes,
}

async fn replay_with(scenario: &str, auth: &str, options: ReplayOptions) -> Replayed {
    let capture = load(scenario);
    let server = ReplayServer::start(capture.clone(), options);
    let running = start(Setup::new(server.addr()).auth(auth))
        .await
        .expect("SQLite is always available");
    let changes = running.collect().await;
    running.settle(capture.events.len() as u64).await;
    let history = running.history();
    Replayed {
        running,
        _server: server,
        history,
        capture,
        changes,
    }
}

async fn replay(scenario: &str) -> Replayed {
    replay_with(scenario, "md5", ReplayOptions::default()).await
}

/// What the capture itself says about each call (by Linkedid): first channel time,
/// last hangup time, first time a channel went Up, every Hangup cause by channel.
#[derive(Debug, Default)]
struct Truth {
    started: BTreeMap<String, f64>,
    ended: HashMap<String, f64>,
    up: HashMap<String, f64>,
    causes: HashMap<String, Vec<(String, i32)>>,
    last_status: BTreeMap<String, i32>,
}

fn truth(capture: &Capture) -> Truth {
    let mut t = Truth::default();
    let mut call_of: HashMap<String, String> = HashMap::new();
    for m in capture.decoded() {
        let get = |k: &str| m.get(k).unwrap_or("").to_string();
        let ts: f64 = m
            .get("Timestamp")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        let (uid, linkedid) = (get("Uniqueid"), get("Linkedid"));
        match m.get("Event").unwrap_or("") {
            "Newchannel" => {
                call_of.insert(uid.clone(), linkedid.clone());
                let s = t.started.entry(linkedid).or_insert(ts);
                *s = s.min(ts);
            }
            "Newstate" if get("ChannelStateDesc") == "Up" => {
                let call = call_of.get(&uid).cloned().unwrap_or(linkedid);
                t.up.entry(call).or_insert(ts);
            }
            "Hangup" => {
                let cause = get("Cause").parse().expect("numeric cause");
                let mut calls = vec![linkedid.clone()];
                if let Some(first) = call_of.get(&uid) {
                    if *first != linkedid {
                        calls.push(first.clone());
                    }
                }
                for call in calls {
                    let e = t.ended.entry(call.clone()).or_insert(ts);
                    *e = e.max(ts);
                    t.causes
                        .entry(call)
                        .or_default()
                        .push((get("Channel"), cause));
                }
            }
            "ExtensionStatus" => {
                t.last_status
                    .insert(get("Exten"), get("Status").parse().expect("numeric status"));
            }
            _ => {}
        }
    }
    t
}

/// Checks what holds for every capture: one stored call per Linkedid, nothing left
/// active, durations and leg causes exactly as captured, extension states as the
/// last `ExtensionStatus` of each extension said.
fn check_common(r: &Replayed) -> Truth {
    let t = truth(&r.capture);
    let ids: Vec<&str> = r.history.iter().map(|c| c.id.as_str()).collect();
    let expected: Vec<&str> = t.started.keys().map(String::as_str).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(
        sorted, expected,
        "one stored call per Linkedid of the capture"
    );
    assert!(r.running.live_calls().is_empty(), "no call left active");
    for c in &r.history {
        assert_eq!(c.state, CallState::Ended, "{}", c.id);
        assert!(!c.on_hold, "{}: ended calls are not on hold", c.id);
        let started = t.started[&c.id];
        let ended = t.ended[&c.id];
        let at = |ts: f64| (ts * 1e6).round() as i64;
        assert_eq!(
            c.started_at.timestamp_micros(),
            at(started),
            "{}: start",
            c.id
        );
        let end = c.ended_at.expect("ended").timestamp_micros();
        assert_eq!(end, at(ended), "{}: end = its last Hangup", c.id);
        assert!(
            (c.duration_secs - (ended - started)).abs() < 0.000_01,
            "{}: duration {} vs captured {}",
            c.id,
            c.duration_secs,
            ended - started
        );
        match t.up.get(&c.id) {
            Some(up) => {
                assert!(c.answered_at.is_some(), "{}: a channel went Up", c.id);
                assert!(
                    (c.talk_secs - (ended - up)).abs() < 0.000_01,
                    "{}: talk",
                    c.id
                );
            }
            None => {
                assert!(c.answered_at.is_none(), "{}: nobody answered", c.id);
                assert_eq!(c.talk_secs, 0.0, "{}", c.id);
            }
        }
        let mut got: Vec<(String, i32)> = c
            .legs
            .iter()
            .map(|l| {
                (
                    l.channel.clone(),
                    l.hangup_cause.expect("every leg hung up"),
                )
            })
            .collect();
        let mut want = t.causes[&c.id].clone();
        got.sort();
        want.sort();
        assert_eq!(got, want, "{}: every leg with its Hangup cause", c.id);
    }
    let live = r.running.live_extensions();
    for (exten, status) in &t.last_status {
        let e = live
            .get(exten)
            .unwrap_or_else(|| panic!("extension {exten} is in the live view"));
        assert_eq!(
            e.status.0, *status,
            "extension {exten}: last ExtensionStatus"
        );
    }
    let stored: HashMap<String, i32> = r
        .running
        .service
        .state
        .store
        .list_extensions(None)
        .expect("stored extensions")
        .into_iter()
        .map(|e| (e.extension, e.status.0))
        .collect();
    for (exten, status) in &t.last_status {
        assert_eq!(stored.get(exten), Some(status), "stored extension {exten}");
    }
    t
}

fn num(p: &switchboard::model::Party) -> &str {
    p.number.as_deref().unwrap_or("-")
}

fn cause_of(c: &Call, ext: &str) -> Option<i32> {
    c.legs
        .iter()
        .find(|l| l.extension.as_deref() == Some(ext))
        .and_then(|l| l.hangup_cause)
}

/// (caller, callee, outcome, call cause, callee leg cause, legs, direction)
type Outcome<'a> = (
    &'a str,
    &'a str,
    &'a str,
    i32,
    Option<i32>,
    usize,
    Direction,
);

#[actix_rt::test]
async fn calls_outcomes_end_as_the_capture_notes_say() {
    let r = replay("calls-outcomes").await;
    check_common(&r);
    let h = &r.history;
    assert_eq!(h.len(), 10);
    // (caller, callee, outcome, call cause, callee leg cause, legs, direction)
    let expected: [Outcome; 10] = [
        (
            "1001",
            "1002",
            "answered",
            16,
            Some(16),
            2,
            Direction::Internal,
        ),
        (
            "1001",
            "1002",
            "answered",
            16,
            Some(16),
            2,
            Direction::Internal,
        ),
        (
            "1001",
            "1003",
            "noAnswer",
            16,
            Some(0),
            2,
            Direction::Internal,
        ),
        ("1001", "601", "busy", 17, None, 1, Direction::Internal),
        ("1001", "1004", "busy", 17, Some(17), 2, Direction::Internal),
        (
            "1001",
            "1005",
            "rejected",
            21,
            Some(21),
            2,
            Direction::Internal,
        ),
        ("1001", "1020", "failed", 3, None, 1, Direction::Internal),
        (
            "1001",
            "1003",
            "cancelled",
            127,
            Some(127),
            2,
            Direction::Internal,
        ),
        (
            "1001",
            "01759605969",
            "answered",
            16,
            None,
            3,
            Direction::Outbound,
        ),
        // Click-to-dial: the device rung first (1003) calls what it was asked to reach.
        ("1003", "1002", "noAnswer", 19, None, 1, Direction::Internal),
    ];
    for (i, (c, want)) in h.iter().zip(expected.iter()).enumerate() {
        let (caller, callee, outcome, cause, callee_cause, legs, direction) = *want;
        let n = i + 1;
        assert_eq!(num(&c.caller), caller, "call {n}: caller");
        assert_eq!(num(&c.callee), callee, "call {n}: callee");
        assert_eq!(
            c.outcome.map(|o| o.as_str()),
            Some(outcome),
            "call {n}: outcome"
        );
        assert_eq!(c.hangup_cause, Some(cause), "call {n}: hangup cause");
        assert_eq!(c.legs.len(), legs, "call {n}: legs");
        assert_eq!(c.direction, direction, "call {n}: direction");
        if let Some(cc) = callee_cause {
            assert_eq!(cause_of(c, callee), Some(cc), "call {n}: callee leg cause");
        }
        assert_eq!(c.answered_at.is_some(), outcome == "answered", "call {n}");
        assert!(c.transfers.is_empty(), "call {n}: no transfer");
    }
    // Call 1 and 2: 3.0 s of talk; call 3 rang 5 s (Dial timeout); call 8 rang 3 s.
    for n in [1, 2] {
        assert!((h[n - 1].talk_secs - 3.0).abs() < 0.1, "call {n} talk");
    }
    assert!((h[2].duration_secs - 5.0).abs() < 0.1, "call 3 rang 5 s");
    assert!((h[7].duration_secs - 3.0).abs() < 0.1, "call 8 rang 3 s");
    // Call 9: rings 2 s, then talks 3-5 s.
    assert!((h[8].duration_secs - h[8].talk_secs - 2.0).abs() < 0.1);
    assert!((3.0..=5.1).contains(&h[8].talk_secs));
    assert!(h[8].legs.iter().any(|l| l.channel.starts_with("Local/")));
    r.running.stop().await;
}

#[actix_rt::test]
async fn calls_transfer_records_blind_and_attended_transfers() {
    let r = replay("calls-transfer").await;
    check_common(&r);
    let h = &r.history;
    // 11 scenario calls; the 11th (SIP REFER with Replaces) joins two calls that
    // Asterisk kept under two Linkedids, the consultation call being the 12th record.
    assert_eq!(h.len(), 12);
    let expected: [(&str, &str, &[&str], usize); 12] = [
        ("1001", "1003", &["blind"], 3),
        ("1004", "1006", &["blind"], 3),
        ("1001", "600", &["blind"], 2),
        ("1004", "1006", &[], 3),
        ("1001", "1003", &[], 3),
        ("1004", "1006", &["blind"], 3),
        ("1001", "1003", &["attended"], 5),
        ("1004", "1006", &["attended"], 5),
        ("1001", "1003", &["attended"], 5),
        // CancelAtxfer: 1004 and 1005 talk again; no transfer.
        ("1004", "1005", &[], 5),
        ("1001", "1003", &["attended"], 3),
        ("1002", "1003", &[], 2),
    ];
    for (i, (c, (caller, callee, transfers, legs))) in h.iter().zip(expected.iter()).enumerate() {
        let n = i + 1;
        assert_eq!(num(&c.caller), *caller, "call {n}: caller");
        assert_eq!(
            num(&c.callee),
            *callee,
            "call {n}: callee (after transfers)"
        );
        assert_eq!(
            c.transfers.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
            *transfers,
            "call {n}: transfers"
        );
        assert_eq!(c.legs.len(), *legs, "call {n}: legs");
        assert_eq!(c.outcome.map(|o| o.as_str()), Some("answered"), "call {n}");
        assert_eq!(c.hangup_cause, Some(16), "call {n}");
        assert_eq!(c.direction, Direction::Internal, "call {n}");
        assert!(
            c.legs.iter().all(|l| l.hangup_cause == Some(16)),
            "call {n}: every leg ends Normal Clearing"
        );
    }
    // Local pairs are legs of the call that made them, never calls of their own.
    for (n, c) in h.iter().enumerate() {
        assert!(
            !c.legs[0].channel.starts_with("Local/"),
            "call {}: a Local channel is never a call's first leg",
            n + 1
        );
    }
    let with_local = h
        .iter()
        .filter(|c| c.legs.iter().any(|l| l.channel.starts_with("Local/")))
        .count();
    assert_eq!(
        with_local, 4,
        "the four Atxfer calls carry their Local pair"
    );
    // The REFER target (1003) moved into the first call and also ended the second.
    let target = &h[10].legs[2].uniqueid;
    assert!(h[11].legs.iter().any(|l| &l.uniqueid == target));
    r.running.stop().await;
}

#[actix_rt::test]
async fn calls_hold_sees_every_hold_and_keeps_durations() {
    let r = replay("calls-hold").await;
    check_common(&r);
    let h = &r.history;
    assert_eq!(h.len(), 7);
    // (caller, callee, held while talking, talk seconds from the table)
    let expected = [
        ("1001", "1002", true, 6.0),
        ("1001", "1002", true, 10.5),
        ("1001", "1002", true, 4.5),
        ("1001", "1002", true, 8.0),
        ("1003", "610", false, 4.0),
        ("1003", "800", false, 5.5),
        ("1001", "01759605969", true, 4.0),
    ];
    for (i, (c, (caller, callee, held, talk))) in h.iter().zip(expected.iter()).enumerate() {
        let n = i + 1;
        assert_eq!(num(&c.caller), *caller, "call {n}: caller");
        assert_eq!(num(&c.callee), *callee, "call {n}: callee");
        assert_eq!(c.outcome.map(|o| o.as_str()), Some("answered"), "call {n}");
        assert_eq!(c.hangup_cause, Some(16), "call {n}");
        let states = r.changes.of_call(&c.id);
        let seen_hold = states
            .iter()
            .any(|s| s.on_hold && s.state == CallState::OnHold);
        assert_eq!(seen_hold, *held, "call {n}: hold published");
        if *held {
            assert!(
                states
                    .iter()
                    .any(|s| !s.on_hold && s.state == CallState::Bridged),
                "call {n}: talking (bridged) was published too"
            );
        }
        if n == 7 {
            // The far end hung up during the hold; the talk time runs 3-5 s.
            assert!((3.0..=5.1).contains(&c.talk_secs), "call 7 talk");
        } else {
            assert!(
                (c.talk_secs - talk).abs() < 0.1,
                "call {n}: talk {}",
                c.talk_secs
            );
        }
    }
    // Call 2: hold, unhold, hold, unhold by the callee → two OnHold spells.
    let spells = r
        .changes
        .of_call(&h[1].id)
        .windows(2)
        .filter(|w| !w[0].on_hold && w[1].on_hold)
        .count();
    assert_eq!(spells, 2, "call 2 was put on hold twice");
    assert_eq!(h[6].direction, Direction::Outbound);
    r.running.stop().await;
}

/// The 50 originated Local calls of calls-local (Asterisk 22) or calls-local-ast20
/// (Asterisk 20): one call each with its Local pair(s), as (caller, callee, legs).
async fn local_calls(scenario: &str) -> Vec<(String, String, usize, String)> {
    let r = replay(scenario).await;
    check_common(&r);
    assert_eq!(r.history.len(), 50, "{scenario}: 50 originated calls");
    let mut shapes = Vec::new();
    for c in &r.history {
        assert_eq!(
            c.outcome.map(|o| o.as_str()),
            Some("answered"),
            "{scenario} {}",
            c.id
        );
        assert_eq!(c.hangup_cause, Some(16), "{scenario} {}", c.id);
        assert!(c.legs.iter().all(|l| l.channel.starts_with("Local/")));
        // Wait(RAND(1,3)) after the answer (plus the dialer's half second).
        assert!(
            (0.99..4.0).contains(&c.talk_secs),
            "{scenario} {}: talk {}",
            c.id,
            c.talk_secs
        );
        shapes.push((
            num(&c.caller).to_string(),
            num(&c.callee).to_string(),
            c.legs.len(),
            format!("{:?}", c.direction),
        ));
    }
    shapes.sort_by_key(|s| s.1.parse::<u32>().unwrap_or(0));
    for (i, (caller, callee, legs, _)) in shapes.iter().enumerate() {
        let i = i as u32 + 1;
        assert_eq!(
            caller,
            &format!("{}", 5000 + i),
            "{scenario}: CallerID Load {i}"
        );
        assert_eq!(callee, &i.to_string());
        // Odd i: the originated Local dials another Local pair (dialer) → 4 legs.
        assert_eq!(*legs, if i % 2 == 1 { 4 } else { 2 }, "{scenario} call {i}");
    }
    r.running.stop().await;
    shapes
}

#[actix_rt::test]
async fn calls_local_on_asterisk_22_and_20_are_treated_alike() {
    let ast22 = local_calls("calls-local").await;
    let ast20 = local_calls("calls-local-ast20").await;
    assert_eq!(ast22, ast20);
}

#[actix_rt::test]
async fn calls_sip_records_every_call_with_its_parties() {
    let r = replay_with("calls-sip", "plain", ReplayOptions::default()).await;
    check_common(&r);
    let mut pairs: Vec<(String, String)> = r
        .history
        .iter()
        .map(|c| (num(&c.caller).to_string(), num(&c.callee).to_string()))
        .collect();
    pairs.sort();
    let mut expected: Vec<(String, String)> = [
        ("1001", "1002"),
        ("1003", "1004"),
        ("1005", "1006"),
        ("1007", "1008"),
        ("1009", "1010"),
        ("1002", "600"),
        ("1004", "700"),
        ("1006", "1001"),
        ("1010", "1003"),
        // Click-to-dial: PJSIP/1002 -> 1001, PJSIP/1004 -> 1003, PJSIP/1006 -> 1005.
        ("1002", "1001"),
        ("1004", "1003"),
        ("1006", "1005"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    expected.sort();
    assert_eq!(pairs, expected, "1008 -> 9999 never made a channel");
    for c in &r.history {
        assert_eq!(c.outcome.map(|o| o.as_str()), Some("answered"), "{}", c.id);
        assert_eq!(c.direction, Direction::Internal, "{}", c.id);
    }
    let queued: Vec<&Call> = r.history.iter().filter(|c| c.queue.is_some()).collect();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].queue.as_deref(), Some("support"));
    assert_eq!(num(&queued[0].caller), "1004");
    r.running.stop().await;
}

#[actix_rt::test]
async fn devstate_ends_with_the_last_extension_status_of_each_custom_device() {
    let r = replay("devstate").await;
    let t = check_common(&r);
    assert!(r.history.is_empty());
    assert_eq!(t.last_status.len(), 200, "200 Custom hints");
    let live = r.running.live_extensions();
    let custom: HashSet<&String> = live.keys().filter(|k| k.starts_with("2")).collect();
    assert_eq!(custom.len(), 200);
    // The cycle ended NOT_INUSE for every device; 2001 was flipped INUSE and back.
    assert!(t.last_status.values().all(|s| *s == 0));
    let e = &live["2001"];
    assert_eq!(e.state, switchboard::model::ExtensionState::Idle);
    assert_eq!(e.device_state.as_deref(), Some("NOT_INUSE"));
    // Every real change was stored as a transition: 2001 went through its cycle.
    let history = r
        .running
        .service
        .state
        .store
        .extension_history("default", "2001", None, None, 100)
        .expect("history");
    let states: HashSet<&str> = history.iter().map(|h| h.state.as_str()).collect();
    for s in ["idle", "inUse", "ringing", "onHold", "unavailable"] {
        assert!(states.contains(s), "2001 was {s} at some point: {states:?}");
    }
    r.running.stop().await;
}

#[actix_rt::test]
async fn queries_capture_leaves_the_states_it_reported_and_its_four_calls() {
    let r = replay_with(
        "queries",
        "md5",
        ReplayOptions {
            hints_error: true,
            ..ReplayOptions::default()
        },
    )
    .await;
    let t = check_common(&r);
    assert_eq!(r.history.len(), 4, "4 originated query calls");
    assert!(t.last_status.len() >= 200);
    let live = r.running.live_extensions();
    assert_eq!(
        live["1001"].status.0, 4,
        "1001 Unavailable, as ExtensionState said"
    );
    assert_eq!(live["2150"].status.0, 0);
    r.running.stop().await;
}
