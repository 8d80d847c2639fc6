//! Live calls carry their running `durationSecs` and `talkSecs` (computed when
//! the answer is built, from the call's start and answer) in `/api/calls`,
//! `/api/calls/{id}` and the WebSocket snapshot; an unknown call is 404
//! `CALL_NOT_FOUND`, an unknown `?extension=` on the call history is 404, and
//! every route naming an unknown PBX is 404.

use crate::common::service::TestService;
use crate::common::wait::{wait_until, DEADLINE};
use chrono::{DateTime, Utc};
use serde_json::Value;

fn time(v: &Value) -> DateTime<Utc> {
    v.as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| panic!("not a time: {v}"))
}

/// Asserts a live call's figures run from its start and answer up to `asked`
/// (the moment before the request) and `answered` (the moment after).
fn assert_running(call: &Value, before: DateTime<Utc>, after: DateTime<Utc>) {
    let started = time(&call["startedAt"]);
    let answered = time(&call["answeredAt"]);
    let duration = call["durationSecs"].as_f64().expect("durationSecs");
    let talk = call["talkSecs"].as_f64().expect("talkSecs");
    let secs = |from: DateTime<Utc>, to: DateTime<Utc>| (to - from).num_milliseconds() as f64 / 1e3;
    // The API's times are to the millisecond; allow that rounding.
    assert!(duration >= secs(started, before) - 0.002, "{call}");
    assert!(duration <= secs(started, after) + 0.002, "{call}");
    assert!(talk >= secs(answered, before) - 0.002, "{call}");
    assert!(talk <= secs(answered, after) + 0.002, "{call}");
    assert!(talk > 0.0 && talk <= duration, "{call}");
}

#[actix_rt::test]
async fn live_calls_carry_running_duration_and_talk_time() {
    let ts = TestService::start().await;
    let id = ts.sim.place_call("1001", "1002");
    ts.sim.answer_call(&id);
    // Answered, and no change since: the stored copy's figures would stay 0.
    let answered = wait_until("the call answered in the API", DEADLINE, || async {
        let (_, body) = ts.get("/api/calls").await;
        let call = body["data"]
            .as_array()?
            .iter()
            .find(|c| c["id"] == id)?
            .clone();
        call["answeredAt"].is_string().then_some(call)
    })
    .await;
    let first = answered["talkSecs"].as_f64().unwrap_or(-1.0);
    // Poll until the talk time has visibly moved on without any new event.
    let later = wait_until("talkSecs running without events", DEADLINE, || async {
        let before = Utc::now();
        let (_, body) = ts.get("/api/calls").await;
        let after = Utc::now();
        let call = body["data"]
            .as_array()?
            .iter()
            .find(|c| c["id"] == id)?
            .clone();
        (call["talkSecs"].as_f64()? >= first + 0.2).then_some((call, before, after))
    })
    .await;
    assert_running(&later.0, later.1, later.2);
    assert!(later.0["endedAt"].is_null(), "{}", later.0);

    let before = Utc::now();
    let (status, one) = ts.get(&format!("/api/calls/{id}")).await;
    let after = Utc::now();
    assert_eq!(status, 200, "{one}");
    assert_running(&one["data"], before, after);

    let before = Utc::now();
    let mut ws = ts.ws("/ws").await;
    let snapshot = ws.next_json().await;
    let after = Utc::now();
    assert_eq!(snapshot["type"], "snapshot", "{snapshot}");
    let call = snapshot["data"]["calls"]
        .as_array()
        .and_then(|a| a.iter().find(|c| c["id"] == id))
        .unwrap_or_else(|| panic!("the call in the snapshot: {snapshot}"));
    assert_running(call, before, after);
    ws.close().await;

    // Once ended, the figures stay what they were at the end.
    ts.sim.hangup_call(&id);
    let ended = wait_until("the call ended", DEADLINE, || async {
        let (_, body) = ts.get(&format!("/api/calls/{id}")).await;
        body["data"]["endedAt"]
            .is_string()
            .then(|| body["data"].clone())
    })
    .await;
    let (_, again) = ts.get(&format!("/api/calls/{id}")).await;
    assert_eq!(
        again["data"]["durationSecs"], ended["durationSecs"],
        "{again}"
    );
    assert_eq!(again["data"]["talkSecs"], ended["talkSecs"], "{again}");
    ts.stop().await;
}

#[actix_rt::test]
async fn unknown_calls_are_call_not_found_and_unknown_pbxs_404_everywhere() {
    let ts = TestService::start().await;
    let (status, body) = ts.get("/api/calls/simpbx-1234567890.999").await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "CALL_NOT_FOUND", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("simpbx-1234567890.999")),
        "{body}"
    );
    let (status, body) = ts.get("/api/calls/history?extension=9999").await;
    assert_eq!(status, 404, "an unknown extension: {body}");
    assert_eq!(body["error"]["code"], "NOT_FOUND", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("9999")),
        "{body}"
    );
    let (status, body) = ts.get("/api/calls/history?extension=1001").await;
    assert_eq!(status, 200, "a known extension without calls: {body}");
    assert_eq!(body["data"], serde_json::json!([]), "{body}");
    for route in ["/api/calls/x", "/ws", "/api/extensions/1001"] {
        let (status, body) = ts.get(&format!("{route}?pbx=nope")).await;
        assert_eq!(status, 404, "{route}: {body}");
        assert_eq!(body["error"]["code"], "NOT_FOUND", "{route}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("nope")),
            "{route}: {body}"
        );
    }
    ts.stop().await;
}
