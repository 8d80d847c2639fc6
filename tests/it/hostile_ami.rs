//! Hostile input from the AMI side: the whole service against the simulator through
//! a real TCP proxy ([`crate::common::mangle::Mangler`]) that injects garbage, an endless
//! line, a huge message, a million headers, invalid UTF-8, a slow drip, duplicated
//! and reordered events, and events of calls that do not exist or already ended.
//!
//! Each test checks the service stays connected (the codec skips what breaks its
//! limits, with a logged error and a metric, and needs no reconnect), and that
//! nothing good is lost: afterwards the live calls and extension states equal the
//! simulator's truth, and the store holds exactly the calls the simulator finished,
//! with the same outcomes (so no phantom call was made or stored).

use std::time::Duration;

use crate::common::live_truth::{history_mismatch, mismatch, wait_matches};
use crate::common::mangle::{Cmd, Mangler};
use crate::common::pipeline::{quiet_sim as sim, start, Running, Setup};
use crate::common::service::{capture_logs, captured_logs};
use crate::common::wait::{wait_until, DEADLINE};
use bytes::Bytes;
use switchboard::model::AmiConnectionState;
use switchboard::sim::SimHandle;

const PBX: &str = "default";

/// Simulator, proxy in front of it, service behind the proxy, connected and in sync.
async fn setup(seed: u64, extensions: u32) -> (SimHandle, Mangler, Running) {
    capture_logs();
    let sim = sim(seed, extensions);
    let proxy = Mangler::start(sim.addr());
    let r = start(Setup::new(proxy.addr())).await.expect("SQLite");
    r.wait_state(AmiConnectionState::Connected).await;
    wait_matches(&r, &sim).await;
    (sim, proxy, r)
}

fn inject(proxy: &Mangler, bytes: impl Into<Vec<u8>>) {
    proxy.send(Cmd::Inject {
        bytes: Bytes::from(bytes.into()),
        times: 1,
    });
}

fn malformed(r: &Running) -> u64 {
    r.service
        .state
        .metrics
        .malformed
        .with_label_values(&[PBX])
        .get()
}

fn dropped(r: &Running, reason: &str) -> u64 {
    r.service
        .state
        .metrics
        .call_events_dropped
        .with_label_values(&[PBX, reason])
        .get()
}

/// Runs a burst of `n` generated events, waits until it is generated and routed.
async fn burst(sim: &SimHandle, r: &Running, n: u64) {
    let before = sim.stats().events;
    let routed = r.router().await.routed;
    sim.burst(n);
    wait_until("the burst to be generated", DEADLINE, || async {
        sim.stats().burst_pending == 0
    })
    .await;
    let sent = sim.stats().events - before;
    assert!(sent >= n, "{sent} events generated");
    r.settle(routed + sent).await;
}

/// Waits until the live view and the store both equal the simulator's truth.
async fn assert_nothing_lost(r: &Running, sim: &SimHandle) {
    wait_matches(r, sim).await;
    wait_until(
        "the store to hold every finished call",
        DEADLINE,
        || async {
            r.flush().await;
            history_mismatch(r, &sim.snapshot()).is_none()
        },
    )
    .await;
    let truth = sim.snapshot();
    assert_eq!(mismatch(r, &truth), None);
    assert_eq!(history_mismatch(r, &truth), None);
}

fn logged(what: &str) -> bool {
    captured_logs().iter().any(|l| l.contains(what))
}

