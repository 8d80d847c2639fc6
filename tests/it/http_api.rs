//! The HTTP API against a real server on an ephemeral port, with the simulator as
//! the PBX: every route, its filters, and every error case with its JSON shape.

use crate::common::service::{Options, TestService};
use crate::common::wait::{wait_until, DEADLINE};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;

/// `{success:false, error:{code, message}}` with the given code.
#[track_caller]
fn assert_error(body: &Value, code: &str) {
    assert_eq!(body["success"], false, "error body: {body}");
    assert_eq!(body["error"]["code"], code, "error body: {body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "error message present: {body}"
    );
}

fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn numbers(list: &Value) -> Vec<String> {
    list.as_array()
        .expect("a list")
        .iter()
        .map(|e| {
            e["extension"]
                .as_str()
                .expect("extension number")
                .to_string()
        })
        .collect()
}

#[actix_rt::test]
async fn health_reports_service_connection_and_store() {
    let ts = TestService::start().await;
    let (status, body) = ts.get("/api/health").await;
    assert_eq!(status, 200);
    assert_eq!(body["success"], true);
    let d = &body["data"];
    assert_eq!(d["status"], "ok");
    assert_eq!(d["service"]["name"], "switchboard");
    assert_eq!(d["ami"]["state"], "connected");
    assert_eq!(d["ami"]["pbx"], "default");
    assert!(d["ami"]["since"].is_string());
    assert_eq!(d["store"]["state"], "ok");
    assert_eq!(d["state"]["extensions"], 50);
    ts.stop().await;
}

#[actix_rt::test]
async fn extensions_list_filters_and_lookup() {
    let ts = TestService::start().await;
    let (status, all) = ts.get("/api/extensions").await;
    assert_eq!(status, 200);
    assert_eq!(all["success"], true);
    assert_eq!(all["count"], 50);
    let sim_truth = ts.sim.snapshot().extensions;
    for e in all["data"].as_array().expect("list") {
        let n = e["extension"].as_str().expect("number");
        assert_eq!(
            e["status"].as_i64(),
            sim_truth.get(n).map(|s| i64::from(*s))
        );
    }

    ts.sim.set_extension_state("1002", 1);
    ts.sim.set_extension_state("1003", 4);
    ts.wait_extension_status("1002", 1).await;
    ts.wait_extension_status("1003", 4).await;

    let (_, in_use) = ts.get("/api/extensions?state=inUse").await;
    assert_eq!(numbers(&in_use["data"]), vec!["1002"]);
    assert_eq!(in_use["count"], 1);
    let (_, off) = ts.get("/api/extensions?state=unavailable").await;
    assert_eq!(numbers(&off["data"]), vec!["1003"]);
    let (_, idle) = ts.get("/api/extensions?state=idle").await;
    let idle = numbers(&idle["data"]);
    assert_eq!(idle.len(), 48);
    assert!(!idle.contains(&"1002".to_string()));

    let (_, q) = ts.get("/api/extensions?q=1002").await;
    assert_eq!(numbers(&q["data"]), vec!["1002"]);
    let (_, q) = ts.get("/api/extensions?q=nobody-has-this").await;
    assert_eq!(q["count"], 0);
    let (_, q) = ts.get("/api/extensions?q=100&state=inUse").await;
    assert_eq!(numbers(&q["data"]), vec!["1002"]);

    let (status, bad) = ts.get("/api/extensions?state=sleeping").await;
    assert_eq!(status, 400);
    assert_error(&bad, "INVALID_QUERY");
    let (status, bad) = ts.get("/api/extensions?colour=red").await;
    assert_eq!(status, 400);
    assert_error(&bad, "INVALID_QUERY");

    let (status, one) = ts.get("/api/extensions/1002").await;
    assert_eq!(status, 200);
    assert_eq!(one["success"], true);
    assert_eq!(one["data"]["extension"], "1002");
    assert_eq!(one["data"]["state"], "inUse");
    assert_eq!(one["data"]["pbx"], "default");

    let (status, missing) = ts.get("/api/extensions/9999").await;
    assert_eq!(status, 404);
    assert_error(&missing, "NOT_FOUND");
    let (status, missing) = ts.get("/api/extensions/1002?pbx=elsewhere").await;
    assert_eq!(status, 404);
    assert_error(&missing, "NOT_FOUND");
    ts.stop().await;
}

