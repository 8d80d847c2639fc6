//! What a misbehaving PBX can make the service hold is bounded, without losing what
//! a real PBX sends. The whole service (`app::start`, SQLite) runs against a replay
//! AMI server (tests/common/replay.rs) on 127.0.0.1 writing crafted event streams:
//!
//! - 10,000 invented event names cost one `other` label, not 10,000 label sets;
//! - a hint the PBX removes stops its extension actor and leaves the live view
//!   (`/api/admin/actors`, `/api/extensions`), and subscribers are told;
//! - extension numbers past `MAX_EXTENSIONS_PER_PBX` are refused and counted, with
//!   one warning;
//! - a PBX writing faster than the router routes meets backpressure: the reads
//!   queued for the router never exceed `ROUTER_MAX_QUEUED_BATCHES`, and every event
//!   still arrives.
//!
//! Run with `--nocapture` to see the measured backpressure figures.

use std::collections::HashMap;
use std::time::Instant;

use crate::common::pipeline::{start, Running, Setup};
use crate::common::replay::{Capture, ReplayOptions, ReplayServer};
use crate::common::service::{capture_logs, captured_logs, metric_value};
use crate::common::wait::{wait_until, DEADLINE};
use actix_web::test as web_test;
use bytes::Bytes;
use serde_json::Value;
use switchboard::actors::messages::Change;
use switchboard::ami::event_names;

const PBX: &str = "default";

fn capture(events: Vec<String>) -> Capture {
    Capture {
        banner: Bytes::from_static(b"Asterisk Call Manager/9.0.0\r\n"),
        events: events.into_iter().map(Bytes::from).collect(),
    }
}

fn extension_status(exten: &str, status: i32, text: &str) -> String {
    format!(
        "Event: ExtensionStatus\r\nPrivilege: call,all\r\nExten: {exten}\r\nContext: from-internal\r\n\
         Hint: PJSIP/{exten}\r\nStatus: {status}\r\nStatusText: {text}\r\n\r\n"
    )
}

/// `GET path` through the service's real HTTP handlers.
async fn get_json(r: &Running, path: &str) -> Value {
    let data = r.service.state.clone();
    let app = web_test::init_service(switchboard::app::http_app(data)).await;
    let req = web_test::TestRequest::get().uri(path).to_request();
    web_test::call_and_read_body_json(&app, req).await
}

async fn extension_actors(r: &Running) -> u64 {
    get_json(r, "/api/admin/actors").await["byKind"]["extension"]
        .as_u64()
        .unwrap_or(0)
}

async fn listed_extensions(r: &Running) -> Vec<String> {
    let v = get_json(r, "/api/extensions").await;
    let mut list: Vec<String> = v["data"]
        .as_array()
        .unwrap_or_else(|| panic!("a list in {v}"))
        .iter()
        .map(|e| e["extension"].as_str().expect("extension").to_string())
        .collect();
    list.sort();
    list
}

/// Every `name{…}` sample of the service's Prometheus text, by its `event` label.
fn samples_by_event(r: &Running, name: &str) -> HashMap<String, f64> {
    let text = r.service.state.metrics.render();
    let prefix = format!("{name}{{");
    text.lines()
        .filter(|l| l.starts_with(&prefix))
        .map(|l| {
            let event = l
                .split("event=\"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .unwrap_or_else(|| panic!("an event label in {l}"));
            let value: f64 = l
                .rsplit(' ')
                .next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("a value in {l}"));
            (event.to_string(), value)
        })
        .collect()
}