#[actix_rt::test]
async fn garbage_endless_lines_huge_messages_and_header_floods_cost_nothing() {
    let (sim, proxy, r) = setup(11, 30).await;
    let malformed_before = malformed(&r);
    sim.burst(6_000);
    // 1. Garbage that is no AMI message at all.
    inject(
        &proxy,
        b"\x00\x01\x02garbage \xff\xfe with no colon\r\n\r\n".to_vec(),
    );
    // 2. 64 KB of binary noise (line breaks included), then a blank line.
    let mut noise: Vec<u8> = (0..65_536u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    noise.extend_from_slice(b"\r\n\r\n");
    inject(&proxy, noise);
    // 3. An endless line: 16 MB with no line break, written 64 KB at a time.
    proxy.send(Cmd::Inject {
        bytes: Bytes::from(vec![b'A'; 64 * 1024]),
        times: 256,
    });
    inject(&proxy, b"\r\n\r\n".to_vec());
    // 4. A huge message: 4 MB of 1 KB headers.
    let mut huge = b"Event: Huge\r\n".to_vec();
    for i in 0..4_100 {
        huge.extend_from_slice(format!("X-Pad-{i}: {}\r\n", "p".repeat(1_000)).as_bytes());
    }
    huge.extend_from_slice(b"\r\n");
    inject(&proxy, huge);
    // 5. A million headers (6 MB) in one message.
    inject(&proxy, b"Event: Many\r\n".to_vec());
    proxy.send(Cmd::Inject {
        bytes: Bytes::from(b"H: v\r\n".repeat(10_000)),
        times: 100,
    });
    inject(&proxy, b"\r\n".to_vec());
    // 6. Invalid UTF-8 inside an otherwise well-formed event.
    inject(
        &proxy,
        b"Event: UserEvent\r\nUserEvent: \xff\xfe\xfd\r\nData: caf\xc3\x28\r\n\r\n".to_vec(),
    );
    wait_until("every injection written", DEADLINE, || async {
        proxy.done() >= 9
    })
    .await;
    assert!(
        proxy
            .stats()
            .injected_bytes
            .load(std::sync::atomic::Ordering::Relaxed)
            > 25 << 20
    );
    wait_until("the burst to be generated", DEADLINE, || async {
        sim.stats().burst_pending == 0
    })
    .await;
    r.quiesce().await;

    assert_nothing_lost(&r, &sim).await;
    // Each kind of damage was reported, counted, and cost no reconnect.
    let bad = malformed(&r) - malformed_before;
    assert!(bad >= 5, "{bad} malformed messages counted");
    for what in [
        "malformed input skipped: line longer than 1048576 bytes",
        "malformed input skipped: message larger than 1048576 bytes",
        "malformed input skipped: message has more than 4096 headers",
        "unclassifiable message",
    ] {
        assert!(logged(what), "no log line says {what:?}");
    }
    assert_eq!(r.connection().state, AmiConnectionState::Connected);
    assert_eq!(
        r.connection().reconnects,
        0,
        "the codec resynchronised alone"
    );
    assert_eq!(
        proxy
            .stats()
            .connections
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    // The service goes on following calls after all that.
    let call = sim.place_call("1001", "1002");
    sim.answer_call(&call);
    wait_matches(&r, &sim).await;
    sim.hangup_call(&call);
    assert_nothing_lost(&r, &sim).await;
    r.stop().await;
    proxy.stop();
    sim.stop();
}

/// A 70 KiB value, different at every position, as a real PBX may send one.
fn long_value(seed: u64) -> String {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=";
    (0..70 * 1024u64)
        .map(|i| alphabet[((i + seed).wrapping_mul(2_654_435_761) >> 9) as usize % 65] as char)
        .collect()
}

fn events_counted(r: &Running, name: &str) -> u64 {
    r.service
        .state
        .metrics
        .events
        .with_label_values(&[PBX, name])
        .get()
}

#[actix_rt::test]
async fn long_user_event_and_var_set_values_between_call_events_lose_nothing() {
    let (sim, proxy, r) = setup(17, 20).await;
    let malformed_before = malformed(&r);
    let user_events_before = events_counted(&r, "UserEvent");
    sim.burst(3_000);
    // Asterisk puts no limit on a value: 70 KiB arrive as they are, between the
    // simulator's call events, twice each.
    for seed in 0..2 {
        inject(
            &proxy,
            format!(
                "Event: UserEvent\r\nPrivilege: user,all\r\nUserEvent: Blob\r\nData: {}\r\n\r\n",
                long_value(seed)
            ),
        );
        inject(
            &proxy,
            format!(
                "Event: VarSet\r\nPrivilege: dialplan,all\r\nChannel: PJSIP/1001-0000ffff\r\n\
                 Uniqueid: 1700000000.99\r\nVariable: BLOB\r\nValue: {}\r\n\r\n",
                long_value(seed + 10)
            ),
        );
    }
    wait_until("the burst to be generated", DEADLINE, || async {
        sim.stats().burst_pending == 0
    })
    .await;
    // One more inside a call: after it starts, before it is answered.
    let call = sim.place_call("1001", "1002");
    inject(
        &proxy,
        format!(
            "Event: UserEvent\r\nPrivilege: user,all\r\nUserEvent: Blob\r\nData: {}\r\n\r\n",
            long_value(5)
        ),
    );
    wait_until("every injection written", DEADLINE, || async {
        proxy.done() >= 5
    })
    .await;
    sim.answer_call(&call);
    sim.hangup_call(&call);
    r.quiesce().await;

    assert_nothing_lost(&r, &sim).await;
    assert_eq!(malformed(&r), malformed_before, "no long value was refused");
    assert_eq!(events_counted(&r, "UserEvent") - user_events_before, 3);
    assert_eq!(r.connection().state, AmiConnectionState::Connected);
    assert_eq!(r.connection().reconnects, 0);
    assert_eq!(
        proxy
            .stats()
            .connections
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    r.stop().await;
    proxy.stop();
    sim.stop();
}

#[actix_rt::test]
async fn a_slow_drip_peer_is_followed_byte_by_byte() {
    let (sim, proxy, r) = setup(12, 10).await;
    proxy.send(Cmd::Drip {
        messages: 6,
        gap: Duration::from_millis(1),
    });
    wait_until("the drip to be armed", DEADLINE, || async {
        proxy.done() >= 1
    })
    .await;
    let call = sim.place_call("1001", "1002");
    sim.answer_call(&call);
    wait_until("the drip to be done", DEADLINE, || async {
        proxy
            .stats()
            .drips_finished
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 1
    })
    .await;
    let dripped = proxy
        .stats()
        .dripped
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(dripped > 300, "only {dripped} bytes dripped");
    wait_matches(&r, &sim).await;
    sim.hangup_call(&call);
    assert_nothing_lost(&r, &sim).await;
    assert_eq!(r.history().len(), 1);
    assert_eq!(r.connection().reconnects, 0);
    assert_eq!(malformed(&r), 0, "a slow peer is not a broken one");
    r.stop().await;
    proxy.stop();
    sim.stop();
}

#[actix_rt::test]
async fn duplicated_and_reordered_events_end_in_the_simulators_truth() {
    let (sim, proxy, r) = setup(13, 30).await;
    proxy.send(Cmd::Duplicate { events: 8_000 });
    wait_until("duplication on", DEADLINE, || async { proxy.done() >= 1 }).await;
    burst(&sim, &r, 5_000).await;
    assert_nothing_lost(&r, &sim).await;
    let duplicated = proxy
        .stats()
        .duplicated
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(duplicated >= 4_000, "{duplicated} events duplicated");

    proxy.send(Cmd::Reorder { events: 8_000 });
    wait_until("reordering on", DEADLINE, || async { proxy.done() >= 2 }).await;
    burst(&sim, &r, 5_000).await;
    assert_nothing_lost(&r, &sim).await;
    let swapped = proxy
        .stats()
        .swapped
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(swapped >= 500, "{swapped} pairs swapped");
    let truth = sim.snapshot();
    assert!(truth.finished_total > 50, "a real burst: {truth:?}");
    assert_eq!(r.connection().reconnects, 0);
    r.stop().await;
    proxy.stop();
    sim.stop();
}

fn event(pairs: &[(&str, &str)]) -> Vec<u8> {
    let mut out = String::new();
    for (k, v) in pairs {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    out.into_bytes()
}

#[actix_rt::test]
async fn events_of_unknown_or_ended_calls_make_no_call() {
    let (sim, proxy, r) = setup(14, 10).await;
    let done = sim.place_call("1001", "1002");
    sim.answer_call(&done);
    wait_matches(&r, &sim).await;
    sim.hangup_call(&done);
    let live = sim.place_call("1003", "1004");
    assert_nothing_lost(&r, &sim).await;
    let ended = r.history();
    assert_eq!(ended.len(), 1);
    let leg = ended[0].legs[0].clone();
    let (late_before, orphan_before) = (dropped(&r, "late"), dropped(&r, "orphan"));

    // A lone Hangup, and mid-call events, of calls that never existed.
    let ghost = [("Linkedid", "ghost-1"), ("Uniqueid", "ghost-1")];
    let chan = ("Channel", "PJSIP/1009-0000ffff");
    for name in ["Hangup", "Newstate", "Hold", "BridgeEnter", "DialEnd"] {
        let mut pairs = vec![("Event", name), chan, ghost[0], ghost[1]];
        pairs.extend([
            ("ChannelStateDesc", "Up"),
            ("Cause", "16"),
            ("DialStatus", "ANSWER"),
        ]);
        inject(&proxy, event(&pairs));
    }
    // The ended call's events once more, as a duplicating or lagging PBX would send.
    for name in ["Newchannel", "Newstate", "Hangup"] {
        inject(
            &proxy,
            event(&[
                ("Event", name),
                ("Channel", &leg.channel),
                ("ChannelStateDesc", "Up"),
                ("CallerIDNum", "1001"),
                ("Uniqueid", &leg.uniqueid),
                ("Linkedid", &ended[0].id),
                ("Cause", "16"),
            ]),
        );
    }
    wait_until("every injection written", DEADLINE, || async {
        proxy.done() >= 8
    })
    .await;
    wait_until("the router to drop them", DEADLINE, || async {
        let s = r.router().await;
        s.orphaned >= 5 && s.late >= 3
    })
    .await;
    r.quiesce().await;

    assert_eq!(dropped(&r, "orphan") - orphan_before, 5);
    assert_eq!(dropped(&r, "late") - late_before, 3);
    assert_nothing_lost(&r, &sim).await;
    assert_eq!(
        r.history().len(),
        1,
        "no ghost and no resurrected call stored"
    );
    let calls = r.live_calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].id, live);
    // The real call still ends normally.
    sim.hangup_call(&live);
    assert_nothing_lost(&r, &sim).await;
    assert_eq!(r.history().len(), 2);
    r.stop().await;
    proxy.stop();
    sim.stop();
}
