//! Retention (issue 17) on SQLite and PostgreSQL: finished calls with their
//! legs, extension transitions and refresh runs older than their periods go, in
//! steps of at most the step's limit, and a running service prunes on its own
//! and counts the rows in `/metrics`.

use chrono::{Duration as Age, Utc};
use switchboard::model::Call;
use switchboard::store::retention::Cutoffs;
use switchboard::store::{CallHistoryQuery, RefreshRecord, Store};

use crate::common::service::{Options, TestService};
use crate::common::store::{active_call, finished, t, transition, Kind, TestDb};
use crate::common::wait::{wait_until, DEADLINE};

/// `n` finished calls of extension 1001, `first` minutes after `t(0)`, two legs each.
fn calls_at(prefix: &str, at: impl Fn(usize) -> chrono::DateTime<Utc>, n: usize) -> Vec<Call> {
    (0..n)
        .map(|i| {
            finished(active_call(
                "pbx1",
                &format!("{prefix}-{i:04}"),
                "1001",
                "1002",
                at(i),
            ))
        })
        .collect()
}

fn refresh_run(n: i64, at: chrono::DateTime<Utc>) -> RefreshRecord {
    RefreshRecord {
        connection_id: format!("refresh-{n}"),
        pbx: "pbx1".into(),
        started_at: at,
        finished_at: at,
        extensions_checked: 10,
        successful: 10,
        failed: 0,
        corrections: serde_json::json!([]),
        error: None,
    }
}

fn history_ids(store: &Store, extension: Option<&str>) -> Vec<String> {
    store
        .call_history(&CallHistoryQuery {
            extension: extension.map(str::to_string),
            limit: 10_000,
            ..CallHistoryQuery::default()
        })
        .expect("history")
        .calls
        .into_iter()
        .map(|c| c.id)
        .collect()
}

/// Old rows go in steps no larger than the limit; recent ones, and each
/// extension's transition in force at the cut, stay.
fn steps_delete_old_rows_in_bounded_batches(db: &TestDb) {
    let store = db.open();
    let now = Utc::now();
    let old = calls_at("old", |i| t(i as i64), 250);
    let recent = calls_at("new", |i| now - Age::hours(1) - Age::minutes(i as i64), 10);
    store.finish_calls(&old).expect("seed old");
    store.finish_calls(&recent).expect("seed recent");
    let transitions: Vec<_> = (0..120)
        .map(|i| transition("pbx1", &format!("{}", 1000 + i % 3), (i % 2) as i32, t(i)))
        .chain([transition("pbx1", "1000", 1, now)])
        .collect();
    store
        .record_transitions(&transitions)
        .expect("seed transitions");
    for n in 0..30 {
        store
            .record_refresh(&refresh_run(n, t(n)))
            .expect("old run");
    }
    store
        .record_refresh(&refresh_run(99, now))
        .expect("recent run");

    let cutoffs = Cutoffs {
        calls: now - Age::days(90),
        transitions: now - Age::days(30),
        refresh_runs: now - Age::days(90),
    };
    let mut steps = Vec::new();
    for _ in 0..20 {
        let step = store.prune_step(&cutoffs, 100).expect("prune step");
        steps.push(step);
        if !step.more {
            break;
        }
    }
    assert!(steps
        .iter()
        .all(|s| s.calls <= 100 && s.transitions <= 100 && s.refresh_runs <= 100));
    assert_eq!(steps.iter().map(|s| s.calls).sum::<usize>(), 250);
    assert_eq!(steps.iter().map(|s| s.call_legs).sum::<usize>(), 500);
    // 120 old transitions over 3 extensions: each keeps the one in force.
    assert_eq!(steps.iter().map(|s| s.transitions).sum::<usize>(), 117);
    assert_eq!(steps.iter().map(|s| s.refresh_runs).sum::<usize>(), 30);
    assert!(steps.len() >= 3, "250 calls took several steps: {steps:?}");
    assert!(!steps.last().is_some_and(|s| s.more));

    let recent_ids: Vec<String> = recent.iter().map(|c| c.id.clone()).collect();
    assert_eq!(history_ids(&store, None), recent_ids);
    assert_eq!(
        history_ids(&store, Some("1002")),
        recent_ids,
        "the pruned calls' parties went with them"
    );
    for old_call in &old[..3] {
        assert_eq!(store.get_call(None, &old_call.id).expect("get"), None);
    }
    assert!(store
        .state_at("pbx1", "1002", now - Age::days(31))
        .expect("state at")
        .is_some());
    assert_eq!(store.recent_refreshes(100).expect("runs").len(), 1);
    let again = store.prune_step(&cutoffs, 100).expect("prune again");
    assert_eq!(again.total(), 0);
}

