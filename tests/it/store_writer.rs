//! The `StoreWriter` actor against SQLite and PostgreSQL: batching, `Flush`, and
//! keeping every write through a database outage.

use std::time::Duration;

use actix::prelude::*;
use switchboard::store::{
    CallHistoryQuery, Flush, GetStoreHealth, Store, StoreHealth, StoreState, StoreWriter, Write,
    WriteBatch, WriteOp, WriterConfig,
};

use crate::common::store::{
    active_call, extension, finished, t, transition, Counted, Kind, TestDb,
};
use crate::common::wait::{wait_until, DEADLINE};

macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[actix_rt::test]
                async fn $case() {
                    if let Some(db) = super::TestDb::create(super::Kind::Sqlite) {
                        super::$case(&db).await;
                    }
                }
            )*
        }
        mod postgres {
            $(
                #[actix_rt::test]
                async fn $case() {
                    if let Some(db) = super::TestDb::create(super::Kind::Postgres) {
                        super::$case(&db).await;
                    }
                }
            )*
        }
    };
}

on_both_backends!(
    flush_on_an_idle_writer_returns_at_once,
    many_writes_are_all_committed,
    writes_survive_an_outage,
    a_long_outage_moves_the_backlog_to_the_journal,
);

fn start_writer(store: &Store) -> Addr<StoreWriter> {
    StoreWriter::with_config(
        store.clone(),
        WriterConfig {
            flush_interval: Duration::from_millis(5),
            min_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(200),
            ..WriterConfig::default()
        },
    )
    .start()
}

async fn health(writer: &Addr<StoreWriter>) -> StoreHealth {
    writer.send(GetStoreHealth).await.expect("writer alive")
}

async fn flush_on_an_idle_writer_returns_at_once(db: &TestDb) {
    let store = db.open();
    let writer = start_writer(&store);
    writer.send(Flush).await.expect("flush");
    let h = health(&writer).await;
    assert_eq!((h.state, h.pending, h.writes_total), (StoreState::Ok, 0, 0));
    assert_eq!(h.backend, store.backend());
}

/// 100 extensions updated 3 times, 2,000 transitions, 50 live calls of which 20
/// finish, sent as single writes and batches.
fn workload() -> Vec<WriteOp> {
    let mut ops = Vec::new();
    for round in 0..3 {
        for e in 0..100 {
            let exten = format!("{}", 1000 + e);
            ops.push(WriteOp::Extension(std::sync::Arc::new(extension(
                "pbx1",
                &exten,
                round,
                t(round.into()),
            ))));
        }
    }
    for i in 0..2000 {
        let exten = format!("{}", 1000 + i % 100);
        let at = t(0) + chrono::Duration::seconds(i64::from(i));
        ops.push(WriteOp::Transition(transition("pbx1", &exten, i % 3, at)));
    }
    for c in 0..50 {
        ops.push(WriteOp::ActiveCall(std::sync::Arc::new(active_call(
            "pbx1",
            &format!("call-{c}"),
            "1001",
            "1002",
            t(c),
        ))));
    }
    for c in 0..20 {
        ops.push(WriteOp::FinishedCall(std::sync::Arc::new(finished(
            active_call("pbx1", &format!("call-{c}"), "1001", "1002", t(c)),
        ))));
    }
    ops
}

/// Reads back every write of [`workload`]: all 100 extensions, all 2,000
/// transitions (each extension's 20, exactly), the 30 calls still live and the 20
/// finished ones, each as written.
fn assert_workload_stored(store: &Store) {
    let exts = store.list_extensions(Some("pbx1")).expect("list");
    let mut stored: Vec<_> = exts.iter().map(|e| e.extension.clone()).collect();
    stored.sort();
    let all: Vec<String> = (0..100).map(|e| format!("{}", 1000 + e)).collect();
    assert_eq!(stored, all, "every extension");
    for e in &exts {
        assert_eq!(
            e,
            &extension("pbx1", &e.extension, 2, t(2)),
            "{}: its last upsert",
            e.extension
        );
    }
    let mut transitions = 0;
    for (n, exten) in all.iter().enumerate() {
        let mut history = store
            .extension_history("pbx1", exten, None, None, 1000)
            .expect("history");
        history.sort_by_key(|tr| tr.at);
        let expected: Vec<_> = (0..20u32)
            .map(|k| n as u32 + 100 * k)
            .map(|i| {
                let at = t(0) + chrono::Duration::seconds(i64::from(i));
                transition("pbx1", exten, (i % 3) as i32, at)
            })
            .collect();
        assert_eq!(history, expected, "{exten}: every transition");
        transitions += history.len();
    }
    assert_eq!(transitions, 2000);
    let mut live = store.list_active_calls(None).expect("active");
    live.sort_by_key(|c| c.started_at);
    let expected_live: Vec<_> = (20..50)
        .map(|c| active_call("pbx1", &format!("call-{c}"), "1001", "1002", t(c)))
        .collect();
    assert_eq!(live, expected_live, "the 30 calls that did not finish");
    let (mut history, total) = store
        .call_history(&CallHistoryQuery {
            limit: 1000,
            ..CallHistoryQuery::default()
        })
        .expect("history")
        .counted();
    assert_eq!(total, 20);
    history.sort_by_key(|c| c.started_at);
    let expected_history: Vec<_> = (0..20)
        .map(|c| {
            finished(active_call(
                "pbx1",
                &format!("call-{c}"),
                "1001",
                "1002",
                t(c),
            ))
        })
        .collect();
    assert_eq!(history, expected_history, "the 20 finished calls");
}

