//! `latency`: event `Timestamp:` → subscriber receipt at a given rate and number of
//! subscribers, several runs each on a fresh service, with the machine's floor beside.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::floor::{cpu_steal, steal_pct, Floor, Sleeper};
use crate::subscribers::{seen, subscribe, Shared};
use crate::throughput::run_rate;
use crate::{positive_env, probe, stages, Feed};

/// The latency cases: `E2E_LATENCY` as `rate x subscribers` pairs (e.g.
/// `20000x10,5000x100`) to look at one case closely, else `default`.
pub(crate) fn latency_cases_or(default: &[(f64, usize)]) -> Vec<(f64, usize)> {
    std::env::var("E2E_LATENCY")
        .ok()
        .map(|v| {
            v.split(',')
                .filter_map(|c| {
                    let (rate, subs) = c.trim().split_once('x')?;
                    Some((rate.parse().ok()?, subs.parse().ok()?))
                })
                .filter(|&(rate, subs): &(f64, usize)| rate > 0.0 && subs > 0)
                .collect::<Vec<_>>()
        })
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| default.to_vec())
}

/// How many times each latency case runs (`E2E_RUNS`, default 3), each on a fresh
/// service. On a shared 2-core machine one 3-s run's p99 moved by 3× between runs
/// of the same binary, so every run is printed and then all their samples pooled.
fn latency_runs() -> usize {
    positive_env("E2E_RUNS", 3)
}

/// The value at quantile `p` of sorted `all`, in milliseconds.
fn pct_ms(all: &[i64], p: f64) -> f64 {
    all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
        .copied()
        .unwrap_or(0) as f64
        / 1000.0
}

fn latency_row(label: &str, rate: f64, n: usize, all: &[i64], ok: bool, floor: Floor) {
    println!(
        "| {label} | {rate:.0} | {n} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {} | {:.2} | {:.2} | {:.1} |",
        all.len(),
        pct_ms(all, 0.50),
        pct_ms(all, 0.99),
        pct_ms(all, 0.999),
        all.last().copied().unwrap_or(0) as f64 / 1000.0,
        if ok { "yes" } else { "NO" },
        floor.idle_p99_ms,
        floor.loaded_p99_ms,
        floor.steal_pct,
    );
}

pub(crate) async fn latency() {
    latency_table(
        &[Feed::Sim],
        latency_cases_or(&[(20_000.0, 10), (5_000.0, 100)]),
    )
    .await;
}

/// The service configurations each latency case runs with: the defaults, and
/// with `E2E_AB=KEY=VALUE` also with that variable set (a change's before and
/// after, interleaved run by run in one process).
fn variants() -> Vec<Option<(String, String)>> {
    let ab = std::env::var("E2E_AB").ok().and_then(|v| {
        let (k, v) = v.split_once('=')?;
        Some((k.trim().to_string(), v.trim().to_string()))
    });
    std::iter::once(None).chain(ab.map(Some)).collect()
}

