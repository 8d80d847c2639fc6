//! Database faults against the whole service over real TCP, the simulator as the
//! PBX: SQLite locked by another connection holding `BEGIN EXCLUSIVE`, and
//! PostgreSQL refusing connections with the service's backends terminated.
//!
//! While the database is away events keep being processed (the API shows the PBX's
//! live state), `/api/health` says the store is `degraded` (a write merely stuck on
//! a lock counts: `stalled`), the writer retries, and afterwards the store holds
//! everything: the PBX's extension states and active calls, and every finished call
//! with the outcome the simulator counted.

use std::collections::BTreeMap;

use crate::common::health_recorder::HealthRecorder;
use crate::common::service::{Options, TestService};
use crate::common::store::{Counted, Kind, TestDb};
use crate::common::truth::{assert_store_matches_pbx, wait_api_matches_pbx};
use crate::common::wait::{wait_until, DEADLINE};
use diesel::connection::SimpleConnection;
use diesel::{Connection, SqliteConnection};
use serde_json::Value;
use switchboard::sim::SimConfig;
use switchboard::store::CallHistoryQuery;

async fn start(database_url: &str) -> (TestService, HealthRecorder) {
    let ts = TestService::with(
        Options {
            sim: SimConfig {
                rate: 0.0,
                extensions: 20,
                ..SimConfig::default()
            },
            ..Options::default()
        }
        .env("DATABASE_URL", database_url),
    )
    .await;
    let rec = HealthRecorder::start(ts.addr);
    wait_until("the health poller's first answer", DEADLINE, || async {
        rec.samples().first().is_some_and(|s| s.store == "ok")
    })
    .await;
    (ts, rec)
}

async fn store_health(ts: &TestService) -> Value {
    ts.get("/api/health").await.1["data"]["store"].clone()
}

/// Traffic before the outage: a finished call, a talking call, a ringing one.
async fn traffic_before(ts: &TestService) -> (String, String) {
    let done = ts.sim.place_call("1001", "1002");
    ts.sim.answer_call(&done);
    ts.sim.hangup_call(&done);
    let talking = ts.sim.place_call("1003", "1004");
    ts.sim.answer_call(&talking);
    let ringing = ts.sim.place_call("1005", "1006");
    wait_api_matches_pbx(ts, "before the outage").await;
    assert_store_matches_pbx(ts, "before the outage").await;
    (talking, ringing)
}

/// Traffic during the outage; the API must follow it live.
async fn traffic_during(ts: &TestService, talking: &str, ringing: &str, round: u32) {
    match round {
        0 => {
            ts.sim.hangup_call(talking);
            ts.sim.answer_call(ringing);
            ts.sim.set_extension_state("1010", 4);
            let c = ts.sim.place_call("1007", "1008");
            ts.sim.answer_call(&c);
        }
        _ => {
            ts.sim.hold_call(ringing, true);
            ts.sim.set_extension_state("1011", 4);
            let d = ts.sim.place_call("1012", "1013");
            ts.sim.hangup_call(&d);
            ts.sim.place_call("1014", "1015");
        }
    }
    wait_api_matches_pbx(ts, "during the outage (live state)").await;
}

/// Waits until the writer has nothing pending and health is `ok` again.
async fn wait_store_recovered(ts: &TestService) {
    wait_until("the store to recover", DEADLINE, || async {
        let h = store_health(ts).await;
        h["state"] == "ok" && h["pending"] == 0 && h["stalled"] == false
    })
    .await;
}

/// Every finished call is stored with the outcome the simulator counted.
async fn assert_history_complete(ts: &TestService) {
    let store = ts.service.state.store.clone();
    let (calls, total) = store
        .call_history(&CallHistoryQuery {
            limit: 10_000,
            ..CallHistoryQuery::default()
        })
        .expect("history")
        .counted();
    let truth = ts.sim.snapshot();
    assert_eq!(
        total as u64, truth.finished_total,
        "every finished call stored"
    );
    let mut outcomes: BTreeMap<String, u64> = BTreeMap::new();
    for c in &calls {
        *outcomes
            .entry(
                c.outcome
                    .map(|o| o.as_str().to_string())
                    .unwrap_or_default(),
            )
            .or_default() += 1;
    }
    assert_eq!(outcomes, truth.finished, "outcomes as the PBX counted them");
}

