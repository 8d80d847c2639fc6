//! PBX faults against the whole service over real TCP, the simulator as the PBX:
//! it dies with calls in flight and comes back, restarts with a `Shutdown` event,
//! announces a shutdown on a socket it keeps open, freezes without closing the
//! socket, and refuses the login for a while.
//!
//! For each fault: switchboard reconnects and resynchronises; `/api/health`
//! reported the outage (`degraded`, AMI not connected) and then `connected`; a
//! WebSocket subscriber received the `ami.connection` changes; and at the end the
//! API and the store hold exactly the calls and extension states the PBX has.
//! (`tests/pipeline_connection.rs` covers the connection actor's own mechanics.)

use std::cell::RefCell;
use std::time::Duration;

use crate::common::health_recorder::HealthRecorder;
use crate::common::service::{Options, TestService};
use crate::common::truth::{assert_store_matches_pbx, wait_api_matches_pbx, View};
use crate::common::wait::{wait_until, DEADLINE};
use crate::common::ws_recorder::WsRecorder;
use serde_json::Value;
use switchboard::sim::{SimConfig, Simulator};

const EXTENSIONS: u32 = 20;

fn sim_config(system_name: &str) -> SimConfig {
    SimConfig {
        rate: 0.0,
        extensions: EXTENSIONS,
        system_name: system_name.to_string(),
        ..SimConfig::default()
    }
}

