//! `throughput` (10 subscribers, rising simulator rates) and `fanout` (1,000
//! subscribers): the highest rate with nothing lost.

use std::sync::Arc;
use std::time::{Duration, Instant};

use switchboard::sim::SimHandle;

use crate::service::TestService;
use crate::subscribers::{seen, subscribe, Shared};
use crate::{http_workers, rates, secs, service};

/// What feeds the service events at a set rate: the simulator, or the realistic
/// stream's replay server.
pub(crate) trait Source {
    /// Events per second from now on (0 stops).
    fn set_rate(&self, events_per_s: f64);
    /// Events sent so far.
    fn events(&self) -> u64;
    /// Events dropped because the service read too slowly.
    fn lagged_drops(&self) -> u64;
}

impl Source for SimHandle {
    fn set_rate(&self, events_per_s: f64) {
        SimHandle::set_rate(self, events_per_s);
    }

    fn events(&self) -> u64 {
        self.stats().events
    }

    fn lagged_drops(&self) -> u64 {
        self.stats().lagged_drops
    }
}

/// One run at `rate` events/s for `secs`: the table row.
pub(crate) struct Row {
    pub(crate) target: f64,
    pub(crate) events_per_s: f64,
    pub(crate) changes_per_s: f64,
    pub(crate) delivered: u64,
    pub(crate) lost_subs: usize,
    pub(crate) conflated: f64,
    pub(crate) dropped: f64,
    pub(crate) ami_lagged: u64,
    pub(crate) deliveries_per_s: f64,
    /// Seconds from the end of the burst until every subscriber had every change
    /// (polled every 50 ms): how far behind real time the subscribers fell.
    pub(crate) catch_up_s: f64,
}

impl Row {
    fn nothing_lost(&self) -> bool {
        self.lost_subs == 0 && self.conflated == 0.0 && self.dropped == 0.0 && self.ami_lagged == 0
    }
}

/// A burst counts as kept up with when the subscribers had everything this soon
/// after it ended.
const KEPT_UP_S: f64 = 0.5;

/// Waits (at most 30 s) until the store has written everything: the store writer
/// yields the CPU to deliveries during a burst and writes afterwards, so a rate
/// run straight after another would start with the previous one's backlog still
/// being written. Only between bursts: with traffic running there is always
/// something pending.
async fn store_quiet(ts: &TestService) {
    let quiet = Instant::now() + Duration::from_secs(30);
    while ts.metric("switchboard_store_pending_writes").await > 0.0 && Instant::now() < quiet {
        actix_rt::time::sleep(Duration::from_millis(100)).await;
    }
}

pub(crate) async fn run_rate(
    ts: &TestService,
    src: &dyn Source,
    subs: &[Shared],
    rate: f64,
    secs: f64,
) -> Row {
    let m0 = (
        ts.metric("switchboard_ws_conflated_total").await,
        ts.metric("switchboard_ws_dropped_clients_total").await,
    );
    let s0 = (src.events(), src.lagged_drops());
    let seq0 = ts.hub_seq().await;
    let c0: Vec<u64> = subs.iter().map(|s| seen(s).count).collect();
    let t = Instant::now();
    src.set_rate(rate);
    actix_rt::time::sleep(Duration::from_secs_f64(secs)).await;
    src.set_rate(0.0);
    let gen_secs = t.elapsed().as_secs_f64();
    let s1 = (src.events(), src.lagged_drops());
    // Let the pipeline and the subscribers finish (bounded).
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seq1 = ts.hub_seq().await;
    loop {
        actix_rt::time::sleep(Duration::from_millis(50)).await;
        let now = ts.hub_seq().await;
        let caught_up = subs.iter().all(|s| {
            let s = seen(s);
            s.closed || s.last >= now
        });
        if (now == seq1 && caught_up) || Instant::now() > deadline {
            seq1 = now;
            break;
        }
        seq1 = now;
    }
    let all_secs = t.elapsed().as_secs_f64();
    let published = seq1 - seq0;
    let mut delivered = 0;
    let mut lost = 0;
    for (s, c) in subs.iter().zip(c0) {
        let s = seen(s);
        let got = s.count - c;
        delivered += got;
        if got != published || s.gaps > 0 || s.closed {
            lost += 1;
        }
    }
    Row {
        target: rate,
        events_per_s: (s1.0 - s0.0) as f64 / gen_secs,
        changes_per_s: published as f64 / gen_secs,
        delivered,
        lost_subs: lost,
        conflated: ts.metric("switchboard_ws_conflated_total").await - m0.0,
        dropped: ts.metric("switchboard_ws_dropped_clients_total").await - m0.1,
        ami_lagged: s1.1 - s0.1,
        deliveries_per_s: delivered as f64 / all_secs,
        catch_up_s: all_secs - gen_secs,
    }
}

