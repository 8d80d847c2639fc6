//! Hybrid refresh over its own AMI login: the answer, status and close shapes,
//! concurrent requests sharing one login, and a PBX that is down or refuses.

use crate::common::service::{Options, TestService};
use crate::common::wait::{wait_until, DEADLINE};
use serde_json::Value;
use switchboard::sim::{SimConfig, Simulator};

const REFRESH: &str = "/api/extensions/hybrid-refresh";

#[track_caller]
fn assert_error(body: &Value, code: &str) {
    assert_eq!(body["success"], false, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(body["error"]["message"]
        .as_str()
        .is_some_and(|m| !m.is_empty()));
}

#[actix_rt::test]
async fn refresh_reads_every_extension_and_answers_the_documented_shape() {
    let ts = TestService::start().await;
    let mut ws = ts.ws("/ws").await;
    assert_eq!(ws.next_json().await["type"], "snapshot");
    ts.sim.set_extension_state("1010", 1);
    ts.wait_extension_status("1010", 1).await;
    let logins = ts.sim.stats().logins_ok;

    let (status, body) = ts.post(REFRESH).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["success"], true);
    assert!(
        body["message"].as_str().is_some_and(|m| m.contains("50")),
        "{body}"
    );
    let d = &body["data"];
    assert!(d["connectionId"].as_str().is_some_and(|s| !s.is_empty()));
    assert_eq!(d["extensionsChecked"], 50);
    assert!(d["lastQueryTime"]
        .as_str()
        .is_some_and(|t| t.parse::<chrono::DateTime<chrono::Utc>>().is_ok()));
    assert_eq!(d["statistics"]["successfulQueries"], 50);
    assert_eq!(d["statistics"]["failedQueries"], 0);
    let results = d["results"].as_array().expect("results");
    assert_eq!(results.len(), 50);
    let truth = ts.sim.snapshot().extensions;
    for r in results {
        let n = r["extension"].as_str().expect("number");
        assert_eq!(r["success"], true, "{r}");
        assert_eq!(
            r["status"].as_i64(),
            truth.get(n).map(|s| i64::from(*s)),
            "{r}"
        );
    }
    assert_eq!(
        results
            .iter()
            .find(|r| r["extension"] == "1010")
            .map(|r| r["state"].clone()),
        Some(Value::from("inUse"))
    );
    assert_eq!(ts.sim.stats().logins_ok, logins + 1, "one login of its own");

    // The refresh is announced to subscribers, and its session is gone afterwards
    // (logged off: the simulator is back to the main connection only).
    ws.until("refresh.completed", |v| v["type"] == "refresh.completed")
        .await;
    wait_until("the refresh login to log off", DEADLINE, || async {
        ts.sim.stats().sessions == 1
    })
    .await;
    let (status, st) = ts.get(&format!("{REFRESH}/status")).await;
    assert_eq!(status, 200);
    assert_eq!(st["success"], true);
    assert_eq!(st["data"]["activeConnections"], 0);
    assert_eq!(st["data"]["connections"], Value::Array(vec![]));
    let (status, closed) = ts.post(&format!("{REFRESH}/close")).await;
    assert_eq!(status, 200);
    assert_eq!(
        closed,
        serde_json::json!({"success": true, "closedConnections": 0})
    );

    let mut res = ts
        .client()
        .post(ts.url(REFRESH))
        .insert_header(("content-type", "application/json"))
        .send_body(r#"{"pbx":"elsewhere"}"#)
        .await
        .expect("answered");
    assert_eq!(res.status().as_u16(), 404, "unknown PBX");
    let body: Value = res.json().await.expect("JSON");
    assert_error(&body, "NOT_FOUND");
    ts.stop().await;
}

/// The refresh reads the PBX's hint list in one action and asks `ExtensionState` only
/// for a known extension the list does not name (here one the PBX announced but has
/// no hint for): every known extension gets the PBX's own answer, with a fraction of
/// the actions one query per extension would take.
#[actix_rt::test]
async fn one_list_then_single_queries_only_for_what_the_list_lacks() {
    let ts = TestService::start().await;
    let context = ts.extension("1001").await["context"]
        .as_str()
        .expect("context")
        .to_string();
    // An ExtensionStatus the PBX sends for an extension it lists no hint for.
    ts.sim.send_garbage(
        format!(
            "Event: ExtensionStatus\r\nPrivilege: call,all\r\nExten: 7777\r\nContext: {context}\r\n\
             Hint: PJSIP/7777\r\nStatus: 1\r\nStatusText: InUse\r\n\r\n"
        )
        .as_bytes(),
    );
    ts.wait_extension_status("7777", 1).await;
    let actions = ts.sim.stats().actions;

    let (status, body) = ts.post(REFRESH).await;
    assert_eq!(status, 200, "{body}");
    let d = &body["data"];
    assert_eq!(d["extensionsChecked"], 51, "{body}");
    assert_eq!(d["statistics"]["successfulQueries"], 51, "{body}");
    let results = d["results"].as_array().expect("results");
    let lone = results
        .iter()
        .find(|r| r["extension"] == "7777")
        .expect("7777 answered");
    assert_eq!(lone["status"], -1, "the PBX's own answer for it: {lone}");
    let truth = ts.sim.snapshot().extensions;
    for r in results.iter().filter(|r| r["extension"] != "7777") {
        let n = r["extension"].as_str().expect("number");
        assert_eq!(
            r["status"].as_i64(),
            truth.get(n).map(|s| i64::from(*s)),
            "{r}"
        );
    }
    // Challenge, Login, ExtensionStateList, one ExtensionState, Logoff — not 51 queries.
    let used = ts.sim.stats().actions - actions;
    assert!(used <= 6, "{used} actions for the refresh");
    ts.wait_extension_status("7777", -1).await;
    ts.stop().await;
}

#[actix_rt::test]
async fn status_shows_an_open_session_and_close_ends_it() {
    let ts = TestService::with(Options::default().env("AMI_LOGIN_TIMEOUT_MS", "15000")).await;
    // A frozen PBX keeps the refresh in its login, so the session stays open.
    ts.sim.freeze(true);
    let url = ts.url(REFRESH);
    let pending = actix_rt::spawn(async move {
        let mut res = awc::Client::new().post(url).send().await.expect("answered");
        let body: Value = res.json().await.expect("JSON");
        (res.status().as_u16(), body)
    });
    wait_until("one open refresh session", DEADLINE, || async {
        ts.get(&format!("{REFRESH}/status")).await.1["data"]["activeConnections"] == 1
    })
    .await;
    let (_, st) = ts.get(&format!("{REFRESH}/status")).await;
    let c = &st["data"]["connections"][0];
    assert!(
        c["connectionId"]
            .as_str()
            .is_some_and(|s| s.starts_with("refresh-")),
        "{st}"
    );
    assert!(
        c["createdAt"].is_string() && c["lastUsed"].is_string(),
        "{st}"
    );
    assert_eq!(c["isHealthy"], true);
    assert_eq!(c["connectionState"], "connecting");

    let (status, closed) = ts.post(&format!("{REFRESH}/close")).await;
    assert_eq!(status, 200);
    assert_eq!(closed["success"], true);
    assert_eq!(closed["closedConnections"], 1);
    let (status, body) = pending.await.expect("request task");
    assert_eq!(status, 503, "{body}");
    assert_error(&body, "REFRESH_CLOSED");
    wait_until("no open refresh session", DEADLINE, || async {
        ts.get(&format!("{REFRESH}/status")).await.1["data"]["activeConnections"] == 0
    })
    .await;
    ts.sim.freeze(false);
    ts.stop().await;
}

#[actix_rt::test]
async fn ten_concurrent_refreshes_share_one_login() {
    let opts = Options {
        sim: SimConfig {
            extensions: 1000,
            rate: 0.0,
            ..SimConfig::default()
        },
        ..Options::default()
    }
    .env("AMI_LOGIN_TIMEOUT_MS", "15000")
    .env("REFRESH_MAX_SESSIONS", "2");
    let ts = TestService::with(opts).await;
    let logins = ts.sim.stats().logins_ok;
    // Hold the first login (frozen PBX) until all ten requests are in, so the
    // sharing does not depend on timing.
    ts.sim.freeze(true);
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let url = ts.url(REFRESH);
        tasks.push(actix_rt::spawn(async move {
            let mut res = awc::Client::builder()
                .timeout(std::time::Duration::from_secs(60))
                .finish()
                .post(url)
                .send()
                .await
                .expect("answered");
            let body: Value = res.json().limit(16 << 20).await.expect("JSON");
            (res.status().as_u16(), body)
        }));
    }
    wait_until("nine requests joining the first", DEADLINE, || async {
        let text = ts.get_text("/metrics").await.1;
        text.lines()
            .any(|l| l.starts_with("switchboard_refreshes_total{result=\"joined\"} 9"))
    })
    .await;
    ts.sim.freeze(false);
    let mut ids = std::collections::BTreeSet::new();
    for t in tasks {
        let (status, body) = t.await.expect("request task");
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"]["extensionsChecked"], 1000);
        assert_eq!(body["data"]["statistics"]["successfulQueries"], 1000);
        ids.insert(
            body["data"]["connectionId"]
                .as_str()
                .expect("id")
                .to_string(),
        );
    }
    assert_eq!(
        ids.len(),
        1,
        "every answer comes from the same session: {ids:?}"
    );
    assert_eq!(
        ts.sim.stats().logins_ok - logins,
        1,
        "one login for ten requests"
    );
    ts.stop().await;
}

