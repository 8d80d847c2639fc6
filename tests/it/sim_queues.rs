//! Queues against the simulator: the API's queues equal what the PBX itself
//! believes (scripted callers, an answer, a caller who gives up, a pause, then a
//! spell of generated traffic), `queue.updated` reaches WebSocket subscribers
//! through the `queues` filter, `/metrics` has the queue gauges, queue calls are
//! stored with their queue, wait and outcome, and bad input is refused with JSON.

use std::time::Duration;

use crate::common::service::{metric_value, Options, TestService};
use crate::common::wait::{wait_until, DEADLINE};
use serde_json::Value;
use switchboard::sim::{SimConfig, SimQueueTruth};

fn options() -> Options {
    Options {
        sim: SimConfig {
            rate: 0.0,
            extensions: 20,
            queues: 2,
            seed: 11,
            ..SimConfig::default()
        },
        ..Options::default()
    }
}

/// A queue in the truth's terms: waiting uniqueids, members as (interface, name,
/// state JSON), and the day's offered, answered and abandoned.
type View = (Vec<String>, Vec<(String, String, Value)>, [u64; 3]);

/// The API's picture of a queue as a [`View`].
fn api_view(q: &Value) -> View {
    let waiting = q["callers"]
        .as_array()
        .expect("callers")
        .iter()
        .map(|c| c["uniqueid"].as_str().expect("uniqueid").to_string())
        .collect();
    let members = q["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| {
            let mut state = serde_json::json!({ "state": m["state"] });
            if m["state"] == "paused" {
                state["pausedReason"] = m["pausedReason"].clone();
            }
            (
                m["interface"].as_str().expect("interface").to_string(),
                m["name"].as_str().expect("name").to_string(),
                state,
            )
        })
        .collect();
    let t = &q["today"];
    let n = |k: &str| t[k].as_u64().expect("a count");
    (
        waiting,
        members,
        [n("offered"), n("answered"), n("abandoned")],
    )
}

fn truth_view(q: &SimQueueTruth) -> View {
    let members = q
        .members
        .iter()
        .map(|m| {
            (
                m.interface.clone(),
                m.name.clone(),
                serde_json::to_value(&m.state).expect("state"),
            )
        })
        .collect();
    (
        q.waiting.clone(),
        members,
        [q.offered, q.answered, q.abandoned],
    )
}

async fn wait_api_matches_truth(ts: &TestService, what: &str) {
    wait_until(what, DEADLINE, || async {
        let truth = ts.sim.snapshot().queues;
        let (status, body) = ts.get("/api/queues").await;
        if status != 200 {
            return false;
        }
        let api: Vec<_> = body["data"].as_array().cloned().unwrap_or_default();
        api.len() == truth.len()
            && truth.iter().all(|t| {
                api.iter()
                    .any(|q| q["name"] == t.name.as_str() && api_view(q) == truth_view(t))
            })
    })
    .await;
}

