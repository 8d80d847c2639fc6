//! Hybrid refresh over its own AMI login: the answer, status and close shapes,
//! concurrent requests sharing one login, and a PBX that is down or refuses.

use crate::common::service::{Options, TestService};
use crate::common::wait::{wait_until, DEADLINE};
use serde_json::Value;
use switchboard::sim::{SimConfig, Simulator};

const REFRESH: &str = "/api/extensions/hybrid-refresh";
const SEED_MESSAGE: &str = "Extension status refresh completed via separate Hybrid AMI connection";

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
    assert_eq!(
        body["message"], SEED_MESSAGE,
        "the old service's message: {body}"
    );
    assert!(
        body["summary"].as_str().is_some_and(|m| m.contains("50")),
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
        serde_json::json!({
            "success": true,
            "message": "All separate connections closed successfully",
            "closedConnections": 0
        })
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
    // Challenge, Login, ExtensionStateList, one ExtensionState, Logoff — not 51
    // queries — and then one PJSIPShowEndpoint per PJSIP hint for the names.
    let used = ts.sim.stats().actions - actions;
    assert!(used <= 6 + 50, "{used} actions for the refresh");
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
    assert_eq!(
        c["connectionState"], "connecting",
        "not logged in yet: {st}"
    );
    assert_eq!(c["phase"], "loggingIn", "{st}");

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

/// The old service's page sends `{"useSeparateConnection": true, "timestamp": …}`;
/// unknown fields are ignored, an empty body needs no Content-Type, and a known
/// field of the wrong type is still refused.
#[actix_rt::test]
async fn the_old_services_bodies_are_accepted_and_wrong_types_refused() {
    let ts = TestService::start().await;
    let c = ts.client();
    let logins = ts.sim.stats().logins_ok;
    let bodies = [
        (
            Some("application/json"),
            r#"{"useSeparateConnection": true, "timestamp": 1703123456789}"#,
        ),
        (
            Some("application/json"),
            r#"{"pbx": "default", "extra": [1, 2]}"#,
        ),
        (Some("application/json"), ""),
        (None, ""),
    ];
    for (kind, body) in bodies {
        let mut req = c.post(ts.url(REFRESH));
        if let Some(k) = kind {
            req = req.insert_header(("content-type", k));
        }
        let mut res = req.send_body(body).await.expect("answered");
        let answer: Value = res.json().limit(1 << 20).await.expect("JSON");
        assert_eq!(res.status().as_u16(), 200, "{body:?}: {answer}");
        assert_eq!(answer["message"], SEED_MESSAGE, "{answer}");
        assert_eq!(answer["data"]["extensionsChecked"], 50, "{answer}");
    }
    assert_eq!(ts.sim.stats().logins_ok, logins + 4, "each one refreshed");

    for wrong in [
        r#"{"pbx": 5}"#,
        r#"{"useSeparateConnection": "yes"}"#,
        r#"{"timestamp": "now"}"#,
        "[]",
    ] {
        let mut res = c
            .post(ts.url(REFRESH))
            .insert_header(("content-type", "application/json"))
            .send_body(wrong)
            .await
            .expect("answered");
        let answer: Value = res.json().await.expect("JSON");
        assert_eq!(res.status().as_u16(), 400, "{wrong}: {answer}");
        assert_error(&answer, "INVALID_JSON");
    }
    assert_eq!(
        ts.sim.stats().logins_ok,
        logins + 4,
        "no refresh for a refused body"
    );
    ts.stop().await;
}

/// An extension the PBX answers Error for is a failed result with the PBX's reason;
/// the others are read and the statistics count it as failed.
#[actix_rt::test]
async fn an_extension_the_pbx_fails_is_reported_and_the_others_read() {
    let ts = TestService::start().await;
    ts.sim.fail_extensions(&["1003", "1017"]);
    let (status, body) = ts.post(REFRESH).await;
    assert_eq!(status, 200, "{body}");
    let d = &body["data"];
    assert_eq!(d["extensionsChecked"], 50, "{body}");
    assert_eq!(d["statistics"]["successfulQueries"], 48, "{body}");
    assert_eq!(d["statistics"]["failedQueries"], 2, "{body}");
    let results = d["results"].as_array().expect("results");
    assert_eq!(results.len(), 50);
    let failed: Vec<&Value> = results.iter().filter(|r| r["success"] == false).collect();
    let mut names: Vec<&str> = failed
        .iter()
        .filter_map(|r| r["extension"].as_str())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["1003", "1017"], "{body}");
    for r in failed {
        assert!(
            r["error"]
                .as_str()
                .is_some_and(|e| e.contains("Simulated failure")),
            "the PBX's reason: {r}"
        );
        assert_eq!(r["status"], Value::Null, "{r}");
    }
    let truth = ts.sim.snapshot().extensions;
    for r in results.iter().filter(|r| r["success"] == true) {
        let n = r["extension"].as_str().expect("number");
        assert_eq!(
            r["status"].as_i64(),
            truth.get(n).map(|s| i64::from(*s)),
            "{r}"
        );
    }
    ts.sim.fail_extensions(&[]);
    ts.stop().await;
}