#[actix_rt::test]
async fn extension_history_ranges_and_state_at_an_instant() {
    let ts = TestService::start().await;
    // The API's timestamps are to the millisecond: changes a few milliseconds apart
    // can be told apart by them (the pause only spaces the changes; nothing waits
    // on it to assert).
    let apart = || tokio::time::sleep(std::time::Duration::from_millis(5));
    ts.sim.set_extension_state("1004", 1);
    ts.wait_extension_status("1004", 1).await;
    apart().await;
    ts.sim.set_extension_state("1004", 8);
    ts.wait_extension_status("1004", 8).await;
    apart().await;
    ts.sim.set_extension_state("1004", 0);
    ts.wait_extension_status("1004", 0).await;

    // The store writes in batches: wait until the first state seen (idle, at
    // start-up) and the three changes are stored.
    wait_until("four stored transitions of 1004", DEADLINE, || async {
        let (_, h) = ts.get("/api/extensions/1004/history").await;
        h["data"]["transitions"]
            .as_array()
            .is_some_and(|t| t.len() >= 4)
    })
    .await;
    let (status, h) = ts.get("/api/extensions/1004/history").await;
    assert_eq!(status, 200);
    assert_eq!(h["data"]["extension"], "1004");
    let list = h["data"]["transitions"].as_array().expect("transitions");
    // Newest first: 0 (idle), 8 (ringing), 1 (in use), 0 (first seen).
    let statuses: Vec<i64> = list
        .iter()
        .map(|t| t["status"].as_i64().expect("status"))
        .collect();
    assert_eq!(statuses, vec![0, 8, 1, 0]);
    let at = |i: usize| -> DateTime<Utc> {
        list[i]["at"]
            .as_str()
            .expect("at")
            .parse()
            .expect("RFC 3339")
    };
    let (t_idle, t_ringing, t_in_use) = (at(0), at(1), at(2));
    assert!(t_in_use <= t_ringing && t_ringing <= t_idle);

    // "What was it at 10:32?": between two changes, the earlier one is in force.
    // An instant as clients write it, to the millisecond.
    let mid = chrono::SubsecRound::trunc_subsecs(t_in_use + (t_ringing - t_in_use) / 2, 3);
    let (_, h) = ts
        .get(&format!("/api/extensions/1004/history?at={}", iso(mid)))
        .await;
    assert_eq!(h["data"]["stateAt"]["status"], 1, "{h}");
    let (_, h) = ts
        .get(&format!("/api/extensions/1004/history?at={}", iso(t_idle)))
        .await;
    assert_eq!(h["data"]["stateAt"]["status"], 0);
    let (_, h) = ts
        .get(&format!("/api/extensions/1004/history?at={}", iso(at(3))))
        .await;
    assert_eq!(h["data"]["stateAt"]["status"], 0);
    let (_, h) = ts
        .get("/api/extensions/1004/history?at=2000-01-01T00:00:00Z")
        .await;
    assert!(h["data"]["stateAt"].is_null(), "nothing known in 2000: {h}");

    // from/to select the range; limit caps it.
    let (_, h) = ts
        .get(&format!(
            "/api/extensions/1004/history?from={}&to={}",
            iso(t_ringing),
            iso(t_ringing)
        ))
        .await;
    let only: Vec<i64> = h["data"]["transitions"]
        .as_array()
        .expect("list")
        .iter()
        .map(|t| t["status"].as_i64().expect("status"))
        .collect();
    assert_eq!(only, vec![8]);
    let (_, h) = ts.get("/api/extensions/1004/history?limit=1").await;
    assert_eq!(h["data"]["transitions"].as_array().map(Vec::len), Some(1));
    let (_, h) = ts.get("/api/extensions/1005/history").await;
    assert_eq!(h["data"]["transitions"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        h["data"]["transitions"][0]["status"], 0,
        "only its first state: {h}"
    );

    for bad in [
        "from=yesterday",
        "to=2024-13-45T00:00:00Z",
        "at=10:32",
        "from=2024-02-01T00:00:00Z&to=2024-01-01T00:00:00Z",
        "limit=0",
        "limit=1001",
        "limit=ten",
        "since=2024-01-01T00:00:00Z",
    ] {
        let (status, body) = ts.get(&format!("/api/extensions/1004/history?{bad}")).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_error(&body, "INVALID_QUERY");
    }
    ts.stop().await;
}

#[actix_rt::test]
async fn calls_active_finished_and_history() {
    let ts = TestService::start().await;
    let (status, none) = ts.get("/api/calls").await;
    assert_eq!(status, 200);
    assert_eq!(none["count"], 0);

    let id = ts.sim.place_call("1001", "1002");
    wait_until("the call to be active", DEADLINE, || async {
        let (_, calls) = ts.get("/api/calls").await;
        calls["data"]
            .as_array()
            .is_some_and(|l| l.iter().any(|c| c["id"] == id.as_str()))
    })
    .await;
    let (status, active) = ts.get(&format!("/api/calls/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(active["data"]["id"], id.as_str());
    assert_eq!(active["data"]["caller"]["number"], "1001");
    assert!(active["data"]["endedAt"].is_null());

    ts.sim.answer_call(&id);
    wait_until("the call to be answered", DEADLINE, || async {
        ts.get(&format!("/api/calls/{id}")).await.1["data"]["answeredAt"].is_string()
    })
    .await;
    ts.sim.hangup_call(&id);
    wait_until("the call to end", DEADLINE, || async {
        ts.get(&format!("/api/calls/{id}")).await.1["data"]["endedAt"].is_string()
    })
    .await;
    let (status, ended) = ts.get(&format!("/api/calls/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(ended["data"]["outcome"], "answered");
    assert_eq!(ts.get("/api/calls").await.1["count"], 0);

    // A second, unanswered call between other extensions.
    let other = ts.sim.place_call("1005", "1006");
    wait_until("the second call to be active", DEADLINE, || async {
        ts.get(&format!("/api/calls/{other}")).await.0 == 200
    })
    .await;
    ts.sim.hangup_call(&other);

    wait_until("both calls in the stored history", DEADLINE, || async {
        ts.get("/api/calls/history").await.1["pagination"]["total"].as_i64() == Some(2)
    })
    .await;
    let (status, page) = ts.get("/api/calls/history").await;
    assert_eq!(status, 200);
    assert_eq!(page["success"], true);
    assert_eq!(page["pagination"]["page"], 1);
    assert_eq!(page["pagination"]["pageSize"], 50);
    // Newest first.
    assert_eq!(page["data"][0]["id"], other.as_str());
    assert_eq!(page["data"][1]["id"], id.as_str());

    let (_, p2) = ts.get("/api/calls/history?page=2&pageSize=1").await;
    assert_eq!(p2["data"].as_array().map(Vec::len), Some(1));
    assert_eq!(p2["data"][0]["id"], id.as_str());
    assert_eq!(p2["pagination"]["total"], 2);
    let (_, p3) = ts.get("/api/calls/history?page=3&pageSize=1").await;
    assert_eq!(p3["data"].as_array().map(Vec::len), Some(0));

    let (_, mine) = ts.get("/api/calls/history?extension=1001").await;
    let ids: Vec<&str> = mine["data"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert_eq!(ids, vec![id.as_str()]);
    let (_, nobody) = ts.get("/api/calls/history?extension=1049").await;
    assert_eq!(nobody["pagination"]["total"], 0);
    let (_, future) = ts.get("/api/calls/history?from=2999-01-01T00:00:00Z").await;
    assert_eq!(future["pagination"]["total"], 0);
    let (_, past) = ts.get("/api/calls/history?to=2000-01-01T00:00:00Z").await;
    assert_eq!(past["pagination"]["total"], 0);

    for bad in [
        "page=0",
        "page=-1",
        "page=one",
        "pageSize=0",
        "pageSize=501",
        "from=not-a-date",
        "from=2024-02-01T00:00:00Z&to=2024-01-01T00:00:00Z",
        "sort=asc",
        "outcome=ringing",
        "direction=sideways",
        "extension=1001&number=1002",
        "q=123456789012345678901234567890123",
    ] {
        let (status, body) = ts.get(&format!("/api/calls/history?{bad}")).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_error(&body, "INVALID_QUERY");
    }
    // A wrong word is answered with the words the filter takes.
    let (_, body) = ts.get("/api/calls/history?outcome=ringing").await;
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("noAnswer") && message.contains("lostWhileDisconnected"),
        "{message}"
    );
    let (_, body) = ts.get("/api/calls/history?direction=sideways").await;
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("inbound, outbound"), "{message}");
    // The filters the page sends are answered (no 400): by number, search,
    // outcome and direction.
    let (status, by_number) = ts.get("/api/calls/history?number=1001").await;
    assert_eq!(status, 200, "{by_number}");
    assert_eq!(by_number["pagination"]["total"], 1, "{by_number}");
    assert_eq!(by_number["data"][0]["id"], id.as_str());
    for good in [
        "q=100",
        "outcome=answered",
        "direction=internal",
        "q=User&outcome=busy",
    ] {
        let (status, body) = ts.get(&format!("/api/calls/history?{good}")).await;
        assert_eq!(status, 200, "{good}: {body}");
    }

    // A finished call is still found once it has left the live view: by the store.
    let (status, missing) = ts.get("/api/calls/no-such-call").await;
    assert_eq!(status, 404);
    assert_error(&missing, "CALL_NOT_FOUND");
    ts.stop().await;
}

#[actix_rt::test]
async fn admin_actors_and_metrics() {
    let ts = TestService::start().await;
    let (status, actors) = ts.get("/api/admin/actors").await;
    assert_eq!(status, 200);
    assert_eq!(actors["success"], true);
    let kinds = actors["byKind"].as_object().expect("byKind");
    for kind in ["hub", "refreshManager", "storeWriter"] {
        assert!(kinds.contains_key(kind), "{kind} listed: {actors}");
    }
    let list = actors["data"].as_array().expect("actors");
    assert_eq!(actors["count"].as_u64(), Some(list.len() as u64));
    for a in list {
        for field in ["kind", "name", "state"] {
            assert!(a[field].is_string(), "{field} of {a}");
        }
    }
    assert!(
        list.iter().filter(|a| a["kind"] == "extension").count() >= 50,
        "one actor per extension"
    );

    let (status, text) = ts.get_text("/metrics").await;
    assert_eq!(status, 200);
    let mut names = 0;
    for line in text.lines().filter(|l| !l.is_empty()) {
        let name = if let Some(rest) = line.strip_prefix("# ") {
            rest.split_whitespace()
                .nth(1)
                .expect("metric name in a comment")
        } else {
            line.split(['{', ' ']).next().expect("metric name")
        };
        assert!(
            name.starts_with("switchboard_"),
            "metric {name} in {line:?}"
        );
        names += 1;
    }
    assert!(names > 10, "metrics are exposed:\n{text}");
    ts.stop().await;
}

#[actix_rt::test]
async fn dashboard_index_or_json_404() {
    let ts = TestService::start().await;
    let mut res = ts.client().get(ts.url("/")).send().await.expect("GET /");
    let body = res.body().await.expect("body");
    let has_index = ts.service.state.static_dir.join("index.html").exists();
    if has_index {
        assert_eq!(res.status().as_u16(), 200);
        let ct = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        assert!(ct.starts_with("text/html"), "{ct}");
    } else {
        assert_eq!(res.status().as_u16(), 404);
        let body: Value = serde_json::from_slice(&body).expect("JSON 404");
        assert_error(&body, "NOT_FOUND");
    }
    let (status, body) = ts.get("/no/such/page.html").await;
    assert_eq!(status, 404);
    assert_error(&body, "NOT_FOUND");
    ts.stop().await;
}

#[actix_rt::test]
async fn unknown_routes_and_wrong_methods_are_json() {
    let ts = TestService::start().await;
    for path in [
        "/api/nope",
        "/api/extensions/1001/nope",
        "/api",
        "/api/calls/x/y",
    ] {
        let (status, body) = ts.get(path).await;
        assert_eq!(status, 404, "{path}");
        assert_error(&body, "NOT_FOUND");
    }
    let c = ts.client();
    let cases = [
        c.post(ts.url("/api/health")),
        c.delete(ts.url("/api/extensions")),
        c.put(ts.url("/api/extensions/1001")),
        c.post(ts.url("/api/extensions/1001/history")),
        c.post(ts.url("/api/calls")),
        c.delete(ts.url("/api/calls/history")),
        c.patch(ts.url("/api/calls/abc")),
        c.get(ts.url("/api/extensions/hybrid-refresh")),
        c.get(ts.url("/api/extensions/hybrid-refresh/close")),
        c.post(ts.url("/api/extensions/hybrid-refresh/status")),
        c.post(ts.url("/api/admin/actors")),
        c.post(ts.url("/metrics")),
        c.post(ts.url("/ws")),
    ];
    for req in cases {
        let what = format!("{} {}", req.get_method(), req.get_uri());
        let mut res = req.send().await.expect("answered");
        assert_eq!(res.status().as_u16(), 405, "{what}");
        let body: Value = serde_json::from_slice(&res.body().await.expect("body")).expect("JSON");
        assert_error(&body, "METHOD_NOT_ALLOWED");
    }
    ts.stop().await;
}

#[actix_rt::test]
async fn malformed_and_oversized_bodies() {
    let ts = TestService::with(Options::default().env("HTTP_BODY_LIMIT", "1024")).await;
    let url = ts.url("/api/extensions/hybrid-refresh");
    let c = ts.client();

    let mut res = c
        .post(&url)
        .insert_header(("content-type", "application/json"))
        .send_body("{\"pbx\": ")
        .await
        .expect("answered");
    assert_eq!(res.status().as_u16(), 400);
    let body: Value = serde_json::from_slice(&res.body().await.expect("body")).expect("JSON");
    assert_error(&body, "INVALID_JSON");

    let mut res = c
        .post(&url)
        .insert_header(("content-type", "application/json"))
        .send_body("{\"pbx\": 5}")
        .await
        .expect("answered");
    assert_eq!(
        res.status().as_u16(),
        400,
        "a known field of the wrong type is refused"
    );
    let body: Value = serde_json::from_slice(&res.body().await.expect("body")).expect("JSON");
    assert_error(&body, "INVALID_JSON");

    let big = format!("{{\"pbx\": \"{}\"}}", "x".repeat(4096));
    let mut res = c
        .post(&url)
        .insert_header(("content-type", "application/json"))
        .send_body(big)
        .await
        .expect("answered");
    assert_eq!(res.status().as_u16(), 413);
    let body: Value =
        serde_json::from_slice(&res.body().await.expect("body")).expect("413 is JSON");
    assert_error(&body, "BODY_TOO_LARGE");

    // Nothing was refreshed by any of them.
    assert_eq!(ts.sim.stats().logins_ok, 1);
    ts.stop().await;
}

/// The `data.at` the extension history echoes for `?at=` (to the millisecond).
async fn echoed_at(ts: &TestService, at: &str) -> (u16, Value) {
    let (status, h) = ts
        .get(&format!("/api/extensions/1004/history?at={at}"))
        .await;
    (status, h["data"]["at"].clone())
}

#[actix_rt::test]
async fn extension_history_reads_every_time_form() {
    let ts = TestService::start().await;
    wait_until("1004's first state stored", DEADLINE, || async {
        let (_, h) = ts.get("/api/extensions/1004/history").await;
        h["data"]["transitions"]
            .as_array()
            .is_some_and(|t| !t.is_empty())
    })
    .await;
    let want = "2026-12-07T10:32:00.000Z";
    for form in [
        "2026-12-07T10:32:00Z",
        // A literal `+` is decoded to a space; it is still the offset's sign.
        "2026-12-07T11:32:00+01:00",
        "2026-12-07T11:32:00%2B01:00",
        "2026-12-07T05:02:00-05:30",
        "1796639520",
        "1796639520000",
    ] {
        assert_eq!(
            echoed_at(&ts, form).await,
            (200, Value::from(want)),
            "{form}"
        );
    }
    assert_eq!(
        echoed_at(&ts, "2026-12-07").await,
        (200, Value::from("2026-12-07T00:00:00.000Z"))
    );
    assert_eq!(
        echoed_at(&ts, "1796639520123").await,
        (200, Value::from("2026-12-07T10:32:00.123Z"))
    );
    // A range in the future by date, one in the past by epoch seconds: both empty,
    // while the whole history is not.
    for range in ["from=2999-01-01", "to=946684800"] {
        let (status, h) = ts
            .get(&format!("/api/extensions/1004/history?{range}"))
            .await;
        assert_eq!(status, 200, "{range}: {h}");
        assert_eq!(h["data"]["transitions"], serde_json::json!([]), "{range}");
    }
    for (bad, name) in [
        ("at=yesterday", "at"),
        ("from=10:32", "from"),
        ("to=1.5", "to"),
    ] {
        let (status, body) = ts.get(&format!("/api/extensions/1004/history?{bad}")).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_error(&body, "INVALID_QUERY");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.starts_with(&format!("{name} must be RFC 3339")) && message.contains("epoch"),
            "{bad}: {message}"
        );
    }
    ts.stop().await;
}

#[actix_rt::test]
async fn call_history_reads_every_time_form() {
    let ts = TestService::start().await;
    let id = ts.sim.place_call("1001", "1002");
    wait_until("the call to be active", DEADLINE, || async {
        ts.get(&format!("/api/calls/{id}")).await.0 == 200
    })
    .await;
    ts.sim.hangup_call(&id);
    wait_until("the call in the stored history", DEADLINE, || async {
        ts.get("/api/calls/history").await.1["pagination"]["total"].as_i64() == Some(1)
    })
    .await;
    let (_, page) = ts.get("/api/calls/history").await;
    let started: DateTime<Utc> = page["data"][0]["startedAt"]
        .as_str()
        .expect("startedAt")
        .parse()
        .expect("RFC 3339");
    let plus_one = started.with_timezone(&chrono::FixedOffset::east_opt(3600).expect("offset"));
    let cases = [
        (format!("from={}", started.format("%Y-%m-%d")), 1),
        (format!("from={}", started.timestamp() - 1), 1),
        (format!("from={}", started.timestamp() + 2), 0),
        (format!("from={}", started.timestamp_millis() + 1000), 0),
        (format!("to={}", started.timestamp_millis() - 1000), 0),
        // The `+` of the offset decoded as a space, and the instant to the millisecond.
        (
            format!(
                "from={}&to={}",
                plus_one.to_rfc3339_opts(SecondsFormat::Millis, false),
                plus_one.to_rfc3339_opts(SecondsFormat::Millis, false)
            ),
            1,
        ),
    ];
    for (query, total) in cases {
        let (status, body) = ts.get(&format!("/api/calls/history?{query}")).await;
        assert_eq!(status, 200, "{query}: {body}");
        assert_eq!(body["pagination"]["total"], total, "{query}: {body}");
    }
    let (status, body) = ts.get("/api/calls/history?to=tomorrow").await;
    assert_eq!(status, 400, "{body}");
    assert_error(&body, "INVALID_QUERY");
    assert!(body["error"]["message"]
        .as_str()
        .is_some_and(|m| m.starts_with("to must be RFC 3339")));
    ts.stop().await;
}

#[actix_rt::test]
async fn unknown_extensions_and_pbxs_are_404() {
    let ts = TestService::start().await;
    let (status, body) = ts.get("/api/extensions/9999/history").await;
    assert_eq!(status, 404, "{body}");
    assert_error(&body, "NOT_FOUND");
    let (status, body) = ts.get("/api/extensions/1001/history").await;
    assert_eq!(status, 200, "a live extension: {body}");
    for route in [
        "/api/extensions",
        "/api/calls",
        "/api/calls/history",
        "/api/extensions/1001/history",
    ] {
        let (status, body) = ts.get(&format!("{route}?pbx=nope")).await;
        assert_eq!(status, 404, "{route}: {body}");
        assert_error(&body, "NOT_FOUND");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("nope")),
            "{route}: {body}"
        );
        let (status, body) = ts.get(&format!("{route}?pbx=default")).await;
        assert_eq!(status, 200, "{route} of the configured PBX: {body}");
    }
    let (_, list) = ts.get("/api/extensions?pbx=default").await;
    assert_eq!(list["count"], 50);
    ts.stop().await;
}

#[actix_rt::test]
async fn websocket_route_without_upgrade_is_426_json() {
    let ts = TestService::start().await;
    for extra in ["", "Upgrade: h2c\r\nConnection: Upgrade\r\n"] {
        let req =
            format!("GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{extra}\r\n");
        let res = crate::common::raw::request(ts.addr, req.as_bytes()).await;
        assert_eq!(res.status, 426, "{extra:?}: {}", res.head);
        assert!(res.head.contains("upgrade: websocket"), "{}", res.head);
        let body = res.json();
        assert_error(&body, "UPGRADE_REQUIRED");
    }
    // A real handshake still upgrades.
    let ws = ts.ws("/ws").await;
    ws.close().await;
    ts.stop().await;
}
