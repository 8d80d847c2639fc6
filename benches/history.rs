//! `cargo bench --bench history`: the call history at a million calls (issue 17).
//!
//! For SQLite and PostgreSQL (when one answers at `SWITCHBOARD_TEST_PG_URL`,
//! default `postgres://postgres@127.0.0.1:5432/test`): fills `HISTORY_CALLS`
//! finished calls (default 1,000,000) spread over 90 days — 500 extensions, 10%
//! on a second PBX, two legs each and a third leg on every fifth — through
//! `Store::finish_calls`, then, while a writer thread commits about 5,000 ops a
//! second (finished calls and transitions, 100 every 20 ms, as the store writer
//! batches them), reads pages through the readers' handle the HTTP API uses:
//! for each filter, the first page, a deep numbered page (page 50 of 50 calls)
//! and the same deep page by cursor (`?after=`). Prints p50 / p99 per case
//! (`HISTORY_ROUNDS` reads each, default 200), the writer's commit time p50 / p99
//! and the disk the store takes per million calls. Nothing is asserted.
//! `HISTORY_BACKENDS=sqlite` (or `postgres`) runs one backend only.

#[path = "../tests/it/common/store.rs"]
#[allow(dead_code)] // the bench uses a part of the tests' helper
mod store;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use diesel::connection::SimpleConnection;
use diesel::sql_types::BigInt;
use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl};
use switchboard::model::Call;
use switchboard::store::{CallHistoryQuery, Store, WriteOp};

use store::{active_call, finished, transition, Kind, TestDb};

const DAYS: i64 = 90;
const FILL_CHUNK: usize = 20_000;
const PAGE: i64 = 50;
const DEEP_PAGE: i64 = 50;

