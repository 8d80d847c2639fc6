//! `cargo bench --bench history`: the call history at millions of calls (issue 17).
//!
//! For SQLite and PostgreSQL (when one answers at `SWITCHBOARD_TEST_PG_URL`,
//! default `postgres://postgres@127.0.0.1:5432/test`): fills `HISTORY_CALLS`
//! finished calls (default 1,000,000) spread over 90 days (see [`calls::call`]),
//! then, while a writer thread commits about 5,000 ops a second (finished calls
//! and transitions, 100 every 20 ms, as the store writer batches them), reads
//! pages through the readers' handle the HTTP API uses: for each filter, the
//! first page, a deep numbered page (page 50 of 50 calls) and the same deep page
//! by cursor (`?after=`). Prints p50 / p99 per case (`HISTORY_ROUNDS` reads
//! each, default 200), the writer's commit time p50 / p99 and the disk the store
//! takes per million calls. Nothing is asserted.
//!
//! The fill (`HISTORY_FILL`):
//! - `writer`: every call through `Store::finish_calls`, 20,000 at a time (the
//!   default up to a million calls, and always on SQLite);
//! - `replicate` (the default on PostgreSQL above a million calls):
//!   `HISTORY_FILL_BASE` calls (default 100,000) through the writer, then copied
//!   in SQL until there are `HISTORY_CALLS` (see [`replicate`]); a sample of the
//!   copies is checked against what the writer writes for them.
//!
//! Other settings: `HISTORY_BACKENDS=sqlite` (or `postgres`) runs one backend
//! only; `HISTORY_KEEP=1` keeps the filled database (its URL is printed) for
//! `EXPLAIN ANALYZE` or another run, and `HISTORY_DB=<url>` measures such a
//! kept database instead of filling one. A PostgreSQL database takes about
//! 5 GB per million calls: look at `df` first.

#[path = "../../tests/it/common/store.rs"]
#[allow(dead_code)] // the bench uses a part of the tests' helper
mod store;

mod calls;
mod measure;
mod replicate;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use switchboard::model::{Call, CallOutcome, Direction};
use switchboard::store::{CallHistoryQuery, Store};

use calls::call;
use measure::{percentile, time_reads, PAGE};
use store::{Kind, TestDb};

const FILL_CHUNK: usize = 20_000;
const DEEP_PAGE: i64 = 50;

fn env_num(key: &str, default: usize) -> usize {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `n` calls through `Store::finish_calls`.
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

fn cases(now: DateTime<Utc>) -> Vec<(&'static str, CallHistoryQuery)> {
    let q = CallHistoryQuery::default;
    let days = |d| now - chrono::Duration::days(d);
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
            "number (outside)",
            CallHistoryQuery {
                number: Some("+49300023757".into()),
                ..q()
            },
        ),
        (
            "search `?q=agent 12`",
            CallHistoryQuery {
                search: Some("agent 12".into()),
                ..q()
            },
        ),
        (
            "outcome (busy)",
            CallHistoryQuery {
                outcome: Some(CallOutcome::Busy),
                ..q()
            },
        ),
        (
            "direction (inbound)",
            CallHistoryQuery {
                direction: Some(Direction::Inbound),
                ..q()
            },
        ),
        (
            "time range (1 day)",
            CallHistoryQuery {
                from: Some(days(45)),
                to: Some(days(44)),
                ..q()
            },
        ),
        (
            "extension + pbx + 30 days",
            CallHistoryQuery {
                pbx: Some("pbx1".into()),
                extension: Some("1234".into()),
                from: Some(days(60)),
                to: Some(days(30)),
                ..q()
            },
        ),
    ]
}

/// Fills a fresh database (or takes `HISTORY_DB`'s): its URL, and the database
/// to drop at the end unless kept.
fn filled(kind: Kind, n: usize, now: DateTime<Utc>) -> Option<(String, Option<TestDb>)> {
    if let Ok(url) = std::env::var("HISTORY_DB") {
        println!("\n## {kind:?}: the kept database (HISTORY_DB), not filled\n");
        return Some((url, None));
    }
    let db = TestDb::create(kind)?;
    let store = db.open();
    let fill_mode = std::env::var("HISTORY_FILL").unwrap_or_default();
    let replicated = kind == Kind::Postgres
        && (fill_mode == "replicate" || (fill_mode.is_empty() && n > 1_000_000));
    let took = if replicated {
        let base = env_num("HISTORY_FILL_BASE", 100_000).clamp(1, n);
        let n = n / base * base;
        eprintln!("{kind:?}: filling {base} calls through the writer, then {n} by copies");
        let written = fill(&store, base, now);
        eprintln!("  base written in {:.0} s", written.as_secs_f64());
        let copied = replicate::fill(&db, base, n);
        replicate::check(&db, base, n, now);
        written + copied
    } else {
        eprintln!("{kind:?}: filling {n} calls through the writer");
        fill(&store, n, now)
    };
    let t0 = Instant::now();
    measure::analyze(kind, &db.url);
    let vacuum = t0.elapsed().as_secs_f64();
    let bytes = measure::disk_bytes(kind, &db.url);
    println!(
        "\n## {kind:?}: {n} calls filled in {:.0} s ({}; then VACUUM ANALYZE {vacuum:.0} s); \
         disk {:.0} MB ({:.0} MB per million calls)\n",
        took.as_secs_f64(),
        if replicated { "replicated" } else { "writer" },
        bytes as f64 / 1e6,
        bytes as f64 / 1e6 / (n as f64 / 1e6)
    );
    Some((db.url.clone(), Some(db)))
}

fn run(kind: Kind, n: usize, rounds: usize) {
    let now = Utc::now();
    let Some((url, db)) = filled(kind, n, now) else {
        println!("{kind:?}: no server; skipped");
        return;
    };
    let store = Store::open_with(&url, &store::test_options()).expect("open store");
    // The writer alone first: its commit times without readers.
    let alone = measure::writer_alone(&store, now, 5);
    println!(
        "writer alone (5 s): {} transactions of 100 ops, commit p50 {:.1} ms, p99 {:.1} ms\n",
        alone.len(),
        percentile(&alone, 0.5),
        percentile(&alone, 0.99)
    );
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (store, stop) = (store.clone(), stop.clone());
        std::thread::spawn(move || measure::writer_load(store, stop, now))
    };
    let reader = store.for_readers();
    println!("| filter | first page p50 / p99 ms | page {DEEP_PAGE} p50 / p99 ms | page {DEEP_PAGE} by cursor p50 / p99 ms | total |");
    println!("|---|---|---|---|---|");
    for (name, base) in cases(now) {
        let first = CallHistoryQuery {
            limit: PAGE,
            ..base.clone()
        };
        let counted = reader.call_history(&first).expect("read");
        let total = format!(
            "{}{}",
            counted.total.unwrap_or(0),
            if counted.total_exact { "" } else { "+" }
        );
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
    let (commits, ok, busy) = measure::writer_beside_readers(&store, now, 10);
    println!(
        "writer beside 16 readers (10 s; {ok} reads answered, {busy} busy): {} transactions, \
         commit p50 {:.1} ms, p99 {:.1} ms",
        commits.len(),
        percentile(&commits, 0.5),
        percentile(&commits, 0.99)
    );
    drop(store);
    if let Some(db) = db {
        if std::env::var("HISTORY_KEEP").is_ok_and(|v| v == "1") {
            println!("kept: HISTORY_DB={}", db.url);
            // Not dropped: TestDb's drop removes the database.
            std::mem::forget(db);
        }
    }
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