async fn many_writes_are_all_committed(db: &TestDb) {
    let store = db.open();
    let writer = start_writer(&store);
    let ops = workload();
    let sent = ops.len() as u64;
    let mut rest = ops.into_iter();
    // The first half one by one, the rest in batches of 100.
    for op in rest.by_ref().take(1200) {
        writer.do_send(Write(op));
    }
    loop {
        let chunk: Vec<WriteOp> = rest.by_ref().take(100).collect();
        if chunk.is_empty() {
            break;
        }
        writer.do_send(WriteBatch(chunk));
    }
    writer.send(Flush).await.expect("flush");
    assert_workload_stored(&store);
    let h = health(&writer).await;
    assert_eq!((h.state, h.pending, h.retries), (StoreState::Ok, 0, 0));
    assert_eq!(
        h.writes_total + h.coalesced,
        sent,
        "every op written or merged"
    );
    assert!(h.last_flush.is_some());
}

/// Polls the writer's own report until `done` holds.
async fn wait_for(writer: &Addr<StoreWriter>, what: &str, done: impl Fn(&StoreHealth) -> bool) {
    wait_until(
        &format!("the writer to become {what}"),
        DEADLINE,
        || async {
            let h = health(writer).await;
            if done(&h) {
                Ok(())
            } else {
                Err(format!("{h:?}"))
            }
        },
    )
    .await;
}

async fn writes_survive_an_outage(db: &TestDb) {
    let store = db.open();
    let writer = start_writer(&store);
    let mut ops = workload().into_iter();
    for op in ops.by_ref().take(500) {
        writer.do_send(Write(op));
    }
    writer.send(Flush).await.expect("flush before the outage");

    let outage = db.begin_outage();
    for op in ops.by_ref().take(1000) {
        writer.do_send(Write(op));
    }
    wait_for(&writer, "degraded", |h| h.state == StoreState::Degraded).await;
    let during = health(&writer).await;
    assert!(during.pending > 0, "writes are kept: {during:?}");
    assert!(during.last_error.is_some());
    // More writes keep arriving while the database is away.
    writer.do_send(WriteBatch(ops.collect()));
    wait_for(&writer, "retrying", |h| h.retries >= 2).await;

    outage.end();
    writer.send(Flush).await.expect("flush after the outage");
    let after = health(&writer).await;
    assert_eq!(
        (after.state, after.pending),
        (StoreState::Ok, 0),
        "{after:?}"
    );
    assert!(after.retries > 0);
    if db.kind == Kind::Postgres {
        assert!(
            !after.last_error.unwrap_or_default().contains("password"),
            "no secrets in errors"
        );
    }
    assert_workload_stored(&store);
}

/// Past `max_backlog` during an outage the writer moves its backlog to the
/// journal instead of holding it in memory, and once the database answers it
/// replays the journal before the newer ops: every write lands once, in order.
async fn a_long_outage_moves_the_backlog_to_the_journal(db: &TestDb) {
    const BOUND: usize = 300;
    let store = db.open();
    let dir = tempfile::tempdir().expect("temp dir");
    let journal = dir.path().join(switchboard::store::journal::FILE_NAME);
    let writer = StoreWriter::with_config(
        store.clone(),
        WriterConfig {
            flush_interval: Duration::from_millis(5),
            min_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(200),
            journal: Some(journal.clone()),
            max_backlog: BOUND,
            ..WriterConfig::default()
        },
    )
    .start();
    let mut ops = workload().into_iter();
    for op in ops.by_ref().take(500) {
        writer.do_send(Write(op));
    }
    writer.send(Flush).await.expect("flush before the outage");

    let outage = db.begin_outage();
    for op in ops.by_ref().take(1000) {
        writer.do_send(Write(op));
    }
    wait_for(&writer, "degraded", |h| h.state == StoreState::Degraded).await;
    writer.do_send(WriteBatch(ops.collect()));
    wait_for(&writer, "journaling past its bound", |h| {
        h.journaled > 0 && h.pending < BOUND
    })
    .await;
    assert!(journal.exists(), "the backlog is on disk");

    outage.end();
    writer.send(Flush).await.expect("flush after the outage");
    let after = health(&writer).await;
    assert_eq!(
        (after.state, after.pending),
        (StoreState::Ok, 0),
        "{after:?}"
    );
    assert!(!journal.exists(), "the journal is removed once replayed");
    assert_workload_stored(&store);
}
