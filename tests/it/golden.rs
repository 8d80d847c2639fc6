//! Golden recording of what the service tells its users about real captures.
//!
//! Re-record after an intended change of behaviour (one command, then review the diff):
//!
//! ```text
//! GOLDEN_UPDATE=1 cargo test --test it golden::
//! ```
//!
//! Each test replays one capture (`tests/fixtures/<scenario>.server.ami`, through the
//! real TCP replay peer of tests/common/replay.rs) into the whole service (`app::start`
//! with its SQLite store and the HTTP server on loopback). A WebSocket subscriber
//! connected before the first event records every message; once every event is
//! routed, every change published and the store flushed, every GET route is asked.
//! The recording is compared, byte for byte, with
//! `tests/fixtures/golden/<scenario>.json`; a mismatch names the first differing line
//! and leaves the whole new recording in `<target>/golden-actual/<scenario>.json`.
//!
//! Anything that differs from run to run (wall-clock times, durations measured by the
//! service, uptime, ports, ids made at run time) is replaced by a placeholder naming
//! its type, so the keys and their kinds stay part of the recording. Times taken from
//! the capture itself are kept: they are behaviour.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::common::pipeline::{start, Running, Setup};
use crate::common::replay::{load, ReplayGate, ReplayOptions, ReplayServer};
use crate::common::service::WsClient;
use crate::common::wait::{wait_until, DEADLINE};
use crate::common::ws_recorder::WsRecorder;
use actix_web::{App, HttpServer};
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

const TOKEN: &str = "golden-test-token";

/// The service with its HTTP server, fed by a gated replay.
struct Golden {
    running: Running,
    server: ReplayServer,
    gate: ReplayGate,
    http: actix_web::dev::ServerHandle,
    addr: SocketAddr,
}

impl Golden {
    async fn start(scenario: &str) -> Self {
        let gate = ReplayGate::default();
        let server = ReplayServer::start(
            load(scenario),
            ReplayOptions {
                gate: Some(gate.clone()),
                ..ReplayOptions::default()
            },
        );
        let running = start(Setup::new(server.addr()).with("API_TOKEN", TOKEN))
            .await
            .expect("SQLite is always available");
        let data = running.service.state.clone();
        let http = HttpServer::new(move || {
            let data = data.clone();
            App::new().configure(move |cfg| switchboard::http::configure(cfg, data))
        })
        .workers(1)
        .disable_signals()
        .tcp_nodelay(true)
        .shutdown_timeout(1)
        .bind("127.0.0.1:0")
        .expect("bind an ephemeral port");
        let addr = http.addrs()[0];
        let http = http.run();
        let handle = http.handle();
        actix_rt::spawn(http);
        Self {
            running,
            server,
            gate,
            http: handle,
            addr,
        }
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let mut res = awc::Client::builder()
            .timeout(Duration::from_secs(30))
            .bearer_auth(TOKEN)
            .finish()
            .get(format!("http://{}{}", self.addr, path))
            .send()
            .await
            .expect("GET answered");
        let body = res.body().limit(64 << 20).await.expect("body read");
        let body = serde_json::from_slice(&body).unwrap_or_else(|_| {
            Value::String(format!("(not JSON) {}", String::from_utf8_lossy(&body)))
        });
        (res.status().as_u16(), body)
    }

    async fn stop(self) {
        self.running.service.shutdown().await;
        self.http.stop(false).await;
        drop(self.server);
    }
}

/// Whether a capture has calls (devstate only changes device states).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Calls {
    Some,
    None,
}