/// Health went ok → degraded (store) → ok (waits for the poller to see the store
/// ok again, then stops it).
async fn assert_health_reported(rec: &HealthRecorder) {
    rec.stop_when("the health poller to see the store ok", DEADLINE, |s| {
        s.store == "ok"
    })
    .await;
    let samples = rec.samples();
    let degraded = samples
        .iter()
        .position(|s| s.store == "degraded" && s.status == "degraded")
        .unwrap_or_else(|| panic!("health never said the store was degraded: {samples:?}"));
    assert!(
        samples[..degraded].iter().any(|s| s.store == "ok"),
        "{samples:?}"
    );
    assert!(
        samples[degraded..].iter().any(|s| s.store == "ok"),
        "{samples:?}"
    );
}

#[actix_rt::test]
async fn sqlite_locked_by_another_connection_stalls_then_catches_up() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("locked.db");
    let (ts, rec) = start(&format!("sqlite://{}", path.display())).await;
    let (talking, ringing) = traffic_before(&ts).await;

    let mut lock = SqliteConnection::establish(&path.display().to_string()).expect("connect");
    lock.batch_execute("PRAGMA busy_timeout = 10000; BEGIN EXCLUSIVE")
        .expect("take the write lock");
    traffic_during(&ts, &talking, &ringing, 0).await;
    // The service's write waits on the lock (busy_timeout): not failed, stuck.
    wait_until(
        "health to call the stuck write stalled",
        DEADLINE,
        || async {
            let h = store_health(&ts).await;
            h["stalled"] == true && h["state"] == "degraded"
        },
    )
    .await;
    let h = ts.get("/api/health").await.1["data"].clone();
    assert_eq!(h["status"], "degraded", "{h}");
    assert!(h["store"]["pending"].as_u64() > Some(0), "{h}");
    assert!(
        ts.metric("switchboard_store_pending_writes").await > 0.0,
        "the backlog shows in /metrics too"
    );
    traffic_during(&ts, &talking, &ringing, 1).await;
    lock.batch_execute("COMMIT").expect("release the lock");

    wait_store_recovered(&ts).await;
    wait_until("the backlog gauge to empty", DEADLINE, || async {
        ts.metric("switchboard_store_pending_writes").await == 0.0
    })
    .await;
    assert_store_matches_pbx(&ts, "after the lock").await;
    assert_history_complete(&ts).await;
    assert_health_reported(&rec).await;
    ts.stop().await;
}

#[actix_rt::test]
async fn postgres_refusing_connections_is_retried_until_it_accepts_again() {
    let Some(db) = TestDb::create(Kind::Postgres) else {
        return; // reason printed by TestDb::create
    };
    let (ts, rec) = start(&db.url).await;
    let (talking, ringing) = traffic_before(&ts).await;

    // Every backend of the service terminated, new connections refused.
    let outage = db.begin_outage();
    traffic_during(&ts, &talking, &ringing, 0).await;
    wait_until("failed writes to be retried", DEADLINE, || async {
        let h = store_health(&ts).await;
        h["state"] == "degraded"
            && h["retries"].as_u64() >= Some(1)
            && h["pending"].as_u64() > Some(0)
    })
    .await;
    let h = ts.get("/api/health").await.1["data"].clone();
    assert_eq!(h["status"], "degraded", "{h}");
    assert!(h["store"]["lastError"].is_string(), "{h}");
    assert!(
        !h["store"]["lastError"]
            .as_str()
            .unwrap_or("")
            .contains("password"),
        "{h}"
    );
    traffic_during(&ts, &talking, &ringing, 1).await;
    outage.end();

    wait_store_recovered(&ts).await;
    assert_store_matches_pbx(&ts, "after the outage").await;
    assert_history_complete(&ts).await;
    assert_health_reported(&rec).await;
    ts.stop().await;
    drop(db);
}
