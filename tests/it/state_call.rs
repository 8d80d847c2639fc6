//! The call model on its own (no actors, no IO), for rules the captures cannot show
//! directly: a PBX clock ahead of ours, and Timestamps kept to the microsecond.

use chrono::{Duration, TimeZone, Utc};
use switchboard::ami::{Event, RawMessage};
use switchboard::state::call::{CallEffect, CallModel};

fn ev(pairs: &[(&str, &str)]) -> Event {
    Event::from_raw(RawMessage::from_pairs(pairs))
}

fn channel(event: &str, ts: &str, chan: &str, uid: &str, extra: &[(&str, &str)]) -> Event {
    let mut pairs = vec![
        ("Event", event),
        ("Timestamp", ts),
        ("Channel", chan),
        ("ChannelStateDesc", "Ring"),
        ("CallerIDNum", "1001"),
        ("Uniqueid", uid),
        ("Linkedid", "pbx-1.1"),
    ];
    pairs.extend_from_slice(extra);
    ev(&pairs)
}

#[test]
fn a_call_starts_at_its_first_channel_even_when_the_pbx_clock_is_ahead() {
    // Our clock says 10:00:00; the PBX stamps 10:30:00.
    let now = Utc
        .with_ymd_and_hms(2026, 1, 5, 10, 0, 0)
        .single()
        .expect("date");
    let pbx_start = now + Duration::minutes(30);
    let ts = |secs: f64| format!("{:.6}", pbx_start.timestamp() as f64 + secs);
    let mut call = CallModel::new("default", "pbx-1.1", now);
    let first = channel("Newchannel", &ts(0.25), "PJSIP/1001-1", "pbx-1.1", &[]);
    assert_eq!(call.apply(&first, now), CallEffect::Updated);
    let hangup = channel(
        "Hangup",
        &ts(4.75),
        "PJSIP/1001-1",
        "pbx-1.1",
        &[("Cause", "16")],
    );
    assert_eq!(call.apply(&hangup, now), CallEffect::Ended);
    let c = call.call();
    assert_eq!(c.started_at, pbx_start + Duration::milliseconds(250));
    assert_eq!(c.duration_secs, 4.5, "PBX time to PBX time, not our clock");
}

#[test]
fn timestamps_keep_asterisk_microseconds() {
    let now = Utc::now();
    let mut call = CallModel::new("default", "pbx-1.1", now);
    // An f64 cannot hold 1795315581.849954 exactly; the microseconds survive anyway.
    call.apply(
        &channel(
            "Newchannel",
            "1795315581.849954",
            "PJSIP/1001-1",
            "pbx-1.1",
            &[],
        ),
        now,
    );
    assert_eq!(
        call.call().started_at.timestamp_micros(),
        1_795_315_581_849_954
    );
}

#[test]
fn a_consultation_that_is_cancelled_leaves_the_original_callee() {
    let now = Utc::now();
    let mut call = CallModel::new("default", "l", now);
    let e = |pairs: &[(&str, &str)]| {
        let mut v = pairs.to_vec();
        v.push(("Linkedid", "l"));
        ev(&v)
    };
    let nc = |chan: &str, uid: &str, num: &str| {
        e(&[
            ("Event", "Newchannel"),
            ("Channel", chan),
            ("Uniqueid", uid),
            ("CallerIDNum", num),
            ("Exten", "1002"),
        ])
    };
    let answer = |chan: &str, dest: &str| {
        e(&[
            ("Event", "DialEnd"),
            ("Channel", chan),
            ("DialStatus", "ANSWER"),
            ("DestCallerIDNum", dest),
        ])
    };
    call.apply(&nc("PJSIP/1001-1", "a", "1001"), now);
    call.apply(&nc("PJSIP/1002-2", "b", "1002"), now);
    call.apply(&answer("PJSIP/1001-1", "1002"), now);
    call.apply(&e(&[("Event", "Hold"), ("Uniqueid", "b")]), now);
    call.apply(&answer("Local/1003@from-internal-1;2", "1003"), now);
    assert_eq!(
        call.call().callee.number.as_deref(),
        Some("1002"),
        "consulting"
    );
    call.apply(&e(&[("Event", "Unhold"), ("Uniqueid", "b")]), now);
    assert_eq!(
        call.call().callee.number.as_deref(),
        Some("1002"),
        "cancelled"
    );
    // Had it completed, the consulted party would have become the callee.
    call.apply(&e(&[("Event", "Hold"), ("Uniqueid", "b")]), now);
    call.apply(&answer("Local/1003@from-internal-2;2", "1003"), now);
    call.apply(
        &e(&[
            ("Event", "AttendedTransfer"),
            ("Result", "Success"),
            ("TransfereeLinkedid", "l"),
        ]),
        now,
    );
    assert_eq!(call.call().callee.number.as_deref(), Some("1003"));
    assert_eq!(
        call.call().transfers,
        vec![switchboard::model::TransferKind::Attended]
    );
}