#[actix_rt::test]
async fn ten_thousand_invented_event_names_share_one_label() {
    const INVENTED: usize = 10_000;
    let mut events: Vec<String> = (0..INVENTED)
        .map(|i| format!("Event: Invented{i}\r\nPrivilege: user,all\r\nSeq: {i}\r\n\r\n"))
        .collect();
    // Asterisk's own names keep their labels, wherever they come.
    events.insert(
        INVENTED / 2,
        "Event: VarSet\r\nPrivilege: dialplan,all\r\nChannel: PJSIP/1001-00000001\r\n\
         Uniqueid: 1700000000.1\r\nVariable: X\r\nValue: y\r\n\r\n"
            .to_string(),
    );
    events.push("Event: AgentLogin\r\nPrivilege: agent,all\r\nAgent: 1001\r\n\r\n".to_string());
    let total = events.len() as u64;
    let server = ReplayServer::start(capture(events), ReplayOptions::default());
    let r = start(Setup::new(server.addr())).await.expect("SQLite");
    r.settle(total).await;

    let events = samples_by_event(&r, "switchboard_ami_events_total");
    assert_eq!(events.get("other"), Some(&(INVENTED as f64)), "{events:?}");
    assert_eq!(events.get("VarSet"), Some(&1.0), "{events:?}");
    assert_eq!(events.get("AgentLogin"), Some(&1.0), "{events:?}");
    assert!(
        events.len() <= event_names::KNOWN.len() + 1,
        "{} label sets",
        events.len()
    );
    assert!(events.keys().all(|k| !k.starts_with("Invented")));
    // The router's count of events it cannot route is bounded the same way.
    let unrouted = samples_by_event(&r, "switchboard_unrouted_events_total");
    assert_eq!(
        unrouted.get("other"),
        Some(&(INVENTED as f64)),
        "{unrouted:?}"
    );
    // AgentLogin is Asterisk's own and read by nothing here: the codec skips it
    // unread (counted above), so it never reaches the router.
    assert_eq!(unrouted.get("AgentLogin"), None, "{unrouted:?}");
    assert_eq!(unrouted.len(), 1, "{unrouted:?}");
    assert_eq!(r.router().await.unknown, INVENTED as u64);
    r.stop().await;
}

