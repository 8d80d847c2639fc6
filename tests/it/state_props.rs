//! Property tests of the event-to-state step: random sequences of call events (any
//! order, duplicates, unknown calls, timestamps going backwards) through the same
//! decisions the router makes ([`admit`], [`RecentlyEnded`], [`call_key`]) and the
//! call model. Whatever the sequence: no panic, only a `Newchannel` starts a call,
//! a call that ended never comes back and never changes again, and every duration
//! is non-negative (talk time never more than the whole call).

use std::collections::{HashMap, HashSet};

use chrono::{TimeZone, Utc};
use proptest::prelude::*;
use switchboard::ami::{Event, RawMessage};
use switchboard::model::CallState;
use switchboard::state::admit::{admit, Admission, RecentlyEnded};
use switchboard::state::call::{CallEffect, CallModel};
use switchboard::state::route::{call_key, route, Route};

const NAMES: &[&str] = &[
    "Newchannel",
    "Newstate",
    "NewCallerid",
    "DialBegin",
    "DialState",
    "DialEnd",
    "BridgeEnter",
    "BridgeLeave",
    "Hold",
    "Unhold",
    "BlindTransfer",
    "AttendedTransfer",
    "QueueCallerJoin",
    "HangupRequest",
    "Hangup",
];
const STATES: &[&str] = &["Down", "Ring", "Ringing", "Up", "Busy"];
const DIAL: &[&str] = &[
    "ANSWER",
    "BUSY",
    "NOANSWER",
    "CANCEL",
    "CHANUNAVAIL",
    "RINGING",
    "",
];

/// One generated event: indices into the tables above and small id spaces, so
/// that calls, channels and repeats collide often.
#[derive(Debug, Clone)]
struct Spec {
    name: usize,
    call: u8,
    chan: u8,
    dest: u8,
    state: usize,
    dial: usize,
    cause: u8,
    ts: u32,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        0..NAMES.len(),
        0u8..4,
        0u8..6,
        0u8..6,
        0..STATES.len(),
        0..DIAL.len(),
        0u8..130,
        0u32..5_000_000,
    )
        .prop_map(|(name, call, chan, dest, state, dial, cause, ts)| Spec {
            name,
            call,
            chan,
            dest,
            state,
            dial,
            cause,
            ts,
        })
}

fn event(s: &Spec) -> Event {
    let linkedid = format!("1700000000.{}", s.call);
    let uid = format!("1700000000.{}{}", s.call, s.chan);
    let dest_uid = format!("1700000000.{}{}", s.call, s.dest);
    let ts = format!(
        "{}.{:06}",
        1_700_000_000 + s.ts / 1_000_000,
        s.ts % 1_000_000
    );
    let chan = format!("PJSIP/10{:02}-0000{:04}", s.chan, s.call);
    let dest_chan = format!("PJSIP/10{:02}-0000{:04}", s.dest, s.call);
    let cause = s.cause.to_string();
    let pairs: Vec<(&str, &str)> = vec![
        ("Event", NAMES[s.name]),
        ("Timestamp", &ts),
        ("Channel", &chan),
        ("ChannelStateDesc", STATES[s.state]),
        ("CallerIDNum", "1001"),
        ("Exten", "2002"),
        ("Uniqueid", &uid),
        ("Linkedid", &linkedid),
        ("DestChannel", &dest_chan),
        ("DestUniqueid", &dest_uid),
        ("DestLinkedid", &linkedid),
        ("DestCallerIDNum", "2002"),
        ("DialStatus", DIAL[s.dial]),
        ("Result", "Success"),
        ("Extension", "3003"),
        ("Queue", "support"),
        ("Cause", &cause),
    ];
    Event::from_raw(RawMessage::from_pairs(&pairs))
}

#[track_caller]
fn check_durations(c: &switchboard::model::Call) {
    assert!(c.duration_secs >= 0.0, "{c:?}");
    assert!(c.talk_secs >= 0.0, "{c:?}");
    assert!(c.talk_secs <= c.duration_secs + 1e-6, "{c:?}");
    if let Some(end) = c.ended_at {
        assert!(end >= c.started_at, "{c:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn random_event_sequences_keep_the_call_invariants(specs in prop::collection::vec(spec(), 1..120)) {
        let now = Utc.timestamp_opt(1_700_000_100, 0).single().expect("a time");
        let mut live: HashMap<String, CallModel> = HashMap::new();
        let mut recent = RecentlyEnded::default();
        let mut ended: HashMap<String, CallModel> = HashMap::new();
        let mut created_by: HashSet<String> = HashSet::new();
        for s in &specs {
            let ev = event(s);
            let Route::Call(key) = route(&ev) else {
                panic!("every generated event is a call event: {ev:?}");
            };
            prop_assert_eq!(Some(key), call_key(&ev));
            let key = key.to_string();
            if !live.contains_key(&key) {
                match admit(&ev, &key, &recent) {
                    Admission::Start => {
                        prop_assert_eq!(ev.name(), "Newchannel");
                        prop_assert!(!ended.contains_key(&key), "an ended call started again");
                        created_by.insert(key.clone());
                        live.insert(key.clone(), CallModel::new("pbx", &key, now));
                    }
                    Admission::Late => {
                        prop_assert!(ended.contains_key(&key));
                        // An ended call ignores it too, and does not change.
                        let model = ended.get_mut(&key).expect("ended model");
                        let before = model.call().clone();
                        prop_assert_eq!(model.apply(&ev, now), CallEffect::None);
                        prop_assert_eq!(model.call(), &before);
                        continue;
                    }
                    Admission::Orphan => {
                        prop_assert!(ev.name() != "Newchannel");
                        prop_assert!(!ended.contains_key(&key));
                        continue;
                    }
                }
            }
            let model = live.get_mut(&key).expect("live model");
            let change = model.apply(&ev, now);
            let call = model.call().clone();
            check_durations(&call);
            prop_assert!(model.live_channels() <= call.legs.len());
            if change == CallEffect::Ended {
                prop_assert!(model.is_ended());
                prop_assert_eq!(call.state, CallState::Ended);
                prop_assert!(call.ended_at.is_some() && call.outcome.is_some());
                prop_assert!(call.legs.iter().all(|l| l.ended_at.is_some()));
                let model = live.remove(&key).expect("live model");
                recent.insert(&key);
                ended.insert(key, model);
            } else {
                prop_assert!(!model.is_ended());
                prop_assert!(call.ended_at.is_none());
                check_durations(&model.snapshot(now));
            }
        }
        // Every call was started by a Newchannel; closing what is left (a timeout or
        // a lost connection) ends it with sane durations too.
        for (id, mut model) in live {
            prop_assert!(created_by.contains(&id));
            let closed = model.close(switchboard::model::CallOutcome::TimedOut, now);
            check_durations(&closed);
            prop_assert_eq!(closed.state, CallState::Ended);
        }
    }
}