/// Runs every case [`latency_runs`] times from each of `feeds` in each of
/// [`variants`] (interleaved, so a noisy moment of the machine hits them alike),
/// printing each run and then each arm's samples pooled.
pub(crate) async fn latency_table(feeds: &[Feed<'_>], cases: Vec<(f64, usize)>) {
    println!("\n## latency: event Timestamp → subscriber receipt");
    println!("(floor: what a service doing nothing would show at p99 because its thread");
    println!("was not running — a sleeper thread's lateness, weighted by time, with the");
    println!("machine idle and under this load; steal: host time taken from this VM)");
    println!("| run | rate ev/s | subscribers | samples | p50 ms | p99 ms | p99.9 ms | max ms | nothing lost | idle floor p99 ms | loaded floor p99 ms | steal % |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|:---:|---:|---:|---:|");
    let runs = latency_runs();
    let variants = variants();
    let arms: Vec<(Feed<'_>, Option<&(String, String)>)> = feeds
        .iter()
        .flat_map(|f| variants.iter().map(move |v| (*f, v.as_ref())))
        .collect();
    let label = |(feed, extra): &(Feed<'_>, Option<&(String, String)>), run: &str| {
        let mut l = String::new();
        if feeds.len() > 1 {
            l.push_str(feed.name());
            l.push(' ');
        }
        if let Some((k, v)) = extra {
            l.push_str(&format!("{k}={v} "));
        }
        l.push_str(run);
        l
    };
    for (rate, n) in cases {
        let mut pooled: Vec<Vec<i64>> = vec![Vec::new(); arms.len()];
        let mut floors: Vec<Vec<Floor>> = vec![Vec::new(); arms.len()];
        let mut all_ok = vec![true; arms.len()];
        for run in 1..=runs {
            for (i, arm) in arms.iter().enumerate() {
                let (mut all, ok, floor) = latency_run(rate, n, arm.0, arm.1).await;
                all.sort_unstable();
                latency_row(&label(arm, &run.to_string()), rate, n, &all, ok, floor);
                pooled[i].extend(all);
                floors[i].push(floor);
                all_ok[i] &= ok;
            }
        }
        if runs == 1 {
            continue;
        }
        for (i, arm) in arms.iter().enumerate() {
            pooled[i].sort_unstable();
            let floors = &floors[i];
            let mean =
                |f: fn(&Floor) -> f64| floors.iter().map(f).sum::<f64>() / floors.len() as f64;
            let floor = Floor {
                idle_p99_ms: mean(|f| f.idle_p99_ms),
                loaded_p99_ms: mean(|f| f.loaded_p99_ms),
                steal_pct: mean(|f| f.steal_pct),
            };
            let name = label(arm, &format!("all {runs}"));
            latency_row(
                &format!("**{name}**"),
                rate,
                n,
                &pooled[i],
                all_ok[i],
                floor,
            );
        }
    }
}

/// Appends every sample of one run to `path` as `rate subscribers subscriber
/// receipt_us latency_us` lines, to see whether the slow ones cluster in time (a
/// stall that hits every subscriber at once) or are spread out (CPU contention).
fn dump(path: &str, rate: f64, n: usize, subs: &[Shared], times: &probe::Times) {
    use std::io::Write;
    let mut out = String::new();
    for (i, s) in subs.iter().enumerate() {
        let s = seen(s);
        let (lat, _) = probe::exact(times, &s.seqs, &s.recv_us, &s.lat_us);
        for (r, l) in s.recv_us.iter().zip(&lat) {
            out.push_str(&format!("{rate:.0} {n} {i} {r} {l}\n"));
        }
    }
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(out.as_bytes()));
    if let Err(e) = written {
        eprintln!("E2E_DUMP: cannot write {path}: {e}");
    }
}

/// One latency run on a fresh service: every subscriber's samples, whether
/// nothing was lost, and the machine's floor beside it.
async fn latency_run(
    rate: f64,
    n: usize,
    feed: Feed<'_>,
    extra: Option<&(String, String)>,
) -> (Vec<i64>, bool, Floor) {
    let idle = Sleeper::start();
    actix_rt::time::sleep(Duration::from_secs(2)).await;
    let idle_p99_ms = idle.floor_p99_ms();
    let ts = feed.service(extra).await;
    let src = feed.source(&ts);
    let rec = Arc::new(AtomicBool::new(false));
    let subs = subscribe(&ts.ws_url("/ws"), n, rec.clone()).await;
    let times = probe::probe(&ts).await;
    // Warm up one second, then record three.
    src.set_rate(rate);
    actix_rt::time::sleep(Duration::from_secs(1)).await;
    rec.store(true, Ordering::Relaxed);
    let (loaded, steal0) = (Sleeper::start(), cpu_steal());
    let row = run_rate(&ts, src, &subs, rate, 3.0).await;
    rec.store(false, Ordering::Relaxed);
    let floor = Floor {
        idle_p99_ms,
        steal_pct: steal_pct(steal0, cpu_steal()),
        loaded_p99_ms: loaded.floor_p99_ms(),
    };
    let (mut all, mut missing) = (Vec::new(), 0);
    for s in &subs {
        let s = seen(s);
        let (lat, m) = probe::exact(&times, &s.seqs, &s.recv_us, &s.lat_us);
        all.extend(lat);
        missing += m;
    }
    if missing > 0 {
        eprintln!("{missing} samples without an exact event time (their ms-truncated ts used)");
    }
    if let Ok(path) = std::env::var("E2E_DUMP") {
        dump(&path, rate, n, &subs, &times);
    }
    // The run starts mid-stream (after the warm-up), so counting deliveries
    // against published changes is off by what is in flight at the start; a
    // lost change shows as a gap in a subscriber's seq instead.
    let gaps: u64 = subs.iter().map(|s| seen(s).gaps).sum();
    let closed = subs.iter().filter(|s| seen(s).closed).count();
    let ok = gaps == 0
        && closed == 0
        && row.conflated == 0.0
        && row.dropped == 0.0
        && row.ami_lagged == 0;
    if std::env::var("E2E_STAGES").is_ok() {
        let mut sorted = all.clone();
        sorted.sort_unstable();
        let mut wire: Vec<i64> = subs.iter().flat_map(|s| seen(s).lat_us.clone()).collect();
        wire.sort_unstable();
        stages::print(&ts.get_text("/metrics").await.1, &sorted, &wire);
    }
    ts.stop().await;
    (all, ok, floor)
}