#[test]
fn sqlite_steps_delete_old_rows_in_bounded_batches() {
    let db = TestDb::create(Kind::Sqlite).expect("SQLite is always there");
    steps_delete_old_rows_in_bounded_batches(&db);
}

#[test]
fn postgres_steps_delete_old_rows_in_bounded_batches() {
    let Some(db) = TestDb::create(Kind::Postgres) else {
        return;
    };
    steps_delete_old_rows_in_bounded_batches(&db);
}

/// The value of one labelled sample in a Prometheus text page.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

/// A service started on a store holding months-old calls prunes them on its
/// own, step after step, and counts them by table in `/metrics`.
async fn a_service_prunes_on_its_own(db: &TestDb) {
    let store = db.open();
    let now = Utc::now();
    store
        .finish_calls(&calls_at("old", |i| t(i as i64), 1200))
        .expect("seed old");
    store
        .finish_calls(&calls_at("new", |i| now - Age::minutes(i as i64 + 1), 5))
        .expect("seed recent");
    let ts = TestService::with(
        Options::default()
            .env("DATABASE_URL", db.url.clone())
            .env("CALL_RETENTION_DAYS", "90"),
    )
    .await;
    wait_until("the old calls are pruned", DEADLINE, || async {
        let (_, body) = ts.get("/api/calls/history?pageSize=1").await;
        body["pagination"]["total"] == 5
    })
    .await;
    // The counter is raised once the step's transaction has committed, so a
    // read may see the rows gone a moment before the count.
    let pruned_calls = "switchboard_store_pruned_rows_total{table=\"calls\"}";
    wait_until("the pruned calls are counted", DEADLINE, || async {
        sample(&ts.get_text("/metrics").await.1, pruned_calls) >= 1200.0
    })
    .await;
    let text = ts.get_text("/metrics").await.1;
    assert_eq!(
        sample(
            &text,
            "switchboard_store_pruned_rows_total{table=\"calls\"}"
        ),
        1200.0,
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "switchboard_store_pruned_rows_total{table=\"call_legs\"}"
        ),
        2400.0
    );
    ts.stop().await;
}

#[actix_rt::test]
async fn sqlite_a_service_prunes_on_its_own() {
    let db = TestDb::create(Kind::Sqlite).expect("SQLite is always there");
    a_service_prunes_on_its_own(&db).await;
}

#[actix_rt::test]
async fn postgres_a_service_prunes_on_its_own() {
    let Some(db) = TestDb::create(Kind::Postgres) else {
        return;
    };
    a_service_prunes_on_its_own(&db).await;
}

/// The cluster's change feed is pruned in steps of at most the step's limit,
/// oldest first, and rows newer than the cutoff stay.
#[test]
fn postgres_the_change_feed_is_pruned_in_steps() {
    use diesel::connection::SimpleConnection;
    use diesel::Connection;
    use switchboard::store::{feed, FeedRow};

    let Some(db) = TestDb::create(Kind::Postgres) else {
        return;
    };
    db.open(); // migrated
    let mut conn = diesel::PgConnection::establish(&db.url).expect("connect");
    let row = |i: usize| FeedRow {
        pbx: "pbx1".into(),
        kind: "extension.updated".into(),
        payload: format!("{{\"n\":{i}}}"),
        instance: "a".into(),
    };
    let rows: Vec<FeedRow> = (0..250).map(row).collect();
    feed::append(&mut conn, &rows.iter().collect::<Vec<_>>()).expect("append");
    // The first 230 are two hours old.
    conn.batch_execute(
        "UPDATE change_feed SET created_at = created_at - interval '2 hours' \
         WHERE id IN (SELECT id FROM change_feed ORDER BY id LIMIT 230)",
    )
    .expect("backdate");
    let cutoff = Utc::now() - Age::hours(1);
    let steps: Vec<usize> = std::iter::from_fn(|| {
        let n = feed::prune_step(&mut conn, cutoff, 100).expect("prune step");
        (n > 0).then_some(n)
    })
    .take(10)
    .collect();
    assert_eq!(steps, vec![100, 100, 30], "steps of at most the limit");
    let left = feed::read_after(&mut conn, "pbx1", 0, 1000).expect("read");
    let payloads: Vec<&str> = left.iter().map(|r| r.payload.as_str()).collect();
    let expected: Vec<String> = (230..250).map(|i| format!("{{\"n\":{i}}}")).collect();
    assert_eq!(payloads, expected, "the newer rows stay, in order");
}
