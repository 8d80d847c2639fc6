//! Several instances on one PostgreSQL: how long a PBX is unattended after its
//! holder is killed, and how much later a subscriber on another instance gets a
//! change than a subscriber on the holder. Real `switchboard serve` processes (the
//! binary built with the bench profile), the simulator in this process, the local
//! PostgreSQL (a fresh database, dropped afterwards).
//!
//! ```text
//! cargo bench --bench cluster                 # both scenarios (~1 min)
//! cargo bench --bench cluster -- takeover     # one of them
//! cargo bench --bench cluster -- latency
//! ```
//!
//! - `takeover`: two instances, the holder of both PBXs is SIGKILLed; measured from
//!   the kill to (a) the survivor's health saying it holds `north` and is
//!   connected, and (b) the survivor's WebSocket subscriber receiving the first
//!   change the PBX made after the kill (a change every 10 ms). Median of 5 runs.
//! - `latency`: the bench sets extension states on the simulator at a steady rate
//!   and stamps each; two subscribers (one on the holder, one on the other
//!   instance) stamp each matching `extension.status` on arrival. p50/p99 of the
//!   difference per rate.
//!
//! Figures are printed; nothing is asserted about speed. Without PostgreSQL the
//! bench says so and exits.

#[path = "../tests/it/common/wait.rs"]
#[allow(dead_code)] // the bench uses a part of the tests' helper
mod wait;

#[path = "../tests/it/common/store.rs"]
#[allow(dead_code)] // the bench uses a part of the tests' helper
mod store;

#[path = "../tests/it/common/cluster.rs"]
#[allow(dead_code)]
mod cluster;

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;
use std::time::{Duration, Instant};

use cluster::{Cluster, Subscriber};

const EXTENSIONS: u32 = 12;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let want = |name: &str| args.is_empty() || args.iter().any(|a| a == name);
    let sys = actix_rt::System::new();
    sys.block_on(async {
        if want("takeover") {
            takeover().await;
        }
        if want("latency") {
            latency().await;
        }
    });
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Index of the instance holding `north` now.
async fn holder(c: &Cluster) -> usize {
    c.settled_leases().await["north"]
}

async fn takeover() {
    let Some(mut c) = Cluster::with_instances(0.0, 2).await else {
        return;
    };
    let runs = 5;
    let mut lease_times = Vec::new();
    let mut event_times = Vec::new();
    let ext = "1012";
    for run in 0..runs {
        let victim = holder(&c).await;
        let watcher = c
            .instances
            .iter()
            .enumerate()
            .find(|(i, inst)| *i != victim && inst.alive())
            .map(|(i, _)| i)
            .expect("a survivor");
        let mut sub = Subscriber::connect(&c.instances[watcher]).await;
        sub.drain(Duration::from_millis(200)).await;
        let before = sub.seen.len();

        let t0 = Instant::now();
        c.instances[victim].kill();
        // The PBX keeps changing every 10 ms after the kill.
        let mut status = 0;
        let mut next_toggle = t0;
        let mut lease_at = None;
        let mut event_at = None;
        let deadline = t0 + Duration::from_secs(30);
        while (lease_at.is_none() || event_at.is_none()) && Instant::now() < deadline {
            if Instant::now() >= next_toggle {
                next_toggle += Duration::from_millis(10);
                status = if status == 0 { 1 } else { 0 };
                c.sim("north").set_extension_state(ext, status);
            }
            if lease_at.is_none() {
                let l = c.instances[watcher].leases().await.unwrap_or_default();
                if l.get("north")
                    .is_some_and(|(_, here, state)| *here && state == "connected")
                {
                    lease_at = Some(t0.elapsed());
                }
            }
            if event_at.is_none() {
                sub.drain(Duration::from_millis(5)).await;
                let got = sub.seen[before..].iter().any(|v| {
                    v["type"] == "extension.status"
                        && v["data"]["pbx"] == "north"
                        && v["data"]["extension"] == ext
                });
                if got {
                    event_at = Some(t0.elapsed());
                }
            }
        }
        let (Some(l), Some(e)) = (lease_at, event_at) else {
            println!("takeover run {run}: no takeover within 30 s");
            return;
        };
        println!(
            "takeover run {run}: lease + login {:.0} ms, first post-kill change delivered {:.0} ms",
            ms(l),
            ms(e)
        );
        lease_times.push(l);
        event_times.push(e);
        c.add_instance().await;
    }
    lease_times.sort();
    event_times.sort();
    println!(
        "takeover after SIGKILL of the holder (2 instances, CLUSTER_LEASE_MS=250, {runs} runs): \
         median lease+login {:.0} ms (max {:.0}), median first change on the survivor {:.0} ms (max {:.0})",
        ms(percentile(&lease_times, 0.5)),
        ms(*lease_times.last().unwrap_or(&Duration::ZERO)),
        ms(percentile(&event_times, 0.5)),
        ms(*event_times.last().unwrap_or(&Duration::ZERO)),
    );
}

