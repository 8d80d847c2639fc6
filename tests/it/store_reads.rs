//! The HTTP API's reads beside the store writer (issue 17): readers have their
//! own bounded pool, a full pool answers 503 `STORE_BUSY` at once, a read past
//! its limit is stopped, and any number of readers leaves the writer's batches
//! committing as before.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use switchboard::store::{Flush, GetStoreHealth, StoreState, WriteBatch, WriteOp};

use crate::common::service::{Options, TestService};
use crate::common::store::{active_call, finished, t, Kind, TestDb};
use crate::common::wait::{wait_until, DEADLINE};

/// Finished calls `first..first + n`, a minute apart, between a few extensions.
fn calls(first: usize, n: usize) -> Vec<switchboard::model::Call> {
    (first..first + n)
        .map(|i| {
            let caller = format!("{}", 1000 + i % 40);
            let callee = format!("{}", 1000 + (i * 7 + 3) % 40);
            finished(active_call(
                "default",
                &format!("seed-{i:06}"),
                &caller,
                &callee,
                t(i as i64),
            ))
        })
        .collect()
}

async fn service_on(db: &TestDb, extra: &[(&'static str, &str)]) -> TestService {
    // The seeded calls are from January 2026: kept whatever the day the test runs.
    let mut opts = Options::default()
        .env("DATABASE_URL", db.url.clone())
        .env("CALL_RETENTION_DAYS", "36500");
    for (k, v) in extra {
        opts = opts.env(k, *v);
    }
    TestService::with(opts).await
}

#[actix_rt::test]
async fn postgres_a_full_read_pool_answers_store_busy_and_a_slow_read_is_stopped() {
    let Some(db) = TestDb::create(Kind::Postgres) else {
        return;
    };
    db.open().finish_calls(&calls(0, 10)).expect("seed");
    let ts = service_on(
        &db,
        &[
            ("STORE_READ_CONNECTIONS", "1"),
            ("STORE_READ_TIMEOUT_MS", "1500"),
        ],
    )
    .await;
    // Another session holds the calls table: a history read waits for it.
    let mut locker = PgConnection::establish(&db.url).expect("lock session");
    locker
        .batch_execute("BEGIN; LOCK TABLE calls IN ACCESS EXCLUSIVE MODE;")
        .expect("lock calls");
    let store = ts.service.state.store.clone();
    let (slow, busy) = futures::join!(ts.get("/api/calls/history"), async {
        wait_until(
            "the first read holds the one read connection",
            DEADLINE,
            || {
                let n = store.reads_in_progress();
                async move { n == 1 }
            },
        )
        .await;
        let answered = ts.get("/api/calls/history").await;
        (answered, store.reads_in_progress())
    });
    let ((status, body), still_reading) = busy;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "STORE_BUSY", "{body}");
    assert_eq!(
        still_reading, 1,
        "the second reader was answered while the first still read"
    );
    let (status, body) = slow;
    assert_eq!(status, 503, "the held read stops at its limit: {body}");
    assert_eq!(body["error"]["code"], "STORE_BUSY", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("limit")),
        "{body}"
    );
    locker.batch_execute("ROLLBACK").expect("unlock");
    let (status, body) = ts.get("/api/calls/history").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["pagination"]["total"], 10, "{body}");
    ts.stop().await;
}

/// 16 readers hammer the history while the writer commits batch after batch:
/// every batch commits (the flush after it returns, no retry, no error), the
/// readers are answered (200, or 503 `STORE_BUSY` past the read pool), and the
/// writer never reports `degraded`.
async fn readers_never_hold_up_the_writer(db: &TestDb) {
    const READERS: usize = 16;
    const BATCHES: usize = 30;
    const PER_BATCH: usize = 200;
    db.open().finish_calls(&calls(0, 3000)).expect("seed");
    let ts = service_on(db, &[("STORE_READ_CONNECTIONS", "4")]).await;
    let writer = ts.service.state.writer.clone();
    let done = std::sync::atomic::AtomicBool::new(false);
    let (ok, busy) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let started = Instant::now();
    let reader = |n: usize| {
        let (done, ok, busy, ts) = (&done, &ok, &busy, &ts);
        async move {
            let mut round = 0usize;
            // Bounded in count and in time even if the writer side hangs.
            while !done.load(Ordering::Acquire) && round < 10_000 && started.elapsed() < DEADLINE {
                let exten = 1000 + (n + round) % 40;
                let path = match round % 3 {
                    0 => format!("/api/calls/history?extension={exten}&pageSize=50"),
                    1 => "/api/calls/history?page=40&pageSize=50".to_string(),
                    _ => format!("/api/calls/history?extension={exten}&page=3&pageSize=20"),
                };
                let (status, body) = ts.get(&path).await;
                match status {
                    200 => ok.fetch_add(1, Ordering::Relaxed),
                    503 if body["error"]["code"] == "STORE_BUSY" => {
                        busy.fetch_add(1, Ordering::Relaxed)
                    }
                    other => panic!("reader {n}: {other} {body}"),
                };
                round += 1;
            }
        }
    };
    let write = async {
        for b in 0..BATCHES {
            let ops = calls(10_000 + b * PER_BATCH, PER_BATCH)
                .into_iter()
                .map(|c| WriteOp::FinishedCall(std::sync::Arc::new(c)))
                .collect();
            writer.do_send(WriteBatch(ops));
            tokio::time::timeout(Duration::from_secs(10), writer.send(Flush))
                .await
                .unwrap_or_else(|_| panic!("batch {b} not committed within 10 s"))
                .expect("writer answers");
        }
        done.store(true, Ordering::Release);
    };
    let readers = futures::future::join_all((0..READERS).map(reader));
    futures::join!(write, readers);
    let health = writer.send(GetStoreHealth).await.expect("health");
    assert_eq!(health.state, StoreState::Ok, "{health:?}");
    assert_eq!(health.retries, 0, "no batch failed: {health:?}");
    assert_eq!(health.last_error, None, "{health:?}");
    assert_eq!(health.pending, 0, "{health:?}");
    assert!(ok.load(Ordering::Relaxed) > 0, "readers were answered");
    let (status, body) = ts.get("/api/calls/history?pageSize=1").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["pagination"]["total"],
        (3000 + BATCHES * PER_BATCH) as u64,
        "every written call is in the history"
    );
    eprintln!(
        "readers: {} answered, {} busy",
        ok.load(Ordering::Relaxed),
        busy.load(Ordering::Relaxed)
    );
    ts.stop().await;
}

#[actix_rt::test]
async fn sqlite_readers_never_hold_up_the_writer() {
    let db = TestDb::create(Kind::Sqlite).expect("SQLite is always there");
    readers_never_hold_up_the_writer(&db).await;
}

#[actix_rt::test]
async fn postgres_readers_never_hold_up_the_writer() {
    let Some(db) = TestDb::create(Kind::Postgres) else {
        return;
    };
    readers_never_hold_up_the_writer(&db).await;
}