#[actix_rt::test]
async fn a_removed_hint_stops_its_actor_and_leaves_the_live_view() {
    let first = vec![
        extension_status("1001", 0, "Idle"),
        extension_status("1002", 1, "InUse"),
        extension_status("1003", 0, "Idle"),
    ];
    // After a reconnect the PBX reports 1001's hint removed (-1) and 1002's
    // extension removed (-2), between the events of the new session.
    let removal = format!(
        "{}{}",
        extension_status("1001", -1, "Removed"),
        extension_status("1002", -2, "Removed")
    );
    let options = ReplayOptions {
        on_reconnect: Some(Bytes::from(removal)),
        ..ReplayOptions::default()
    };
    let server = ReplayServer::start(capture(first), options);
    let r = start(Setup::new(server.addr())).await.expect("SQLite");
    let changes = r.collect().await;
    r.settle(3).await;
    assert_eq!(extension_actors(&r).await, 3);
    assert_eq!(listed_extensions(&r).await, ["1001", "1002", "1003"]);

    server.drop_sessions();
    wait_until("a second login", DEADLINE, || async {
        server.logins_ok() >= 2
    })
    .await;
    r.settle(5).await;
    wait_until(
        "the removed extensions' actors to stop",
        DEADLINE,
        || async { extension_actors(&r).await == 1 },
    )
    .await;
    assert_eq!(listed_extensions(&r).await, ["1003"]);
    assert_eq!(r.router().await.extensions, 1, "the router forgot them");
    let removed: Vec<(String, String)> = changes
        .all()
        .iter()
        .filter_map(|e| match &e.change {
            Change::Extension(x) if x.state == switchboard::model::ExtensionState::Removed => {
                Some((x.extension.clone(), e.change.kind().to_string()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        removed,
        [
            ("1001".to_string(), "extension.status".to_string()),
            ("1002".to_string(), "extension.status".to_string())
        ]
    );
    r.stop().await;
}

#[actix_rt::test]
async fn extensions_past_the_cap_are_refused_counted_and_warned_about_once() {
    capture_logs();
    const CAP: usize = 50;
    const SEEN: usize = 200;
    let events: Vec<String> = (0..SEEN)
        .map(|i| extension_status(&(5000 + i).to_string(), 0, "Idle"))
        .collect();
    let server = ReplayServer::start(capture(events), ReplayOptions::default());
    let r = start(Setup::new(server.addr()).with("MAX_EXTENSIONS_PER_PBX", CAP))
        .await
        .expect("SQLite");
    r.settle(SEEN as u64).await;

    assert_eq!(extension_actors(&r).await, CAP as u64);
    assert_eq!(listed_extensions(&r).await.len(), CAP);
    let stats = r.router().await;
    assert_eq!(stats.extensions, CAP);
    assert_eq!(stats.refused_extensions, (SEEN - CAP) as u64);
    let text = r.service.state.metrics.render();
    assert_eq!(
        metric_value(&text, "switchboard_extensions_refused_total"),
        (SEEN - CAP) as f64
    );
    let warnings = captured_logs()
        .iter()
        .filter(|l| l.contains("MAX_EXTENSIONS_PER_PBX allows"))
        .count();
    assert_eq!(warnings, 1, "one warning, not one per refused event");
    r.stop().await;
}

#[actix_rt::test]
async fn a_flooding_pbx_meets_backpressure_and_loses_no_event() {
    const BOUND: usize = 2;
    const EXTENSIONS: usize = 200;
    const EVENTS: usize = 20_000;
    // Every event changes an extension's state, so each costs the router's thread
    // an actor message and a published change: the router falls behind the socket.
    let events: Vec<String> = (0..EVENTS)
        .map(|i| {
            let exten = (6000 + i % EXTENSIONS).to_string();
            let status = if (i / EXTENSIONS) % 2 == 0 { 1 } else { 0 };
            extension_status(&exten, status, if status == 1 { "InUse" } else { "Idle" })
        })
        .collect();
    let last: HashMap<String, i64> = (EVENTS - EXTENSIONS..EVENTS)
        .map(|i| {
            let exten = (6000 + i % EXTENSIONS).to_string();
            (exten, if (i / EXTENSIONS) % 2 == 0 { 1 } else { 0 })
        })
        .collect();
    let bytes: usize = events.iter().map(String::len).sum();
    let server = ReplayServer::start(capture(events), ReplayOptions::default());
    let r = start(Setup::new(server.addr()).with("ROUTER_MAX_QUEUED_BATCHES", BOUND))
        .await
        .expect("SQLite");
    let began = Instant::now();
    r.settle(EVENTS as u64).await;
    let elapsed = began.elapsed();

    let text = r.service.state.metrics.render();
    // One PBX, so each metric has one sample.
    let peak = metric_value(&text, "switchboard_router_batches_queued_peak");
    let queued = metric_value(&text, "switchboard_router_batches_queued");
    println!(
        "backpressure: {EVENTS} events ({} KB) routed in {:.0} ms; reads queued for the router at most {peak} (bound {BOUND})",
        bytes / 1024,
        elapsed.as_secs_f64() * 1000.0
    );
    assert!(peak >= 1.0 && peak <= BOUND as f64, "peak {peak}");
    assert_eq!(queued, 0.0, "every read's ticket returned");
    let stats = r.router().await;
    assert_eq!(stats.routed, EVENTS as u64, "nothing dropped");
    assert_eq!(r.connection().reconnects, 0);
    assert_eq!(server.logins_ok(), 1);
    let live = r.live_extensions();
    assert_eq!(live.len(), EXTENSIONS);
    for (exten, status) in &last {
        assert_eq!(
            i64::from(live[exten].status.0),
            *status,
            "extension {exten} ends in its last reported state"
        );
    }
    let malformed = r
        .service
        .state
        .metrics
        .malformed
        .with_label_values(&[PBX])
        .get();
    assert_eq!(malformed, 0);
    r.stop().await;
}