/// The service (HTTP included) against a quiet 20-extension simulator, with a
/// WebSocket subscriber and a health poller recording from the start.
async fn start(env: &[(&'static str, &str)]) -> (TestService, WsRecorder, HealthRecorder) {
    let mut opts = Options {
        sim: sim_config("simpbx"),
        ..Options::default()
    };
    for (k, v) in env {
        opts = opts.env(k, *v);
    }
    let ts = TestService::with(opts).await;
    let ws = WsRecorder::start(ts.ws("/ws").await);
    let health = HealthRecorder::start(ts.addr);
    wait_until("the health poller's first answer", DEADLINE, || async {
        health
            .samples()
            .first()
            .is_some_and(|s| s.ami == "connected")
    })
    .await;
    (ts, ws, health)
}

async fn health(ts: &TestService) -> Value {
    ts.get("/api/health").await.1["data"].clone()
}

/// Waits until `/api/health`'s data satisfies `ok`, and returns that answer (on
/// timeout, `wait_until` fails the test naming `what`).
async fn wait_health(ts: &TestService, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let last = RefCell::new(Value::Null);
    let (cell, ok) = (&last, &ok);
    wait_until(what, DEADLINE, || async move {
        let h = health(ts).await;
        let done = ok(&h);
        *cell.borrow_mut() = h;
        done
    })
    .await;
    last.into_inner()
}

/// Waits until health reports the AMI connection in one of `states` and the
/// service as a whole `degraded`.
async fn wait_health_down(ts: &TestService, states: &[&str]) -> Value {
    wait_health(ts, &format!("health to report {states:?}"), |h| {
        states.iter().any(|s| h["ami"]["state"] == *s) && h["status"] == "degraded"
    })
    .await
}

/// Waits until health reports the AMI connection `connected` after at least
/// `reconnects` reconnects, and the service `ok`.
async fn wait_health_connected(ts: &TestService, reconnects: u64) -> Value {
    wait_health(ts, "health to report connected again", |h| {
        h["ami"]["state"] == "connected"
            && h["ami"]["reconnects"].as_u64() >= Some(reconnects)
            && h["status"] == "ok"
    })
    .await
}

/// The WebSocket subscriber was told the connection went to one of `down` and then
/// came back: its last `ami.connection` message says `connected` after a reconnect.
async fn assert_ws_saw_outage(ws: &WsRecorder, down: &[&str]) -> Vec<Value> {
    wait_until(
        "the WebSocket to report the reconnection",
        DEADLINE,
        || async {
            ws.connection_messages()
                .last()
                .is_some_and(|m| m["data"]["state"] == "connected" && m["data"]["reconnects"] != 0)
        },
    )
    .await;
    let states = ws.connection_states();
    let first_down = states
        .iter()
        .position(|s| down.contains(&s.as_str()))
        .unwrap_or_else(|| panic!("no {down:?} among the WebSocket states {states:?}"));
    assert!(
        states[first_down..].iter().any(|s| s == "connected"),
        "connected after the outage: {states:?}"
    );
    ws.connection_messages()
}

/// Health went through one of `down` and ended `connected` (waits for the poller
/// to catch up, then stops it).
async fn assert_health_saw_outage(health: &HealthRecorder, down: &[&str]) {
    health
        .stop_when("the health poller to see connected", DEADLINE, |s| {
            s.ami == "connected"
        })
        .await;
    let states = health.ami_states();
    let first_down = states
        .iter()
        .position(|s| down.contains(&s.as_str()))
        .unwrap_or_else(|| panic!("health never reported {down:?}: {states:?}"));
    assert_eq!(
        states.last().map(String::as_str),
        Some("connected"),
        "{states:?}"
    );
    assert!(first_down > 0 && states[0] == "connected", "{states:?}");
    assert!(
        health
            .samples()
            .iter()
            .filter(|s| down.contains(&s.ami.as_str()))
            .all(|s| s.status == "degraded"),
        "degraded while the PBX was away: {:?}",
        health.samples()
    );
}

/// Finished calls as `GET /api/calls/history` lists them: id → outcome.
async fn history_outcomes(ts: &TestService) -> Vec<(String, String)> {
    let body = ts.get("/api/calls/history?pageSize=500").await.1;
    let mut out: Vec<(String, String)> = body["data"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            (
                c["id"].as_str().unwrap_or("").to_string(),
                c["outcome"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

/// Two calls in flight (one talking, one ringing) and an extension offline.
async fn calls_in_flight(ts: &TestService) -> (String, String) {
    let a = ts.sim.place_call("1001", "1002");
    ts.sim.answer_call(&a);
    let b = ts.sim.place_call("1003", "1004");
    ts.sim.set_extension_state("1010", 4);
    wait_api_matches_pbx(ts, "before the fault").await;
    assert_eq!(View::of_api(ts).await.calls.len(), 2);
    (a, b)
}

#[actix_rt::test]
async fn the_pbx_dies_mid_call_and_comes_back() {
    let (mut ts, ws, rec) = start(&[]).await;
    let (a, b) = calls_in_flight(&ts).await;
    assert_store_matches_pbx(&ts, "before the fault").await;

    let addr = ts.sim.addr();
    ts.sim.stop();
    let h = wait_health_down(&ts, &["backingOff", "connecting"]).await;
    assert!(h["ami"]["lastError"].is_string(), "{h}");
    // The last known state stays readable while the PBX is away.
    assert_eq!(View::of_api(&ts).await.calls.len(), 2);

    ts.sim = Simulator::spawn(addr, sim_config("simpbx2")).expect("the PBX comes back");
    wait_health_connected(&ts, 1).await;
    wait_api_matches_pbx(&ts, "after the PBX came back").await;
    assert!(
        View::of_api(&ts).await.calls.is_empty(),
        "calls died with it"
    );
    // Events flow on the new PBX.
    let c = ts.sim.place_call("1005", "1006");
    ts.sim.answer_call(&c);
    ts.sim.set_extension_state("1011", 4);
    wait_api_matches_pbx(&ts, "calls on the new PBX").await;
    assert_store_matches_pbx(&ts, "at the end").await;
    assert_eq!(
        history_outcomes(&ts).await,
        {
            let mut v = vec![
                (a, "lostWhileDisconnected".to_string()),
                (b, "lostWhileDisconnected".to_string()),
            ];
            v.sort();
            v
        },
        "the calls that vanished with the PBX are closed, not left open"
    );
    assert_ws_saw_outage(&ws, &["backingOff"]).await;
    assert_health_saw_outage(&rec, &["backingOff", "connecting"]).await;
    ts.stop().await;
}

#[actix_rt::test]
async fn a_pbx_restart_announced_by_shutdown_is_rejoined_with_a_fresh_state() {
    let (ts, ws, rec) = start(&[]).await;
    let (a, b) = calls_in_flight(&ts).await;
    let connections = ts.sim.stats().connections;

    ts.sim.restart();
    wait_health_connected(&ts, 1).await;
    // `connected` is reported at login; the restart is recognised a moment later,
    // from the new PBX's `FullyBooted` (its uptime and the `Shutdown` seen before).
    let h = wait_health(&ts, "health to report the PBX restarted", |h| {
        h["ami"]["pbxRestarted"] == true && h["ami"]["state"] == "connected"
    })
    .await;
    assert!(h["ami"]["pbxUptimeSecs"].is_u64(), "{h}");
    assert_eq!(
        ts.sim.stats().connections,
        connections + 1,
        "one new connection after the restart, no login attempted on the dying one"
    );
    wait_api_matches_pbx(&ts, "after the restart").await;
    assert!(View::of_api(&ts).await.calls.is_empty());
    let c = ts.sim.place_call("1007", "1008");
    wait_api_matches_pbx(&ts, "a call after the restart").await;
    assert_store_matches_pbx(&ts, "after the restart").await;
    let mut lost = history_outcomes(&ts).await;
    lost.retain(|(id, _)| *id == a || *id == b);
    assert_eq!(lost.len(), 2);
    assert!(lost.iter().all(|(_, o)| o == "lostWhileDisconnected"));
    assert!(View::of_api(&ts).await.calls.contains_key(&c));

    let messages = assert_ws_saw_outage(&ws, &["backingOff"]).await;
    let shutdown = messages
        .iter()
        .find(|m| m["data"]["state"] == "backingOff")
        .expect("a backingOff message");
    assert!(
        shutdown["data"]["lastError"]
            .as_str()
            .is_some_and(|e| e.contains("shutdown") || e.contains("shut down")),
        "the WebSocket says why: {shutdown}"
    );
    assert_health_saw_outage(&rec, &["backingOff", "connecting"]).await;
    ts.stop().await;
}

#[actix_rt::test]
async fn a_shutdown_event_on_a_socket_left_open_is_not_trusted() {
    let (ts, ws, rec) = start(&[]).await;
    let (a, _b) = calls_in_flight(&ts).await;
    assert_eq!(ts.sim.stats().connections, 1);
    // The PBX announces it is going away but keeps the socket open (Asterisk does
    // during `core restart gracefully`): nothing more may be sent on that socket.
    ts.sim.send_garbage(
        b"Event: Shutdown\r\nPrivilege: system,all\r\nShutdown: Cleanly\r\nRestart: True\r\n\r\n",
    );
    wait_until("a login on a new connection", DEADLINE, || async {
        let s = ts.sim.stats();
        s.connections == 2 && s.logins_ok == 2
    })
    .await;
    wait_until(
        "the announced-dead socket to be closed",
        DEADLINE,
        || async { ts.sim.stats().sessions == 1 },
    )
    .await;
    wait_health_connected(&ts, 1).await;
    // This PBX did not really restart: the resync keeps its calls.
    ts.sim.hangup_call(&a);
    ts.sim.set_extension_state("1012", 4);
    wait_api_matches_pbx(&ts, "after the reconnect").await;
    assert_eq!(View::of_api(&ts).await.calls.len(), 1);
    assert_store_matches_pbx(&ts, "after the reconnect").await;
    assert_eq!(
        history_outcomes(&ts).await,
        vec![(a, "answered".to_string())],
        "the call ended normally, not lost"
    );
    assert_ws_saw_outage(&ws, &["backingOff"]).await;
    assert_health_saw_outage(&rec, &["backingOff", "connecting"]).await;
    ts.stop().await;
}

#[actix_rt::test]
async fn a_frozen_pbx_is_left_and_rejoined_and_what_changed_meanwhile_is_picked_up() {
    let (ts, ws, rec) = start(&[
        ("AMI_PING_INTERVAL_MS", "100"),
        ("AMI_PING_TIMEOUT_MS", "300"),
        ("AMI_LOGIN_TIMEOUT_MS", "500"),
    ])
    .await;
    let (a, _b) = calls_in_flight(&ts).await;
    ts.sim.freeze(true);
    let h = wait_health_down(&ts, &["backingOff", "connecting"]).await;
    assert!(h["ami"]["lastError"].is_string(), "{h}");
    // The PBX changes while nobody can see it.
    ts.sim.hangup_call(&a);
    ts.sim.set_extension_state("1013", 4);
    ts.sim.set_extension_state("1010", 0);
    tokio::time::sleep(Duration::from_millis(600)).await;
    ts.sim.freeze(false);
    wait_health_connected(&ts, 1).await;
    wait_api_matches_pbx(&ts, "after the freeze").await;
    assert_eq!(View::of_api(&ts).await.calls.len(), 1);
    assert_store_matches_pbx(&ts, "after the freeze").await;
    let messages = assert_ws_saw_outage(&ws, &["backingOff"]).await;
    assert!(
        messages.iter().any(|m| m["data"]["lastError"]
            .as_str()
            .is_some_and(|e| e.contains("Ping"))),
        "the WebSocket says the Ping went unanswered: {messages:?}"
    );
    assert_health_saw_outage(&rec, &["backingOff", "connecting"]).await;
    ts.stop().await;
}

#[actix_rt::test]
async fn a_refused_login_is_reported_and_retried_until_accepted() {
    let (ts, ws, rec) = start(&[
        ("AMI_LOGIN_BACKOFF_MIN_MS", "100"),
        ("AMI_LOGIN_BACKOFF_MAX_MS", "300"),
    ])
    .await;
    let (_a, b) = calls_in_flight(&ts).await;
    ts.sim.refuse_logins(true);
    ts.sim.drop_connections();
    let h = wait_health_down(&ts, &["loginRefused"]).await;
    assert!(
        h["ami"]["lastError"]
            .as_str()
            .is_some_and(|e| e.contains("Authentication failed")),
        "{h}"
    );
    assert!(
        h["ami"]["nextAttempt"].is_string(),
        "a retry is scheduled: {h}"
    );
    wait_until("a second refused login", DEADLINE, || async {
        ts.sim.stats().logins_failed >= 2
    })
    .await;
    ts.sim.answer_call(&b);
    ts.sim.set_extension_state("1014", 4);
    ts.sim.refuse_logins(false);
    wait_health_connected(&ts, 1).await;
    wait_api_matches_pbx(&ts, "after the login was accepted").await;
    assert_store_matches_pbx(&ts, "after the login was accepted").await;
    assert_ws_saw_outage(&ws, &["loginRefused"]).await;
    assert_health_saw_outage(&rec, &["loginRefused"]).await;
    ts.stop().await;
}
