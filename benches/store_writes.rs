//! Throughput of `Store::apply`: batches of 500 mixed writes (the writer's batch
//! size at a moderate load) on SQLite (a temp file, WAL) and PostgreSQL (a fresh database on
//! `SWITCHBOARD_TEST_PG_URL`, default `postgres://postgres@127.0.0.1:5432/test`;
//! skipped when no server answers).
//!
//! `cargo bench --bench store_writes` — criterion reports elements/s = ops/s.

use std::cell::Cell;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use switchboard::model::{
    Call, CallState, Direction, Extension, ExtensionTransition, HintStatus, Leg, Party,
};
use switchboard::store::{Store, WriteOp};

const BATCH: usize = 500;

fn leg(id: &str, n: u32, exten: &str, at: chrono::DateTime<Utc>) -> Leg {
    Leg {
        uniqueid: format!("{id}.{n}"),
        channel: format!("PJSIP/{exten}-{n:08}"),
        number: Some(exten.into()),
        extension: Some(exten.into()),
        state: "Up".into(),
        started_at: at,
        answered_at: Some(at),
        ended_at: Some(at),
        hangup_cause: Some(16),
        hangup_cause_text: Some("Normal Clearing".into()),
    }
}

fn call(id: &str, at: chrono::DateTime<Utc>, ended: bool) -> Call {
    Call {
        id: id.into(),
        pbx: "bench".into(),
        direction: Direction::Internal,
        state: if ended {
            CallState::Ended
        } else {
            CallState::Bridged
        },
        caller: Party {
            number: Some("1001".into()),
            name: Some("Agent 1001".into()),
        },
        callee: Party {
            number: Some("1002".into()),
            name: None,
        },
        legs: vec![leg(id, 1, "1001", at).into(), leg(id, 2, "1002", at).into()],
        started_at: at,
        answered_at: Some(at),
        ended_at: ended.then_some(at),
        duration_secs: 60.0,
        talk_secs: 55.0,
        on_hold: false,
        transfers: Vec::new(),
        queue: None,
        queue_wait_secs: None,
        queue_abandoned: false,
        outcome: ended.then_some(switchboard::model::CallOutcome::Answered),
        hangup_cause: ended.then_some(16),
        hangup_cause_text: None,
    }
}

/// One batch of a busy call centre's writes: 200 transitions, 150 extension
/// upserts, 100 live-call upserts, 40 finished calls (2 legs each), 10 confirms.
fn batch(round: u64) -> Vec<WriteOp> {
    let at = Utc
        .timestamp_opt(1_767_600_000, 0)
        .single()
        .unwrap_or_default()
        + chrono::Duration::seconds(round as i64);
    let mut ops = Vec::with_capacity(BATCH);
    for i in 0..200u64 {
        let s = HintStatus((i % 3) as i32);
        ops.push(WriteOp::Transition(ExtensionTransition {
            pbx: "bench".into(),
            extension: format!("{}", 1000 + i % 400),
            status: s,
            status_text: s.label().into(),
            state: s.kind(),
            device_state: None,
            at: at + chrono::Duration::milliseconds(i as i64),
        }));
    }
    for i in 0..150u64 {
        let s = HintStatus(((i + round) % 3) as i32);
        ops.push(WriteOp::Extension(std::sync::Arc::new(Extension {
            pbx: "bench".into(),
            extension: format!("{}", 1000 + (i + round * 150) % 400),
            context: "ext-local".into(),
            hint: Some("PJSIP/x".into()),
            name: None,
            name_source: None,
            status: s,
            status_text: s.label().into(),
            state: s.kind(),
            device_state: None,
            last_change: at,
            last_confirmed: None,
        })));
    }
    for i in 0..100u64 {
        ops.push(WriteOp::ActiveCall(std::sync::Arc::new(call(
            &format!("{round}.{i}"),
            at,
            false,
        ))));
    }
    for i in 0..40u64 {
        ops.push(WriteOp::FinishedCall(std::sync::Arc::new(call(
            &format!("{round}.{i}"),
            at,
            true,
        ))));
    }
    for i in 0..10u64 {
        ops.push(WriteOp::Confirmed {
            pbx: "bench".into(),
            extensions: (0..20)
                .map(|e| format!("{}", 1000 + (i * 20 + e) % 400))
                .collect(),
            at,
        });
    }
    debug_assert_eq!(ops.len(), BATCH);
    ops
}

fn bench_store(c: &mut Criterion, name: &str, store: &Store) {
    let mut group = c.benchmark_group("store_apply_500_mixed");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(10));
    let round = Cell::new(0u64);
    group.bench_function(name, |b| {
        b.iter_batched(
            || {
                round.set(round.get() + 1);
                batch(round.get())
            },
            |ops| {
                if let Err(e) = store.apply(&ops) {
                    panic!("apply failed: {e}");
                }
            },
            criterion::BatchSize::PerIteration,
        );
    });
    group.finish();
}

fn sqlite(c: &mut Criterion) {
    let Ok(dir) = tempfile::tempdir() else {
        eprintln!("skipping SQLite bench: no temp dir");
        return;
    };
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    match Store::open(&url) {
        Ok(store) => bench_store(c, "sqlite", &store),
        Err(e) => eprintln!("skipping SQLite bench: {e}"),
    }
}

fn postgres(c: &mut Criterion) {
    let admin_url = std::env::var("SWITCHBOARD_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string());
    let mut admin = match PgConnection::establish(&admin_url) {
        Ok(conn) => conn,
        Err(e) => {
            eprintln!("skipping PostgreSQL bench: no server at {admin_url}: {e}");
            return;
        }
    };
    let name = format!("sb_bench_{}", std::process::id());
    if let Err(e) = admin.batch_execute(&format!("CREATE DATABASE {name}")) {
        eprintln!("skipping PostgreSQL bench: cannot create a database: {e}");
        return;
    }
    let base = admin_url
        .rsplit_once('/')
        .map_or(admin_url.as_str(), |(b, _)| b);
    match Store::open(&format!("{base}/{name}")) {
        Ok(store) => {
            bench_store(c, "postgres", &store);
            drop(store);
        }
        Err(e) => eprintln!("skipping PostgreSQL bench: {e}"),
    }
    let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
}

criterion_group!(benches, sqlite, postgres);
criterion_main!(benches);
