//! A long database outage over real processes (issue 17): past
//! `STORE_MAX_BACKLOG` the running service moves its unwritten ops to the
//! journal instead of holding them in memory, keeps announcing calls, and once
//! the database answers replays the journal while it runs: every call a
//! WebSocket subscriber was told ended is then in the history, once, with the
//! outcome it was told, and a stop afterwards leaves no journal behind.

use switchboard::sim::SimConfig;
use switchboard::store::journal;

use crate::common::browser::free_port;
use crate::common::service::WsClient;
use crate::common::service_proc::{
    assert_told_is_stored, ended, get_json, http_client, spawn_service, stop_cleanly,
    stored_outcomes, wait_connected, Outage,
};
use crate::common::sim_client::sim_with;
use crate::common::store::{Kind, TestDb};
use crate::common::wait::{wait_until, DEADLINE};
use crate::common::ws_recorder::WsRecorder;

/// Small, so a few calls cross it (each call is a finished call and a handful
/// of extension transitions).
const BACKLOG_BOUND: u64 = 20;

/// Calls placed in each of the outage's two rounds.
const CALLS_PER_ROUND: usize = 12;

/// The store's part of `/api/health`.
async fn store_health(client: &awc::Client, base: &str) -> serde_json::Value {
    get_json(client, &format!("{base}/api/health"))
        .await
        .map(|h| h["data"]["store"].clone())
        .unwrap_or_default()
}

/// `/metrics` as text.
async fn metrics_text(client: &awc::Client, base: &str) -> String {
    let mut res = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("metrics");
    let body = res.body().limit(16 << 20).await.expect("metrics body");
    String::from_utf8_lossy(&body).into_owned()
}

/// Places `n` calls between distinct extensions starting at `first`; every
/// third one rings out unanswered, so two outcomes are in play.
fn place_calls(sim: &switchboard::sim::SimHandle, first: usize, n: usize) {
    for i in 0..n {
        let from = format!("{}", 1001 + 2 * ((first + i) % 20));
        let to = format!("{}", 1002 + 2 * ((first + i) % 20));
        let call = sim.place_call(&from, &to);
        if i % 3 != 2 {
            sim.answer_call(&call);
        }
        sim.hangup_call(&call);
    }
}

async fn a_long_outage_journals_past_the_bound_and_loses_nothing(kind: Kind) {
    let Some(db) = TestDb::create(kind) else {
        return;
    };
    let sim = sim_with(SimConfig {
        rate: 0.0,
        extensions: 40,
        ..SimConfig::default()
    });
    let dir = tempfile::tempdir().expect("temp dir");
    let journal_file = dir.path().join(journal::FILE_NAME);
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let client = http_client();
    let extra = format!("STORE_MAX_BACKLOG={BACKLOG_BOUND}\n");
    let mut service = spawn_service(dir.path(), dir.path(), &sim, &db.url, port, &extra);
    wait_connected(&client, &base).await;
    let ws = WsRecorder::start(WsClient::connect(&format!("ws://127.0.0.1:{port}/ws")).await);

    place_calls(&sim, 0, 1);
    wait_until("the first call.ended", DEADLINE, || async {
        ended(&ws).len() == 1
    })
    .await;

    let outage = Outage::begin(&db);
    place_calls(&sim, 1, CALLS_PER_ROUND);
    wait_until("the first round's call.ended", DEADLINE, || async {
        ended(&ws).len() == 1 + CALLS_PER_ROUND
    })
    .await;
    // Past the bound the running service journals its backlog and holds less
    // than the bound in memory.
    wait_until("the backlog moved to the journal", DEADLINE, || async {
        let store = store_health(&client, &base).await;
        let (journaled, pending) = (store["journaled"].as_u64(), store["pending"].as_u64());
        match (journaled, pending) {
            (Some(j), Some(p)) if j > 0 && p < BACKLOG_BOUND && journal_file.exists() => Ok(()),
            _ => Err(format!(
                "store {store}; journal on disk: {}",
                journal_file.exists()
            )),
        }
    })
    .await;
    let first_spill = store_health(&client, &base).await["journaled"]
        .as_u64()
        .expect("journaled");
    let metrics = metrics_text(&client, &base).await;
    let gauge = metrics
        .lines()
        .find_map(|l| l.strip_prefix("switchboard_store_journaled_ops "))
        .and_then(|v| v.trim().parse::<u64>().ok());
    assert!(
        gauge.is_some_and(|g| g >= first_spill),
        "/metrics shows the journaled ops:\n{metrics}"
    );

    // The outage goes on; calls keep ending and the journal keeps growing.
    place_calls(&sim, 1 + CALLS_PER_ROUND, CALLS_PER_ROUND);
    wait_until("the second round's call.ended", DEADLINE, || async {
        ended(&ws).len() == 1 + 2 * CALLS_PER_ROUND
    })
    .await;
    wait_until("the second round journaled too", DEADLINE, || async {
        let store = store_health(&client, &base).await;
        match store["journaled"].as_u64() {
            Some(j) if j > first_spill => Ok(()),
            _ => Err(format!("store {store}; journaled first {first_spill}")),
        }
    })
    .await;
    let health = store_health(&client, &base).await;
    assert_eq!(health["state"], "degraded", "{health}");
    assert!(
        service.exited().is_none(),
        "the service runs through the outage"
    );
    let told = ended(&ws);

    // The database answers: the running service replays its journal.
    outage.end();
    wait_until(
        "the journal replayed and the store caught up",
        DEADLINE,
        || async {
            let store = store_health(&client, &base).await;
            if store["state"] == "ok" && store["pending"] == 0 && !journal_file.exists() {
                Ok(())
            } else {
                Err(format!(
                    "store {store}; journal on disk: {}",
                    journal_file.exists()
                ))
            }
        },
    )
    .await;
    let log = service.log();
    assert!(log.contains("moved"), "the spill is logged; log:\n{log}");
    assert!(log.contains("journal replayed"), "log:\n{log}");

    let stored = stored_outcomes(&client, &base).await;
    assert_told_is_stored(&told, &stored);
    assert_eq!(stored.len(), told.len(), "nothing stored twice or extra");

    let log = stop_cleanly(&mut service).await;
    assert!(
        !journal_file.exists(),
        "nothing left to journal; log:\n{log}"
    );
    sim.stop();
}

#[actix_rt::test]
async fn sqlite_a_long_outage_journals_past_the_bound_and_loses_nothing() {
    a_long_outage_journals_past_the_bound_and_loses_nothing(Kind::Sqlite).await;
}

#[actix_rt::test]
async fn postgres_a_long_outage_journals_past_the_bound_and_loses_nothing() {
    a_long_outage_journals_past_the_bound_and_loses_nothing(Kind::Postgres).await;
}