/// `LOG_LEVEL=debug` on the real binary: each extension a refresh queried and its
/// result, in the old service's words (`Querying extension 1001 via separate
/// connection` / `Extension 1001: online (0)`).
#[actix_rt::test]
async fn debug_log_names_each_extension_queried_and_its_state() {
    use std::process::{Command, Stdio};

    let sim = Simulator::spawn(
        "127.0.0.1:0".parse().expect("loopback"),
        SimConfig {
            extensions: 5,
            rate: 0.0,
            ..SimConfig::default()
        },
    )
    .expect("simulator");
    sim.set_extension_state("1001", 0);
    sim.set_extension_state("1002", 1);
    let dir = tempfile::tempdir().expect("temp dir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let log = dir.path().join("switchboard.log");
    let child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .arg("serve")
        .current_dir(dir.path())
        .env_clear()
        .env("LOG_LEVEL", "debug")
        .env("AMI_HOST", "127.0.0.1")
        .env("AMI_PORT", sim.addr().port().to_string())
        .env("AMI_USERNAME", "admin")
        .env("AMI_SECRET", "amisecret")
        .env(
            "DATABASE_URL",
            format!("sqlite://{}", dir.path().join("sb.db").display()),
        )
        .env("HTTP_BIND", format!("127.0.0.1:{port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("start the switchboard binary");
    // Ended (by its own PID) however the test ends.
    let child = crate::common::child::OwnedChild::new(child, Some(log.clone()));
    let client = awc::Client::default();
    let base = format!("http://127.0.0.1:{port}");
    wait_until("the service to know 5 extensions", DEADLINE, || {
        let client = client.clone();
        let url = format!("{base}/api/extensions");
        async move {
            match client.get(url).send().await {
                Ok(mut res) => res.json::<Value>().await.is_ok_and(|v| v["count"] == 5),
                Err(_) => false,
            }
        }
    })
    .await;
    // Only now: the main connection's own list at login would leave it out too.
    sim.fail_extensions(&["1004"]);
    let mut res = client
        .post(format!("{base}{REFRESH}"))
        .send()
        .await
        .expect("answered");
    let body: Value = res.json().await.expect("JSON");
    assert_eq!(res.status().as_u16(), 200, "{body}");
    drop(child);
    sim.stop();

    let text = std::fs::read_to_string(&log).expect("log");
    for exten in ["1001", "1002", "1003", "1004", "1005"] {
        let line = format!("Querying extension {exten} via separate connection");
        assert!(text.contains(&line), "missing {line:?} in:\n{text}");
    }
    for line in [
        "Extension 1001: online (0)",
        "Extension 1002: inUse (1)",
        "Extension 1004: failed (Simulated failure for this extension)",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
    assert!(!text.contains("amisecret"), "no secret in the log");
}

/// An extension the PBX never answers for is a failed result once
/// `REFRESH_QUERY_TIMEOUT_MS` is up; the others are read, and the session logs off.
#[actix_rt::test]
async fn an_extension_the_pbx_never_answers_fails_at_the_timeout() {
    let ts = TestService::with(Options::default().env("REFRESH_QUERY_TIMEOUT_MS", "500")).await;
    ts.sim.silence_extensions(&["1005"]);
    let (status, body) = ts.post(REFRESH).await;
    assert_eq!(status, 200, "{body}");
    let d = &body["data"];
    assert_eq!(d["extensionsChecked"], 50, "{body}");
    assert_eq!(d["statistics"]["successfulQueries"], 49, "{body}");
    assert_eq!(d["statistics"]["failedQueries"], 1, "{body}");
    let results = d["results"].as_array().expect("results");
    let failed: Vec<&Value> = results.iter().filter(|r| r["success"] == false).collect();
    assert_eq!(failed.len(), 1, "{body}");
    assert_eq!(failed[0]["extension"], "1005");
    assert!(
        failed[0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("timed out")),
        "{}",
        failed[0]
    );
    wait_until("the refresh login to log off", DEADLINE, || async {
        ts.sim.stats().sessions == 1
    })
    .await;
    ts.sim.silence_extensions(&[]);
    ts.stop().await;
}
