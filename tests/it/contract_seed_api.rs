//! The refresh endpoints as a drop-in for the old Node service: each example of its
//! API (tests/fixtures/seed-api/) sent to the real service against the simulator,
//! and the answer held against the example field by field. Also: every timestamp
//! the API and the WebSocket send has one format, `2023-12-21T10:30:56.789Z`.

use std::time::Duration;

use crate::common::service::{Options, TestService};
use crate::common::wait::{wait_until, DEADLINE};
use serde_json::Value;
use switchboard::sim::SimConfig;

const REFRESH: &str = "/api/extensions/hybrid-refresh";

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/seed-api/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// `2023-12-21T10:30:56.789Z`: `^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`.
fn is_api_time(s: &str) -> bool {
    let b = s.as_bytes();
    let digit_at = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18, 20, 21, 22];
    b.len() == 24
        && digit_at.iter().all(|&i| b[i].is_ascii_digit())
        && [
            (4, b'-'),
            (7, b'-'),
            (10, b'T'),
            (13, b':'),
            (16, b':'),
            (19, b'.'),
            (23, b'Z'),
        ]
        .iter()
        .all(|&(i, c)| b[i] == c)
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Every field of `example` is in `actual` with the same JSON type, recursively
/// (each element of an array against the example's first element); example strings
/// in the time format must be answered in it.
#[track_caller]
fn assert_shape(example: &Value, actual: &Value, path: &str) {
    assert_eq!(
        kind(example),
        kind(actual),
        "{path}: expected a {} like {example}, got {actual}",
        kind(example)
    );
    match (example, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (key, ev) in e {
                let av = a
                    .get(key)
                    .unwrap_or_else(|| panic!("{path}.{key} missing in {actual}"));
                assert_shape(ev, av, &format!("{path}.{key}"));
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            if let Some(first) = e.first() {
                for (i, av) in a.iter().enumerate() {
                    assert_shape(first, av, &format!("{path}[{i}]"));
                }
            }
        }
        (Value::String(e), Value::String(a)) if is_api_time(e) => {
            assert!(is_api_time(a), "{path}: {a:?} is not like {e:?}");
        }
        _ => {}
    }
}

/// `success` and `message` are the example's own.
#[track_caller]
fn assert_constants(example: &Value, actual: &Value) {
    assert_eq!(actual["success"], example["success"], "{actual}");
    assert_eq!(actual["message"], example["message"], "{actual}");
}

async fn post_json(ts: &TestService, path: &str, body: &Value) -> (u16, Value) {
    let mut res = ts
        .client()
        .post(ts.url(path))
        .insert_header(("content-type", "application/json"))
        .send_body(body.to_string())
        .await
        .expect("answered");
    let body: Value = res.json().limit(16 << 20).await.expect("JSON");
    (res.status().as_u16(), body)
}