/// Per extension, the changes sent and not yet seen by one subscriber: (status, sent).
type Pending = Rc<RefCell<HashMap<String, VecDeque<(i64, Instant)>>>>;

/// Reads `sub` until `stop`, matching each `extension.status` of north to the
/// oldest pending change of its extension with that status.
fn reader(
    mut sub: Subscriber,
    pending: Pending,
    stop: Rc<RefCell<bool>>,
) -> actix_rt::task::JoinHandle<Vec<Duration>> {
    actix_rt::spawn(async move {
        let mut lat = Vec::new();
        while !*stop.borrow() {
            let Some(v) = sub.next(Duration::from_millis(100)).await else {
                continue;
            };
            let now = Instant::now();
            if v["type"] != "extension.status" || v["data"]["pbx"] != "north" {
                continue;
            }
            let ext = v["data"]["extension"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let status = v["data"]["status"].as_i64().unwrap_or(-1);
            let mut p = pending.borrow_mut();
            if let Some(q) = p.get_mut(&ext) {
                if q.front().is_some_and(|(s, _)| *s == status) {
                    if let Some((_, sent)) = q.pop_front() {
                        lat.push(now - sent);
                    }
                }
            }
        }
        lat
    })
}

async fn latency() {
    let Some(mut c) = Cluster::start(0.0) else {
        return;
    };
    c.add_instance().await;
    let _ = c.settled_leases().await;
    c.add_instance().await;
    let leases = c.settled_leases().await;
    let (on_holder, elsewhere) = (leases["north"], 1 - leases["north"]);
    println!(
        "latency: PBX north held by {}, other instance {}",
        c.instances[on_holder].id, c.instances[elsewhere].id
    );
    println!("| rate (changes/s) | subscriber | delivered | p50 ms | p99 ms | max ms |");
    println!("|---|---|---|---|---|---|");
    let sim = c.sim("north");
    let mut status: HashMap<String, i64> = (0..EXTENSIONS)
        .map(|k| ((1001 + k).to_string(), 0))
        .collect();
    for ext in status.keys() {
        sim.set_extension_state(ext, 0);
    }
    for rate in [100u32, 500, 2000] {
        let mut subs = Vec::new();
        for i in [on_holder, elsewhere] {
            let mut s = Subscriber::connect(&c.instances[i]).await;
            s.drain(Duration::from_millis(300)).await;
            subs.push(s);
        }
        let stop = Rc::new(RefCell::new(false));
        let pendings: Vec<Pending> = (0..2)
            .map(|_| Rc::new(RefCell::new(HashMap::new())))
            .collect();
        let readers: Vec<_> = subs
            .into_iter()
            .zip(&pendings)
            .map(|(s, p)| reader(s, p.clone(), stop.clone()))
            .collect();
        let total = rate * 3;
        let tick = Duration::from_millis(5);
        let per_tick = (rate as f64 * tick.as_secs_f64()).max(1.0);
        let start = Instant::now();
        let mut sent = 0u32;
        while sent < total {
            let due =
                ((start.elapsed().as_secs_f64() / tick.as_secs_f64()).floor() + 1.0) * per_tick;
            while f64::from(sent) < due && sent < total {
                let ext = (1001 + sent % EXTENSIONS).to_string();
                let s = status.entry(ext.clone()).or_insert(0);
                *s = if *s == 0 { 1 } else { 0 };
                let at = Instant::now();
                for p in &pendings {
                    p.borrow_mut()
                        .entry(ext.clone())
                        .or_default()
                        .push_back((*s, at));
                }
                sim.set_extension_state(&ext, *s as i32);
                sent += 1;
            }
            tokio::time::sleep(tick).await;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        *stop.borrow_mut() = true;
        for (r, name) in readers.into_iter().zip(["holder", "other instance"]) {
            let mut lat = r.await.unwrap_or_default();
            lat.sort();
            println!(
                "| {rate} | {name} | {}/{total} | {:.1} | {:.1} | {:.1} |",
                lat.len(),
                ms(percentile(&lat, 0.5)),
                ms(percentile(&lat, 0.99)),
                ms(*lat.last().unwrap_or(&Duration::ZERO)),
            );
        }
    }
}
