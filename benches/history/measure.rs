//! What the bench measures besides the pages: the writer's load and commit
//! times, the readers beside it, the disk the store takes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use diesel::connection::SimpleConnection;
use diesel::sql_types::BigInt;
use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl};
use switchboard::store::{CallHistoryQuery, Store, WriteOp};

use crate::calls::call;
use crate::store::{transition, Kind};

/// Calls per history page.
pub const PAGE: i64 = 50;

#[derive(QueryableByName)]
struct Size {
    #[diesel(sql_type = BigInt)]
    bytes: i64,
}

/// The bytes the store at `url` takes on disk.
pub fn disk_bytes(kind: Kind, url: &str) -> u64 {
    match kind {
        Kind::Sqlite => {
            let path = url.trim_start_matches("sqlite://");
            let mut c = diesel::SqliteConnection::establish(path).expect("connect");
            c.batch_execute("PRAGMA wal_checkpoint(TRUNCATE)")
                .expect("checkpoint");
            std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
        }
        Kind::Postgres => {
            let mut c = PgConnection::establish(url).expect("connect");
            let rows: Vec<Size> =
                diesel::sql_query("SELECT pg_database_size(current_database()) AS bytes")
                    .load(&mut c)
                    .expect("size");
            rows.first().map_or(0, |r| r.bytes as u64)
        }
    }
}

/// PostgreSQL's statistics and visibility map, as autovacuum would leave them
/// (index-only reads need the latter).
pub fn analyze(kind: Kind, url: &str) {
    if kind == Kind::Postgres {
        let mut c = PgConnection::establish(url).expect("connect");
        c.batch_execute("VACUUM ANALYZE").expect("analyze");
    }
}

/// The `p` quantile of sorted times, in milliseconds.
pub fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx].as_secs_f64() * 1000.0
}

/// About 5,000 ops a second until `stop`: 100 every 20 ms, in one transaction.
pub fn writer_load(store: Store, stop: Arc<AtomicBool>, now: DateTime<Utc>) -> Vec<Duration> {
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

/// `rounds` reads of one query, sorted by time.
pub fn time_reads(reader: &Store, q: &CallHistoryQuery, rounds: usize) -> Vec<Duration> {
    let mut times = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let t0 = Instant::now();
        reader.call_history(q).expect("read");
        times.push(t0.elapsed());
    }
    times.sort();
    times
}

/// The writer's commit times, alone for `secs` seconds.
pub fn writer_alone(store: &Store, now: DateTime<Utc>, secs: u64) -> Vec<Duration> {
    let (store, stop) = (store.clone(), Arc::new(AtomicBool::new(false)));
    let stopper = stop.clone();
    let load = std::thread::spawn(move || writer_load(store, stop, now));
    std::thread::sleep(Duration::from_secs(secs));
    stopper.store(true, Ordering::Release);
    let mut commits = load.join().expect("writer load");
    commits.sort();
    commits
}

/// The writer's commit times while 16 readers page through the history as fast
/// as they can for `secs` seconds (the readers' pool answers busy past its size).
pub fn writer_beside_readers(
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