#[actix_rt::test]
async fn the_refresh_answers_the_old_services_example() {
    let ts = TestService::start().await;
    ts.sim.fail_extensions(&["1007"]);
    let (status, body) = post_json(&ts, REFRESH, &fixture("refresh.request.json")).await;
    assert_eq!(status, 200, "{body}");
    let example = fixture("refresh.response.json");
    assert_shape(&example, &body, "");
    assert_constants(&example, &body);
    let d = &body["data"];
    let known = ts.sim.snapshot().extensions.len() as u64;
    assert_eq!(d["extensionsChecked"].as_u64(), Some(known), "{body}");
    let ok = d["statistics"]["successfulQueries"]
        .as_u64()
        .expect("count");
    let failed = d["statistics"]["failedQueries"].as_u64().expect("count");
    assert_eq!((ok, failed), (known - 1, 1), "{body}");
    assert_eq!(d["results"].as_array().map(Vec::len), Some(known as usize));
    assert!(d["connectionId"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(
        d["lastQueryTime"].as_str().is_some_and(is_api_time),
        "{body}"
    );
    ts.sim.fail_extensions(&[]);
    ts.stop().await;
}

/// An open session (the PBX holds its list answer) reads `connected` in the status,
/// and close answers the example with the one session closed.
#[actix_rt::test]
async fn status_and_close_answer_the_old_services_examples() {
    let ts = TestService::start().await;
    let (status, idle) = ts.get(&format!("{REFRESH}/status")).await;
    assert_eq!(status, 200, "{idle}");
    let example = fixture("status.response.json");
    assert_shape(&example, &idle, "");
    assert_constants(&example, &idle);
    assert_eq!(idle["data"]["activeConnections"], 0);

    ts.sim.delay_lists(Duration::from_secs(30));
    let url = ts.url(REFRESH);
    let pending = actix_rt::spawn(async move {
        let mut res = awc::Client::new().post(url).send().await.expect("answered");
        let body: Value = res.json().await.expect("JSON");
        (res.status().as_u16(), body)
    });
    wait_until("an open, logged-in refresh session", DEADLINE, || async {
        ts.get(&format!("{REFRESH}/status")).await.1["data"]["connections"][0]["connectionState"]
            == "connected"
    })
    .await;
    let (status, open) = ts.get(&format!("{REFRESH}/status")).await;
    assert_eq!(status, 200, "{open}");
    assert_shape(&example, &open, "");
    assert_constants(&example, &open);
    let d = &open["data"];
    assert_eq!(d["activeConnections"], 1, "{open}");
    let c = &d["connections"][0];
    assert_eq!(c["connectionState"], "connected", "{open}");
    assert_eq!(c["isHealthy"], true, "{open}");
    assert_eq!(c["phase"], "querying", "{open}");
    assert!(c["connectionId"].as_str().is_some_and(|s| !s.is_empty()));
    let created = c["createdAt"].as_str().expect("createdAt");
    let used = c["lastUsed"].as_str().expect("lastUsed");
    assert!(created <= used, "{open}");

    let (status, closed) = ts.post(&format!("{REFRESH}/close")).await;
    assert_eq!(status, 200, "{closed}");
    let example = fixture("close.response.json");
    assert_shape(&example, &closed, "");
    assert_constants(&example, &closed);
    assert_eq!(closed["closedConnections"], 1, "{closed}");
    let (status, cut) = pending.await.expect("request task");
    assert_eq!(status, 503, "{cut}");
    assert_eq!(cut["error"]["code"], "REFRESH_CLOSED", "{cut}");
    ts.sim.delay_lists(Duration::ZERO);

    let (_, none) = ts.post(&format!("{REFRESH}/close")).await;
    assert_shape(&example, &none, "");
    assert_eq!(none["closedConnections"], 0, "{none}");
    ts.stop().await;
}

/// Every string that looks like a timestamp, with the key that held it.
fn timestamps<'a>(v: &'a Value, key: &str, out: &mut Vec<(String, &'a str)>) {
    match v {
        Value::String(s)
            if s.len() >= 11
                && s.as_bytes()[10] == b'T'
                && s[..4].bytes().all(|b| b.is_ascii_digit()) =>
        {
            out.push((key.to_string(), s.as_str()));
        }
        Value::Array(a) => a.iter().for_each(|x| timestamps(x, key, out)),
        Value::Object(o) => o.iter().for_each(|(k, x)| timestamps(x, k, out)),
        _ => {}
    }
}

#[actix_rt::test]
async fn every_timestamp_in_the_api_and_the_websocket_has_milliseconds() {
    let opts = Options {
        sim: SimConfig {
            extensions: 10,
            rate: 0.0,
            ..SimConfig::default()
        },
        ..Options::default()
    };
    let ts = TestService::with(opts).await;
    let mut ws = ts.ws("/ws").await;
    let mut seen = vec![ws.next_json().await];
    let done = ts.sim.place_call("1001", "1002");
    ts.sim.answer_call(&done);
    ts.sim.hangup_call(&done);
    let live = ts.sim.place_call("1003", "1004");
    ts.sim.answer_call(&live);
    wait_until("a finished call in the history", DEADLINE, || async {
        ts.get("/api/calls/history").await.1["data"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    })
    .await;
    let (status, refresh) = ts.post(REFRESH).await;
    assert_eq!(status, 200, "{refresh}");
    seen.extend(
        ws.until("refresh.completed", |v| v["type"] == "refresh.completed")
            .await,
    );
    for path in [
        "/api/health",
        "/api/extensions",
        "/api/extensions/1001",
        "/api/extensions/1001/history",
        "/api/extensions/1001/history?from=2000-01-01T00:00:00Z&to=2999-01-01T00:00:00.5Z&at=2999-01-01T00:00:00Z",
        "/api/calls",
        "/api/calls/history",
        "/api/admin/actors",
        "/api/extensions/hybrid-refresh/status",
    ] {
        let (status, body) = ts.get(path).await;
        assert_eq!(status, 200, "{path}: {body}");
        seen.push(body);
    }
    seen.push(refresh);

    let mut found = Vec::new();
    for v in &seen {
        timestamps(v, "", &mut found);
    }
    let bad: Vec<&(String, &str)> = found.iter().filter(|(_, t)| !is_api_time(t)).collect();
    assert!(bad.is_empty(), "not in the API format: {bad:?}");
    let keys: std::collections::BTreeSet<&str> = found.iter().map(|(k, _)| k.as_str()).collect();
    for key in [
        "ts",
        "startedAt",
        "answeredAt",
        "endedAt",
        "lastChange",
        "lastConfirmed",
        "lastQueryTime",
        "since",
        "lastFlush",
        "started",
        "at",
        "from",
        "to",
    ] {
        assert!(keys.contains(key), "no {key} seen; seen: {keys:?}");
    }
    ws.close().await;
    ts.stop().await;
}
