//! Whole-board refresh (#21): every PBX of the service refreshed in one request,
//! `REFRESH_MAX_SESSIONS` at a time with the rest queued, one per-PBX entry each,
//! requests for a PBX already being refreshed joining it.

use std::time::Duration;

use crate::common::service::{Options, TestService};
use crate::common::wait::{wait_until, DEADLINE};
use serde_json::Value;
use switchboard::sim::{SimConfig, SimHandle, Simulator};

const REFRESH: &str = "/api/extensions/hybrid-refresh";

/// `count` simulated PBXs (`pbx01`…) of `extensions` each, one service for all.
struct Board {
    ts: TestService,
    /// Every PBX's simulator, `pbx01` first (the service's `sim` is the same one).
    sims: Vec<SimHandle>,
    names: Vec<String>,
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

impl Board {
    async fn start(count: usize, extensions: u32, env: &[(&'static str, &str)]) -> Self {
        let cfg = SimConfig {
            extensions,
            rate: 0.0,
            ..SimConfig::default()
        };
        let names: Vec<String> = (1..=count).map(|i| format!("pbx{i:02}")).collect();
        let mut sims = Vec::with_capacity(count);
        for i in 0..count {
            let sim = Simulator::spawn(
                "127.0.0.1:0".parse().expect("loopback"),
                SimConfig {
                    seed: i as u64 + 1,
                    ..cfg.clone()
                },
            )
            .expect("simulator starts");
            sims.push(sim);
        }
        let mut opts = Options {
            sim: cfg,
            wait_ready: false,
            ..Options::default()
        }
        .env("AMI_PBXS", names.join(","));
        for (name, sim) in names.iter().zip(&sims) {
            opts = opts.env(
                leak(format!("AMI_{}_PORT", name.to_uppercase())),
                sim.addr().port().to_string(),
            );
        }
        for (k, v) in env {
            opts = opts.env(k, *v);
        }
        let ts = TestService::with_sim(sims[0].clone(), opts).await;
        let total = count as u64 * u64::from(extensions);
        wait_until("every PBX's extensions", DEADLINE, || async {
            ts.get("/api/extensions").await.1["count"].as_u64() == Some(total)
        })
        .await;
        Self { ts, sims, names }
    }

    fn logins(&self) -> Vec<u64> {
        self.sims.iter().map(|s| s.stats().logins_ok).collect()
    }

    async fn stop(self) {
        self.ts.stop().await;
        for s in &self.sims[1..] {
            s.stop();
        }
    }
}

/// A POST of the refresh in the background: (status, body).
fn spawn_refresh(url: String, body: &'static str) -> actix_rt::task::JoinHandle<(u16, Value)> {
    actix_rt::spawn(async move {
        let mut res = awc::Client::builder()
            .timeout(Duration::from_secs(60))
            .finish()
            .post(url)
            .insert_header(("content-type", "application/json"))
            .send_body(body)
            .await
            .expect("answered");
        let body: Value = res.json().limit(64 << 20).await.expect("JSON");
        (res.status().as_u16(), body)
    })
}

#[actix_rt::test]
async fn twenty_pbxs_refresh_in_one_request_with_a_part_each() {
    let board = Board::start(20, 100, &[]).await;
    let ts = &board.ts;
    let before = board.logins();
    let (status, body) = ts.post(REFRESH).await;
    assert_eq!(status, 200, "{}", body["error"]);
    assert_eq!(
        body["message"],
        "Extension status refresh completed via separate Hybrid AMI connection"
    );
    let d = &body["data"];
    assert_eq!(d["extensionsChecked"], 2000);
    assert_eq!(d["statistics"]["successfulQueries"], 2000);
    assert_eq!(d["statistics"]["failedQueries"], 0);
    assert_eq!(d["results"].as_array().map(Vec::len), Some(2000));
    assert!(d["connectionId"].as_str().is_some_and(|s| !s.is_empty()));
    let parts = d["pbxs"].as_array().expect("pbxs");
    let names: Vec<&str> = parts.iter().filter_map(|p| p["pbx"].as_str()).collect();
    assert_eq!(names, board.names, "one part per PBX, in name order");
    let mut ids = std::collections::BTreeSet::new();
    for p in parts {
        assert_eq!(p["extensionsChecked"], 100, "{p}");
        assert_eq!(p["statistics"]["successfulQueries"], 100, "{p}");
        assert!(p.get("error").is_none(), "{p}");
        ids.insert(p["connectionId"].as_str().expect("session id").to_string());
    }
    assert_eq!(ids.len(), 20, "a session per PBX");
    assert!(
        !ids.contains(d["connectionId"].as_str().unwrap_or_default()),
        "the run has its own id"
    );
    // Each PBX answered for its own extensions.
    for (i, sim) in board.sims.iter().enumerate() {
        let truth = sim.snapshot().extensions;
        let name = &board.names[i];
        let mine: Vec<&Value> = d["results"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| r["pbx"] == name.as_str())
            .collect();
        assert_eq!(mine.len(), 100, "{name}");
        for r in mine {
            let n = r["extension"].as_str().expect("number");
            assert_eq!(
                r["status"].as_i64(),
                truth.get(n).map(|s| i64::from(*s)),
                "{name}: {r}"
            );
        }
    }
    let after = board.logins();
    for (i, (a, b)) in after.iter().zip(&before).enumerate() {
        assert_eq!(a - b, 1, "one refresh login at {}", board.names[i]);
    }
    board.stop().await;
}

/// A refresh of a PBX the whole-board refresh is reading joins it: same session,
/// one login at that PBX.
#[actix_rt::test]
async fn a_refresh_of_a_pbx_being_refreshed_joins_it() {
    let board = Board::start(3, 20, &[]).await;
    let ts = &board.ts;
    let before = board.logins();
    board.sims[1].delay_lists(Duration::from_secs(30));
    let whole = spawn_refresh(ts.url(REFRESH), "");
    wait_until("pbx02's session logged in", DEADLINE, || async {
        let st = ts.get(&format!("{REFRESH}/status")).await.1;
        st["data"]["connections"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["pbx"] == "pbx02" && c["connectionState"] == "connected")
    })
    .await;
    let single = spawn_refresh(ts.url(REFRESH), r#"{"pbx": "pbx02"}"#);
    wait_until("the single request joining", DEADLINE, || async {
        let text = ts.get_text("/metrics").await.1;
        text.lines()
            .any(|l| l.starts_with("switchboard_refreshes_total{result=\"joined\"} 1"))
    })
    .await;
    board.sims[1].delay_lists(Duration::ZERO);
    let (status, one) = single.await.expect("request task");
    assert_eq!(status, 200, "{one}");
    let (status, all) = whole.await.expect("request task");
    assert_eq!(status, 200, "{all}");

    let part = all["data"]["pbxs"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["pbx"] == "pbx02")
        .expect("pbx02's part")
        .clone();
    assert_eq!(one["data"]["connectionId"], part["connectionId"], "joined");
    assert_eq!(one["data"]["extensionsChecked"], 20);
    assert_eq!(one["data"]["pbx"], "pbx02");
    assert_eq!(
        board.sims[1].stats().logins_ok - before[1],
        1,
        "one login at pbx02 for both requests"
    );
    board.stop().await;
}

/// With one session allowed and a slow PBX being refreshed, a refresh of another PBX
/// waits its turn (queued, not logged in) and then succeeds — not `REFRESH_BUSY`.
#[actix_rt::test]
async fn with_one_session_a_second_pbx_waits_its_turn() {
    let board = Board::start(2, 10, &[("REFRESH_MAX_SESSIONS", "1")]).await;
    let ts = &board.ts;
    let before = board.logins();
    board.sims[0].delay_lists(Duration::from_secs(30));
    let slow = spawn_refresh(ts.url(REFRESH), r#"{"pbx": "pbx01"}"#);
    wait_until("pbx01's session open", DEADLINE, || async {
        ts.get(&format!("{REFRESH}/status")).await.1["data"]["activeConnections"] == 1
    })
    .await;
    let waiting = spawn_refresh(ts.url(REFRESH), r#"{"pbx": "pbx02"}"#);
    wait_until("pbx02 queued", DEADLINE, || async {
        ts.get(&format!("{REFRESH}/status")).await.1["data"]["queuedRefreshes"] == 1
    })
    .await;
    let (_, st) = ts.get(&format!("{REFRESH}/status")).await;
    assert_eq!(st["data"]["activeConnections"], 1, "{st}");
    assert_eq!(st["data"]["connections"][0]["pbx"], "pbx01", "{st}");
    assert_eq!(
        board.sims[1].stats().logins_ok,
        before[1],
        "pbx02 not logged in while it waits"
    );

    board.sims[0].delay_lists(Duration::ZERO);
    let (status, first) = slow.await.expect("request task");
    assert_eq!(status, 200, "{first}");
    let (status, second) = waiting.await.expect("request task");
    assert_eq!(status, 200, "waited, not refused: {second}");
    assert_eq!(second["data"]["pbx"], "pbx02");
    assert_eq!(second["data"]["extensionsChecked"], 10);
    assert_eq!(board.sims[1].stats().logins_ok - before[1], 1);
    board.stop().await;
}

/// A PBX that is down makes its part an error; the answer stays 200 while another
/// PBX was read, and is the error itself when none was.
#[actix_rt::test]
async fn a_failed_pbx_is_listed_and_only_all_failing_is_an_error() {
    let board = Board::start(3, 10, &[]).await;
    let ts = &board.ts;
    board.sims[2].refuse_logins(true);
    let (status, body) = ts.post(REFRESH).await;
    assert_eq!(status, 200, "{body}");
    let d = &body["data"];
    assert_eq!(d["extensionsChecked"], 20, "{body}");
    let parts = d["pbxs"].as_array().expect("pbxs");
    assert_eq!(parts.len(), 3);
    assert_eq!(parts[2]["pbx"], "pbx03");
    assert_eq!(parts[2]["error"]["code"], "PBX_LOGIN_REFUSED", "{body}");
    assert_eq!(parts[2]["connectionId"], Value::Null, "{body}");
    assert!(
        parts[..2].iter().all(|p| p.get("error").is_none()),
        "{body}"
    );

    for sim in &board.sims {
        sim.refuse_logins(true);
    }
    let (status, body) = ts.post(REFRESH).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["success"], false);
    assert_eq!(body["error"]["code"], "PBX_LOGIN_REFUSED", "{body}");
    for sim in &board.sims {
        sim.refuse_logins(false);
    }
    board.stop().await;
}

/// `REFRESH_BUSY` only past the documented bound: 64 × `REFRESH_MAX_SESSIONS`
/// requests waiting on one PBX's refresh; the ones within it all get the answer.
#[actix_rt::test]
async fn busy_only_past_the_bound_of_waiting_requests() {
    let board = Board::start(1, 10, &[("REFRESH_MAX_SESSIONS", "1")]).await;
    let ts = &board.ts;
    board.sims[0].delay_lists(Duration::from_secs(30));
    let mut waiting = Vec::new();
    for _ in 0..64 {
        waiting.push(spawn_refresh(ts.url(REFRESH), ""));
    }
    wait_until("63 requests joining the first", DEADLINE, || async {
        let text = ts.get_text("/metrics").await.1;
        text.lines()
            .any(|l| l.starts_with("switchboard_refreshes_total{result=\"joined\"} 63"))
    })
    .await;
    let (status, refused) = ts.post(REFRESH).await;
    assert_eq!(status, 503, "{refused}");
    assert_eq!(refused["error"]["code"], "REFRESH_BUSY", "{refused}");
    board.sims[0].delay_lists(Duration::ZERO);
    let mut ids = std::collections::BTreeSet::new();
    for w in waiting {
        let (status, body) = w.await.expect("request task");
        assert_eq!(status, 200, "{body}");
        ids.insert(body["data"]["connectionId"].to_string());
    }
    assert_eq!(ids.len(), 1, "one session answered all 64: {ids:?}");
    board.stop().await;
}