pub(crate) fn print_rows(title: &str, subs: usize, rows: &[Row]) {
    println!("\n## {title}");
    println!("| target ev/s | sent ev/s | changes/s | subscribers | delivered | deliveries/s | caught up after s | subs with loss | conflated | dropped | AMI lag drops | nothing lost |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---:|");
    for r in rows {
        println!(
            "| {:.0} | {:.0} | {:.0} | {subs} | {} | {:.0} | {:.2} | {} | {:.0} | {:.0} | {} | {} |",
            r.target,
            r.events_per_s,
            r.changes_per_s,
            r.delivered,
            r.deliveries_per_s,
            r.catch_up_s,
            r.lost_subs,
            r.conflated,
            r.dropped,
            r.ami_lagged,
            if r.nothing_lost() { "yes" } else { "NO" }
        );
    }
    let best = |kept_up: bool| {
        rows.iter()
            .filter(|r| r.nothing_lost() && (!kept_up || r.catch_up_s <= KEPT_UP_S))
            .map(|r| r.events_per_s)
            .fold(0.0, f64::max)
    };
    println!(
        "highest rate sent with nothing lost: {:.0} events/s",
        best(false)
    );
    println!(
        "… and every subscriber caught up within {KEPT_UP_S} s of the burst's end: {:.0} events/s",
        best(true)
    );
}

pub(crate) async fn throughput() {
    let ts = service(500, http_workers()).await;
    let subs = subscribe(&ts.ws_url("/ws"), 10, Arc::default()).await;
    let rows = rising(
        &ts,
        &ts.sim,
        &subs,
        &[
            25_000.0, 50_000.0, 100_000.0, 150_000.0, 175_000.0, 200_000.0, 250_000.0,
        ],
        3.0,
    )
    .await;
    print_rows("AMI socket → 10 WebSocket subscribers", 10, &rows);
    ts.stop().await;
}

/// Runs `rates` (or `E2E_RATES`) one after another, each for `burst` seconds (or
/// `E2E_SECS`), until one drops a subscriber or AMI events: higher rates say
/// nothing more once subscribers or the AMI connection are gone.
pub(crate) async fn rising(
    ts: &TestService,
    src: &dyn Source,
    subs: &[Shared],
    default_rates: &[f64],
    burst: f64,
) -> Vec<Row> {
    let mut rows = Vec::new();
    for rate in rates(default_rates) {
        store_quiet(ts).await;
        let row = run_rate(ts, src, subs, rate, secs(burst)).await;
        let failed = row.dropped > 0.0 || row.ami_lagged > 0;
        rows.push(row);
        if failed {
            break;
        }
    }
    rows
}

pub(crate) async fn fanout() {
    let ts = service(500, http_workers()).await;
    let t = Instant::now();
    let subs = subscribe(&ts.ws_url("/ws"), 1000, Arc::default()).await;
    println!(
        "\n(1,000 subscribers connected in {:.1} s)",
        t.elapsed().as_secs_f64()
    );
    let rows = rising(
        &ts,
        &ts.sim,
        &subs,
        &[1_000.0, 2_500.0, 5_000.0, 10_000.0, 15_000.0, 20_000.0],
        2.0,
    )
    .await;
    print_rows("fan-out to 1,000 subscribers", 1000, &rows);
    ts.stop().await;
}