#[actix_rt::test]
async fn queues_follow_the_simulated_pbx_through_api_websocket_and_metrics() {
    let ts = TestService::with(options()).await;
    wait_api_matches_truth(&ts, "the queues read at login").await;
    let (_, support) = ts.get("/api/queues/support").await;
    assert_eq!(support["data"]["members"].as_array().map(Vec::len), Some(4));

    // A subscriber of `support` only; its first message is the snapshot.
    let mut ws = ts.ws("/ws?kind=queues&queues=support").await;
    let snap = ws.next_json().await;
    assert_eq!(snap["type"], "snapshot");
    assert_eq!(snap["data"]["queues"].as_array().map(Vec::len), Some(1));
    assert_eq!(snap["data"]["extensions"].as_array().map(Vec::len), Some(0));

    let first = ts.sim.queue_join("support", "0201111111").expect("queued");
    let second = ts.sim.queue_join("support", "0202222222").expect("queued");
    ts.sim.queue_join("sales", "0203333333").expect("queued");
    assert!(ts.sim.queue_pause("support", "PJSIP/1002", Some("lunch")));
    let seen = ws
        .until("support's second caller and the lunch pause", |m| {
            m["type"] == "queue.updated"
                && m["data"]["callers"].as_array().map(Vec::len) == Some(2)
                && m["data"]["members"]
                    .as_array()
                    .is_some_and(|ms| ms.iter().any(|x| x["pausedReason"] == "lunch"))
        })
        .await;
    assert!(
        seen.iter()
            .all(|m| m["type"] == "queue.updated" && m["data"]["name"] == "support"),
        "the filter lets only support's updates through: {seen:?}"
    );
    let waiting: Vec<_> = seen.last().expect("an update")["data"]["callers"]
        .as_array()
        .expect("callers")
        .iter()
        .map(|c| {
            (
                c["position"].as_u64(),
                c["uniqueid"].as_str().map(str::to_string),
            )
        })
        .collect();
    assert_eq!(
        waiting,
        vec![
            (Some(1), Some(first.clone())),
            (Some(2), Some(second.clone()))
        ]
    );

    assert!(ts.sim.queue_answer("support"), "a free member answers");
    assert!(ts.sim.queue_abandon("support", &second));
    wait_api_matches_truth(&ts, "an answer and an abandon").await;
    let (_, support) = ts.get("/api/queues/support").await;
    let today = &support["data"]["today"];
    assert_eq!(
        (today["offered"].as_u64(), today["answered"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(today["abandoned"], 1);

    let metrics = ts.get_text("/metrics").await.1;
    assert_eq!(
        metric_value(&metrics, "switchboard_queue_waiting"),
        1.0,
        "sales' caller"
    );
    assert!(metrics.contains(
        "switchboard_queue_members{pbx=\"default\",queue=\"support\",state=\"paused\"} 1"
    ));
    assert!(
        metrics.contains("switchboard_queue_longest_wait_seconds{pbx=\"default\",queue=\"sales\"}")
    );

    // The abandoned caller's call is stored with its queue and marked abandoned.
    wait_until("the abandoned call in the history", DEADLINE, || async {
        let (_, h) = ts.get("/api/calls/history?queue=support").await;
        h["data"].as_array().is_some_and(|calls| {
            calls.iter().any(|c| {
                c["queue"] == "support"
                    && c["queueAbandoned"] == true
                    && c["queueWaitSecs"].is_u64()
            })
        })
    })
    .await;
    let (_, none) = ts.get("/api/calls/history?queue=nosuchqueue").await;
    assert_eq!(none["data"].as_array().map(Vec::len), Some(0));

    // Generated traffic for a while, then quiet: the API still agrees with the PBX.
    ts.sim.set_rate(400.0);
    wait_until("generated queue traffic", DEADLINE, || async {
        ts.sim
            .snapshot()
            .queues
            .iter()
            .map(|q| q.answered)
            .sum::<u64>()
            >= 6
    })
    .await;
    ts.sim.set_rate(0.0);
    tokio::time::sleep(Duration::from_millis(100)).await;
    wait_api_matches_truth(&ts, "the queues after generated traffic").await;
    ws.close().await;
    ts.stop().await;
}

#[actix_rt::test]
async fn queue_routes_and_filters_refuse_bad_input_with_json() {
    let ts = TestService::with(options()).await;
    let (status, body) = ts.get("/api/queues/nosuchqueue").await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "QUEUE_NOT_FOUND");
    let (status, body) = ts.get("/api/queues?pbx=nowhere").await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (404, &Value::from("NOT_FOUND"))
    );
    let (status, body) = ts.get("/api/queues?state=free").await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = ts.get("/ws?kind=agents").await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (400, &Value::from("INVALID_QUERY"))
    );
    let many: Vec<String> = (0..201).map(|i| format!("q{i}")).collect();
    let (status, body) = ts.get(&format!("/ws?queues={}", many.join(","))).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (400, &Value::from("TOO_MANY_QUEUES"))
    );
    let (status, body) = ts.get("/api/calls/history?queue=support&colour=red").await;
    assert_eq!(status, 400, "{body}");
    ts.stop().await;
}

#[actix_rt::test]
async fn a_restart_keeps_todays_queue_figures_from_the_stored_calls() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = format!("sqlite://{}", dir.path().join("queues.db").display());
    let ts = TestService::with(options().env("DATABASE_URL", db.clone())).await;
    let answered = ts.sim.queue_join("support", "0401111111").expect("queued");
    let gave_up = ts.sim.queue_join("support", "0402222222").expect("queued");
    ts.sim.queue_join("support", "0403333333").expect("queued");
    assert!(ts.sim.queue_answer("support"));
    assert!(ts.sim.queue_abandon("support", &gave_up));
    ts.sim.hangup_call(&answered);
    wait_until("both finished queue calls stored", DEADLINE, || async {
        let (_, h) = ts.get("/api/calls/history?queue=support").await;
        h["data"].as_array().map(Vec::len) == Some(2)
    })
    .await;
    let (_, before) = ts.get("/api/queues/support").await;
    assert_eq!(before["data"]["today"]["offered"], 3);
    ts.stop().await;

    // A new service on the same database (the PBX restarted too: nobody waits).
    let ts = TestService::with(options().env("DATABASE_URL", db)).await;
    // The queue is known once the QueueStatus read after login is in.
    let after = wait_until("the support queue read after login", DEADLINE, || async {
        let (status, body) = ts.get("/api/queues/support").await;
        if status == 200 {
            Ok(body)
        } else {
            Err(format!("{status}: {body}"))
        }
    })
    .await;
    let today = &after["data"]["today"];
    assert_eq!(
        (today["offered"].as_u64(), today["answered"].as_u64(), today["abandoned"].as_u64()),
        (Some(2), Some(1), Some(1)),
        "the two calls that left the queue are counted again (the one still waiting at the stop is not): {today}"
    );
    ts.stop().await;
}