/// Replays `scenario` and returns the normalised recording.
async fn record(scenario: &str, expect: Calls) -> Value {
    let g = Golden::start(scenario).await;
    wait_until(
        "the AMI connection to be up, before any event",
        DEADLINE,
        || async { g.get("/api/health").await.1["data"]["ami"]["state"] == "connected" },
    )
    .await;
    let mut ws = WsClient::connect(&format!("ws://{}/ws?token={TOKEN}", g.addr)).await;
    let snapshot = ws.next_json().await;
    assert_eq!(snapshot["type"], "snapshot", "the first message on connect");
    let recorder = WsRecorder::start(ws);

    g.gate.open();
    let total = g.server.events as u64;
    assert!(total > 0, "{scenario} has events");
    wait_until("every event written", DEADLINE, || async {
        g.server.events_written() == total
    })
    .await;
    g.running.settle(total).await;
    let seq = g.running.hub_seq().await;
    wait_until("the subscriber to have every change", DEADLINE, || async {
        recorder
            .messages()
            .last()
            .and_then(|m| m["seq"].as_u64())
            .is_some_and(|s| s >= seq)
    })
    .await;

    let mut api = Map::new();
    let mut ask = |path: String, answer: (u16, Value)| {
        api.insert(
            format!("GET {path}"),
            json!({"status": answer.0, "body": answer.1}),
        );
    };
    for path in [
        "/api/health",
        "/api/extensions",
        "/api/calls",
        "/api/calls/history",
        "/api/extensions/hybrid-refresh/status",
        "/api/admin/actors",
    ] {
        ask(path.to_string(), g.get(path).await);
    }
    let (_, history) = g.get("/api/calls/history").await;
    let calls = history["data"].as_array().cloned().unwrap_or_default();
    assert_eq!(
        calls.is_empty(),
        expect == Calls::None,
        "{scenario}: calls in the history"
    );
    for call in &calls {
        let id = call["id"].as_str().expect("a call has an id");
        let path = format!("/api/calls/{id}");
        ask(path.clone(), g.get(&path).await);
    }
    let (_, list) = g.get("/api/extensions").await;
    let extens: Vec<String> = list["data"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|e| e["extension"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    assert!(
        !extens.is_empty(),
        "{scenario}: the capture names extensions"
    );
    for exten in extens.iter().take(EXTENSIONS_ASKED) {
        for path in [
            format!("/api/extensions/{exten}"),
            format!("/api/extensions/{exten}/history"),
        ] {
            ask(path.clone(), g.get(&path).await);
        }
    }
    let messages = recorder.messages();
    g.stop().await;

    let first = snapshot["seq"].as_u64().expect("the snapshot has a seq");
    let seqs: Vec<Option<u64>> = messages.iter().map(|m| m["seq"].as_u64()).collect();
    assert!(!seqs.is_empty(), "{scenario}: the subscriber got changes");
    let want: Vec<Option<u64>> = (first + 1..=seq).map(Some).collect();
    assert_eq!(
        seqs, want,
        "{scenario}: every change after the snapshot, no gap"
    );
    if let Some(actors) = api
        .get_mut("GET /api/admin/actors")
        .and_then(|a| a["body"]["data"].as_array_mut())
    {
        // Actors register concurrently, so their numbers differ from run to run.
        for actor in actors.iter_mut() {
            actor["id"] = Value::String("<actor id>".to_string());
        }
        actors.sort_by_key(|a| (a["kind"].to_string(), a["name"].to_string()));
    }
    let mut recording = json!({
        "scenario": scenario,
        "websocketSnapshot": snapshot,
        "websocketChanges": by_subject(messages),
        "api": api,
    });
    normalise(&mut recording, None);
    recording
}

/// The changes grouped by what they are about (one extension, one call, one PBX's
/// connection), each group in the order it arrived, `seq` replaced by a placeholder.
///
/// Different extensions and calls are separate actors whose messages interleave in
/// the hub as the scheduler runs them, so only the order within one subject is
/// behaviour; the sequence numbers are checked for gaps before this.
fn by_subject(messages: Vec<Value>) -> Value {
    let mut groups: std::collections::BTreeMap<String, Vec<Value>> = Default::default();
    for mut m in messages {
        let kind = m["type"].as_str().unwrap_or("?").to_string();
        let data = &m["data"];
        let subject = match kind.split('.').next() {
            Some("extension") => format!(
                "extension {}/{}",
                data["pbx"].as_str().unwrap_or("?"),
                data["extension"].as_str().unwrap_or("?")
            ),
            Some("call") => format!(
                "call {}/{}",
                data["pbx"].as_str().unwrap_or("?"),
                data["id"].as_str().unwrap_or("?")
            ),
            Some("ami") => format!("connection {}", data["pbx"].as_str().unwrap_or("?")),
            _ => kind.clone(),
        };
        m["seq"] = Value::String("<seq>".to_string());
        groups.entry(subject).or_default().push(m);
    }
    json!(groups)
}

/// Extensions asked one by one (the first ones of the list, which is sorted).
const EXTENSIONS_ASKED: usize = 8;

/// Keys whose numeric value is measured by the service at run time, or counts work
/// whose batching depends on timing (store writes coalesced, actor mailbox traffic).
const MEASURED: &[&str] = &[
    "coalesced",
    "writesTotal",
    "messagesHandled",
    "uptimeSecs",
    "uptime_secs",
    "uptime",
    "port",
    "latencyMs",
    "ageMs",
    "age_ms",
    "elapsedMs",
];

/// Replaces what differs from run to run by placeholders; see the module docs.
fn normalise(v: &mut Value, key: Option<&str>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map.iter_mut() {
                normalise(child, Some(k));
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| normalise(i, key)),
        Value::String(s) => {
            if let Ok(t) = DateTime::parse_from_rfc3339(s) {
                if is_recent(t.with_timezone(&Utc)) {
                    *s = "<run-time timestamp>".to_string();
                }
            } else if s.starts_with("127.0.0.1:") {
                *s = "<loopback address>".to_string();
            }
        }
        Value::Number(n) => {
            if key.is_some_and(|k| MEASURED.contains(&k)) {
                *v = Value::String("<measured number>".to_string());
            } else if n.as_f64().is_some_and(recent_epoch) {
                *v = Value::String("<run-time epoch>".to_string());
            }
        }
        Value::Bool(_) | Value::Null => {}
    }
}

/// Captures were taken long before the tests run: a time within a day of now was
/// made by this run.
fn is_recent(t: DateTime<Utc>) -> bool {
    (Utc::now() - t).num_seconds().abs() < 86_400
}

/// An epoch in seconds or milliseconds within a day of now.
fn recent_epoch(x: f64) -> bool {
    let now = Utc::now().timestamp() as f64;
    (x - now).abs() < 86_400.0 || (x / 1000.0 - now).abs() < 86_400.0
}

fn golden_path(scenario: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/golden")
        .join(format!("{scenario}.json"))
}

fn actual_path(scenario: &str) -> PathBuf {
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    target
        .join("golden-actual")
        .join(format!("{scenario}.json"))
}

/// Records `scenario` and compares it with its golden file (or rewrites it).
async fn check(scenario: &str, expect: Calls) {
    let recording = record(scenario, expect).await;
    let text = serde_json::to_string_pretty(&recording).expect("JSON") + "\n";
    let golden = golden_path(scenario);
    if std::env::var("GOLDEN_UPDATE").is_ok_and(|v| v == "1") {
        std::fs::create_dir_all(golden.parent().expect("a directory")).expect("mkdir");
        std::fs::write(&golden, &text).expect("write the golden file");
        eprintln!("rewrote {}", golden.display());
        return;
    }
    let want = std::fs::read_to_string(&golden).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; record it with GOLDEN_UPDATE=1 cargo test --test it golden::",
            golden.display()
        )
    });
    if want == text {
        return;
    }
    let actual = actual_path(scenario);
    if let Some(dir) = actual.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let _ = std::fs::write(&actual, &text);
    let line = want
        .lines()
        .zip(text.lines())
        .position(|(a, b)| a != b)
        .unwrap_or_else(|| want.lines().count().min(text.lines().count()));
    let around = |s: &str| -> String {
        s.lines()
            .enumerate()
            .skip(line.saturating_sub(3))
            .take(7)
            .map(|(i, l)| format!("{:>6} {l}\n", i + 1))
            .collect()
    };
    panic!(
        "{scenario}: the recording differs from {} at line {}\n--- golden\n{}--- now\n{}\
         whole recording: {}\nif the change is intended: GOLDEN_UPDATE=1 cargo test --test it golden::",
        golden.display(),
        line + 1,
        around(&want),
        around(&text),
        actual.display()
    );
}

#[actix_rt::test]
async fn calls_transfer_is_told_as_recorded() {
    check("calls-transfer", Calls::Some).await;
}

#[actix_rt::test]
async fn calls_hold_is_told_as_recorded() {
    check("calls-hold", Calls::Some).await;
}

#[actix_rt::test]
async fn calls_outcomes_is_told_as_recorded() {
    check("calls-outcomes", Calls::Some).await;
}

#[actix_rt::test]
async fn devstate_is_told_as_recorded() {
    check("devstate", Calls::None).await;
}