fn env_num(key: &str, default: usize) -> usize {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Call `i` of `n`, spread evenly over the 90 days before `now`.
fn call(i: usize, n: usize, now: DateTime<Utc>) -> Call {
    let span = DAYS * 86_400;
    let at = now - chrono::Duration::seconds(span - (i as i64 * span) / n as i64);
    let pbx = if i % 10 == 0 { "pbx2" } else { "pbx1" };
    let caller = if i % 3 == 0 {
        format!("+4930{:07}", (i * 7919) % 10_000_000)
    } else {
        format!("{}", 1000 + (i * 7) % 500)
    };
    let callee = format!("{}", 1000 + (i * 13 + 5) % 500);
    let mut c = finished(active_call(pbx, &format!("b-{i:08}"), &caller, &callee, at));
    if i % 5 == 0 {
        let mut leg = (*c.legs[1]).clone();
        leg.uniqueid = format!("{}.3", c.id);
        leg.extension = Some(format!("{}", 1000 + (i * 31 + 17) % 500));
        c.legs.push(Arc::new(leg));
    }
    c
}

fn fill(store: &Store, n: usize, now: DateTime<Utc>) -> Duration {
    let started = Instant::now();
    let mut i = 0;
    while i < n {
        let end = (i + FILL_CHUNK).min(n);
        let chunk: Vec<Call> = (i..end).map(|k| call(k, n, now)).collect();
        store.finish_calls(&chunk).expect("fill");
        i = end;
        if i % 200_000 == 0 {
            eprintln!(
                "  filled {i} calls in {:.0} s",
                started.elapsed().as_secs_f64()
            );
        }
    }
    started.elapsed()
}

#[derive(QueryableByName)]
struct Size {
    #[diesel(sql_type = BigInt)]
    bytes: i64,
}

fn disk_bytes(db: &TestDb) -> u64 {
    match db.kind {
        Kind::Sqlite => {
            let path = db.url.trim_start_matches("sqlite://");
            let mut c = diesel::SqliteConnection::establish(path).expect("connect");
            c.batch_execute("PRAGMA wal_checkpoint(TRUNCATE)")
                .expect("checkpoint");
            std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
        }
        Kind::Postgres => {
            let mut c = PgConnection::establish(&db.url).expect("connect");
            let rows: Vec<Size> =
                diesel::sql_query("SELECT pg_database_size(current_database()) AS bytes")
                    .load(&mut c)
                    .expect("size");
            rows.first().map_or(0, |r| r.bytes as u64)
        }
    }
}

fn analyze(db: &TestDb) {
    if db.kind == Kind::Postgres {
        let mut c = PgConnection::establish(&db.url).expect("connect");
        c.batch_execute("VACUUM ANALYZE").expect("analyze");
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx].as_secs_f64() * 1000.0
}

/// About 5,000 ops a second until `stop`: 100 every 20 ms, in one transaction.
fn writer_load(store: Store, stop: Arc<AtomicBool>, now: DateTime<Utc>) -> Vec<Duration> {
    let mut commits = Vec::new();
    let mut k = 0usize;
    let start = Instant::now();
    let mut tick = 0u32;
    while !stop.load(Ordering::Acquire) && start.elapsed() < Duration::from_secs(3600) {
        let ops: Vec<WriteOp> = (0..100)
            .map(|j| {
                k += 1;
                if j % 2 == 0 {
                    let mut c = call(k, 1, now);
                    c.id = format!("live-{k:08}");
                    c.started_at = now;
                    WriteOp::FinishedCall(Arc::new(c))
                } else {
                    WriteOp::Transition(transition("pbx1", &format!("{}", 1000 + k % 500), 1, now))
                }
            })
            .collect();
        let t0 = Instant::now();
        store.apply(&ops).expect("writer load");
        commits.push(t0.elapsed());
        tick += 1;
        let next = start + Duration::from_millis(20) * tick;
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    commits
}

fn cases(now: DateTime<Utc>) -> Vec<(&'static str, CallHistoryQuery)> {
    let q = CallHistoryQuery::default;
    vec![
        ("none", q()),
        (
            "pbx",
            CallHistoryQuery {
                pbx: Some("pbx2".into()),
                ..q()
            },
        ),
        (
            "extension",
            CallHistoryQuery {
                extension: Some("1234".into()),
                ..q()
            },
        ),
        (
            "time range (1 day)",
            CallHistoryQuery {
                from: Some(now - chrono::Duration::days(45)),
                to: Some(now - chrono::Duration::days(44)),
                ..q()
            },
        ),
        (
            "extension + pbx + 30 days",
            CallHistoryQuery {
                pbx: Some("pbx1".into()),
                extension: Some("1234".into()),
                from: Some(now - chrono::Duration::days(60)),
                to: Some(now - chrono::Duration::days(30)),
                ..q()
            },
        ),
    ]
}

fn time_reads(reader: &Store, q: &CallHistoryQuery, rounds: usize) -> Vec<Duration> {
    let mut times = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let t0 = Instant::now();
        reader.call_history(q).expect("read");
        times.push(t0.elapsed());
    }
    times.sort();
    times
}

/// The writer's commit times while 16 readers page through the history as fast
/// as they can for `secs` seconds (the readers' pool answers busy past its size).
fn writer_beside_readers(
    store: &Store,
    now: DateTime<Utc>,
    secs: u64,
) -> (Vec<Duration>, u64, u64) {
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (store, stop) = (store.clone(), stop.clone());
        std::thread::spawn(move || writer_load(store, stop, now))
    };
    let readers: Vec<_> = (0..16)
        .map(|r| {
            let (reader, stop) = (store.for_readers(), stop.clone());
            std::thread::spawn(move || {
                let (mut ok, mut busy, mut k) = (0u64, 0u64, 0usize);
                while !stop.load(Ordering::Acquire) && k < 10_000_000 {
                    k += 1;
                    let q = CallHistoryQuery {
                        extension: Some(format!("{}", 1000 + (r * 31 + k) % 500)),
                        offset: ((k % 20) as i64) * PAGE,
                        ..CallHistoryQuery::default()
                    };
                    match reader.call_history(&q) {
                        Ok(_) => ok += 1,
                        // As a client told 503 would, wait before asking again.
                        Err(_) => {
                            busy += 1;
                            std::thread::sleep(Duration::from_millis(5));
                        }
                    }
                }
                (ok, busy)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(secs));
    stop.store(true, Ordering::Release);
    let (mut ok, mut busy) = (0, 0);
    for r in readers {
        let (o, b) = r.join().expect("reader");
        ok += o;
        busy += b;
    }
    let mut commits = load.join().expect("writer load");
    commits.sort();
    (commits, ok, busy)
}

fn run(kind: Kind, n: usize, rounds: usize) {
    let Some(db) = TestDb::create(kind) else {
        println!("{kind:?}: no server; skipped");
        return;
    };
    let store = db.open();
    let now = Utc::now();
    eprintln!("{kind:?}: filling {n} calls");
    let took = fill(&store, n, now);
    analyze(&db);
    let bytes = disk_bytes(&db);
    println!(
        "\n## {kind:?}: {n} calls filled in {:.0} s; disk {:.0} MB ({:.0} MB per million calls)\n",
        took.as_secs_f64(),
        bytes as f64 / 1e6,
        bytes as f64 / 1e6 / (n as f64 / 1e6)
    );
    // The writer alone first: its commit times without readers.
    let alone = {
        let (store, stop) = (store.clone(), Arc::new(AtomicBool::new(false)));
        let stopper = stop.clone();
        let load = std::thread::spawn(move || writer_load(store, stop, now));
        std::thread::sleep(Duration::from_secs(5));
        stopper.store(true, Ordering::Release);
        let mut commits = load.join().expect("writer load");
        commits.sort();
        commits
    };
    println!(
        "writer alone (5 s): {} transactions of 100 ops, commit p50 {:.1} ms, p99 {:.1} ms\n",
        alone.len(),
        percentile(&alone, 0.5),
        percentile(&alone, 0.99)
    );
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (store, stop) = (store.clone(), stop.clone());
        std::thread::spawn(move || writer_load(store, stop, now))
    };
    let reader = store.for_readers();
    println!("| filter | first page p50 / p99 ms | page {DEEP_PAGE} p50 / p99 ms | page {DEEP_PAGE} by cursor p50 / p99 ms | total |");
    println!("|---|---|---|---|---|");
    for (name, base) in cases(now) {
        let first = CallHistoryQuery {
            limit: PAGE,
            ..base.clone()
        };
        let total = reader
            .call_history(&first)
            .expect("read")
            .total
            .unwrap_or(0);
        let deep = CallHistoryQuery {
            offset: PAGE * (DEEP_PAGE - 1),
            ..first.clone()
        };
        // The cursor of the last call before the deep page.
        let before = reader
            .call_history(&CallHistoryQuery {
                limit: 1,
                offset: PAGE * (DEEP_PAGE - 1) - 1,
                count_total: false,
                ..base.clone()
            })
            .expect("read");
        let by_cursor = CallHistoryQuery {
            after: before.next.clone(),
            count_total: false,
            ..first.clone()
        };
        let a = time_reads(&reader, &first, rounds);
        let b = time_reads(&reader, &deep, rounds);
        let c = time_reads(&reader, &by_cursor, rounds);
        println!(
            "| {name} | {:.1} / {:.1} | {:.1} / {:.1} | {:.1} / {:.1} | {total} |",
            percentile(&a, 0.5),
            percentile(&a, 0.99),
            percentile(&b, 0.5),
            percentile(&b, 0.99),
            percentile(&c, 0.5),
            percentile(&c, 0.99),
        );
    }
    stop.store(true, Ordering::Release);
    let mut commits = load.join().expect("writer load");
    let written = commits.len() * 100;
    commits.sort();
    println!(
        "\nwriter during the reads (one reader): {written} ops in {} transactions, commit p50 {:.1} ms, p99 {:.1} ms",
        commits.len(),
        percentile(&commits, 0.5),
        percentile(&commits, 0.99)
    );
    let (commits, ok, busy) = writer_beside_readers(&store, now, 10);
    println!(
        "writer beside 16 readers (10 s; {ok} reads answered, {busy} busy): {} transactions, \
         commit p50 {:.1} ms, p99 {:.1} ms",
        commits.len(),
        percentile(&commits, 0.5),
        percentile(&commits, 0.99)
    );
}

fn main() {
    let n = env_num("HISTORY_CALLS", 1_000_000);
    let rounds = env_num("HISTORY_ROUNDS", 200).max(1);
    let only = std::env::var("HISTORY_BACKENDS").unwrap_or_default();
    for kind in [Kind::Sqlite, Kind::Postgres] {
        if !only.is_empty()
            && !only
                .to_lowercase()
                .contains(&format!("{kind:?}").to_lowercase())
        {
            continue;
        }
        run(kind, n, rounds);
    }
}