#[actix_rt::test]
async fn refresh_while_the_pbx_refuses_or_is_down() {
    let ts = TestService::start().await;
    let (_, before) = ts.get("/api/health").await;
    let reconnects = before["data"]["ami"]["reconnects"].clone();

    // Refused login: 502, and the main connection (already logged in) is untouched.
    ts.sim.refuse_logins(true);
    let (status, body) = ts.post(REFRESH).await;
    assert_eq!(status, 502, "{body}");
    assert_error(&body, "PBX_LOGIN_REFUSED");
    assert!(body["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("refused")));
    assert!(
        !body.to_string().contains("amisecret"),
        "no secret in the answer"
    );
    let (_, h) = ts.get("/api/health").await;
    assert_eq!(h["data"]["ami"]["state"], "connected");
    assert_eq!(h["data"]["ami"]["reconnects"], reconnects);
    assert_eq!(h["data"]["status"], "ok");
    ts.sim.refuse_logins(false);
    assert_eq!(
        ts.get(&format!("{REFRESH}/status")).await.1["data"]["activeConnections"],
        0
    );

    // PBX down: 503 with the reason; the main connection is down because the PBX is.
    let addr = ts.sim.addr();
    ts.sim.stop();
    let (status, body) = ts.post(REFRESH).await;
    assert_eq!(status, 503, "{body}");
    assert_error(&body, "PBX_UNREACHABLE");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("unreachable")),
        "{body}"
    );
    assert_eq!(
        ts.get(&format!("{REFRESH}/status")).await.1["data"]["activeConnections"],
        0
    );

    // The PBX comes back on the same address: the main connection reconnects by
    // itself and refresh works again.
    let sim2 = Simulator::spawn(
        addr,
        SimConfig {
            rate: 0.0,
            ..SimConfig::default()
        },
    )
    .expect("simulator restarts on the same port");
    wait_until("the main connection back", DEADLINE, || async {
        ts.get("/api/health").await.1["data"]["ami"]["state"] == "connected"
    })
    .await;
    let (status, body) = ts.post(REFRESH).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["statistics"]["successfulQueries"], 50);
    ts.stop().await;
    sim2.stop();
}