/// After a gap (a reconnect, or another instance taking over) the PBX lists a call
/// whose callee answered meanwhile: no leg is new, but the call changed, so the
/// resync reports it (and the tracker publishes it).
#[test]
fn a_resync_reports_a_call_answered_during_the_gap() {
    let now = Utc::now();
    let mut call = CallModel::new("default", "pbx-1.1", now);
    let caller = channel("Newchannel", "1795315581.0", "PJSIP/1001-1", "pbx-1.1", &[]);
    call.apply(&caller, now);
    let callee = channel(
        "Newchannel",
        "1795315581.1",
        "PJSIP/1002-2",
        "pbx-1.2",
        &[("CallerIDNum", "1002")],
    );
    call.apply(&callee, now);
    let before = call.call().state;
    let listed = |chan: &str, uid: &str| {
        ev(&[
            ("Event", "CoreShowChannel"),
            ("Channel", chan),
            ("Uniqueid", uid),
            ("Linkedid", "pbx-1.1"),
            ("ChannelStateDesc", "Up"),
            ("BridgeId", "bridge-1"),
            ("Duration", "00:00:05"),
        ])
    };
    let items = [
        listed("PJSIP/1001-1", "pbx-1.1"),
        listed("PJSIP/1002-2", "pbx-1.2"),
    ];
    assert_eq!(call.resync(&items, now), CallEffect::Updated);
    assert_ne!(call.call().state, before, "the call's state moved on");
    assert!(call.call().answered_at.is_some(), "answered during the gap");
    assert_eq!(
        call.resync(&items, now),
        CallEffect::None,
        "nothing new the second time"
    );
}

/// A call first seen in the PBX's channel list while its callee is being rung (the
/// service logged in, or took the PBX over, mid-call) is ringing, as the events
/// would have said — not dialing until some later event, which may never come.
#[test]
fn a_call_adopted_while_its_callee_rings_is_ringing() {
    use switchboard::model::CallState;
    let now = Utc::now();
    let mut call = CallModel::new("default", "pbx-1.1", now);
    let listed = |chan: &str, uid: &str, state: &str| {
        ev(&[
            ("Event", "CoreShowChannel"),
            ("Channel", chan),
            ("Uniqueid", uid),
            ("Linkedid", "pbx-1.1"),
            ("ChannelStateDesc", state),
            ("Duration", "00:00:03"),
        ])
    };
    let caller_only = [listed("PJSIP/1001-1", "pbx-1.1", "Ring")];
    assert_eq!(call.resync(&caller_only, now), CallEffect::Updated);
    assert_eq!(call.call().state, CallState::Dialing, "nobody rings yet");
    let items = [
        listed("PJSIP/1001-1", "pbx-1.1", "Ring"),
        listed("PJSIP/1002-2", "pbx-1.2", "Ringing"),
    ];
    assert_eq!(call.resync(&items, now), CallEffect::Updated);
    assert_eq!(call.call().state, CallState::Ringing);
    assert!(call.call().answered_at.is_none());
}

/// An outbound call first seen in the PBX's channel list (the service logged in
/// mid-call) is stored without the dialled number that makes it outbound; the
/// instance that restores it (a restart, or a take-over of the PBX) resynchronises
/// it from the same list and must still find it outbound, not internal.
#[test]
fn a_restored_outbound_call_stays_outbound_through_the_resync() {
    use switchboard::model::Direction;
    let now = Utc::now();
    let listed = |chan: &str, uid: &str, state: &str, caller: &str| {
        ev(&[
            ("Event", "CoreShowChannel"),
            ("Channel", chan),
            ("ChannelStateDesc", state),
            ("CallerIDNum", caller),
            ("ConnectedLineNum", "<unknown>"),
            ("Exten", "0301234567"),
            ("Uniqueid", uid),
            ("Linkedid", "pbx-1.1"),
            ("Duration", "00:00:03"),
        ])
    };
    let items = [
        listed("PJSIP/1001-1", "pbx-1.1", "Ring", "1001"),
        listed("PJSIP/trunk-2", "pbx-1.2", "Ringing", "0301234567"),
    ];
    let mut adopted = CallModel::new("default", "pbx-1.1", now);
    assert_eq!(adopted.resync(&items, now), CallEffect::Updated);
    assert_eq!(adopted.call().direction, Direction::Outbound, "adopted");

    let mut restored = CallModel::from_call(adopted.call().clone());
    assert_eq!(restored.call().direction, Direction::Outbound, "as stored");
    assert_eq!(
        restored.resync(&items, now),
        CallEffect::None,
        "nothing moved on the PBX, so nothing is published"
    );
    assert_eq!(
        restored.call().direction,
        Direction::Outbound,
        "after the restored call's resync"
    );
}
