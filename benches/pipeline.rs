//! Pipeline throughput and memory, printed as a table (no assertions on speed).
//!
//! `cargo bench --bench pipeline` (set `PIPELINE_BENCH_QUICK=1` for a short run).
//!
//! - router+trackers: pre-parsed `EventBatch`es (the real calls-local and
//!   calls-transfer captures, repeated; every call ends before its repeat starts)
//!   fed to an in-process router; timed until the hub's `seq` reaches what one
//!   warm-up pass per repetition produced.
//! - socket→router→trackers (replay): the whole service (`app::start`, SQLite)
//!   against a replay AMI server writing the real calls-local and calls-transfer
//!   captures, repeated, as pre-encoded bytes (so the load source costs almost
//!   nothing); timed from the first routed event until the router has routed every
//!   event and every call tracker has finished. `PIPELINE_BENCH_ONLY=replay` runs
//!   just this one (for profiling; `PIPELINE_BENCH_REPS=N` repeats the captures N
//!   times instead of 400, e.g. 10 under `valgrind --tool=callgrind`).
//! - socket→router: the whole service (`app::start`, SQLite) against the simulator;
//!   `burst(n)` at full speed, timed until the router has routed n events.
//! - socket→store (SQLite / PostgreSQL): the same, timed until every change is
//!   committed (hub settled, then the writer's `Flush` answered).
//! - memory per tracked call (measured first, on a fresh heap): 10,000 answered
//!   calls kept up in an in-process router + hub (live view and resume history
//!   included), process RSS (/proc/self/statm) before and after, divided; tracker
//!   actors counted in the registry.

use std::alloc::{GlobalAlloc, Layout};
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use actix::prelude::*;
use bytes::BytesMut;
use switchboard::actors::hub::{GetHubStats, Hub};
use switchboard::actors::live::{LiveState, SharedLive};
use switchboard::actors::messages::EventBatch;
use switchboard::actors::router::{EventRouterActor, GetRouterStats};
use switchboard::ami::{AmiCodec, AmiMessage, Event, Frame, Limits, RawMessage};
use switchboard::app;
use switchboard::config::Config;
use switchboard::metrics::Metrics;
use switchboard::sim::{SimConfig, Simulator};
use switchboard::store::Flush;
use switchboard::supervision::Registry;
use tikv_jemallocator::Jemalloc;
use tokio_util::codec::Decoder;

use proc_rss::rss_bytes;

#[path = "common/proc_rss.rs"]
mod proc_rss;
#[path = "../tests/it/common/replay.rs"]
#[allow(dead_code)] // the bench uses a part of the tests' helper
mod replay;

const DEADLINE: Duration = Duration::from_secs(120);

/// Counts live heap bytes, so memory per call is measured exactly (RSS alone
/// includes freed pages the allocator keeps and transient mailbox peaks).
struct CountingAlloc;

static LIVE_BYTES: AtomicI64 = AtomicI64::new(0);

// SAFETY: forwards every call to the service's allocator (jemalloc, as in
// `src/main.rs`) unchanged; only counts sizes.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size() as i64, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { Jemalloc.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as i64, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { Jemalloc.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE_BYTES.fetch_add(new_size as i64 - layout.size() as i64, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { Jemalloc.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

fn live_heap() -> i64 {
    LIVE_BYTES.load(Ordering::Relaxed)
}

fn quick() -> bool {
    std::env::var("PIPELINE_BENCH_QUICK").is_ok()
}

/// `PIPELINE_BENCH_ONLY=replay` (for profiling) runs just that measurement.
fn only_replay() -> bool {
    std::env::var("PIPELINE_BENCH_ONLY").is_ok_and(|v| v == "replay")
}

fn fixture_events(name: &str) -> Vec<Event> {
    let path = format!(
        "{}/tests/fixtures/{name}.server.ami",
        env!("CARGO_MANIFEST_DIR")
    );
    let raw = std::fs::read(&path).expect("fixture");
    let mut buf = BytesMut::from(&raw[..]);
    let mut codec = AmiCodec::new(Limits::default());
    let mut out = Vec::new();
    while let Ok(Some(frame)) = codec.decode(&mut buf) {
        if let Frame::Message(m) = frame {
            if let Ok(AmiMessage::Event(e)) = AmiMessage::classify(m) {
                out.push(e);
            }
        }
    }
    out
}

struct Pipeline {
    router: Addr<EventRouterActor>,
    hub: Addr<Hub>,
    registry: Registry,
}

fn pipeline() -> Pipeline {
    let metrics = Arc::new(Metrics::new().expect("metrics"));
    let registry = Registry::new();
    let live: SharedLive = Arc::new(RwLock::new(LiveState::default()));
    let hub = Hub::new(live, 10_000, None, metrics.clone(), registry.clone()).start();
    let router = EventRouterActor::new(
        "bench",
        hub.clone().recipient(),
        hub.clone().recipient(),
        registry.clone(),
        metrics,
        Duration::from_secs(4 * 3600),
    )
    .start();
    Pipeline {
        router,
        hub,
        registry,
    }
}

async fn hub_seq(hub: &Addr<Hub>) -> u64 {
    hub.send(GetHubStats).await.expect("hub").0
}

/// Waits until the router has routed `routed` events and every call tracker has
/// finished (so every CallEnded is queued at the hub), then for the hub to have
/// handled what was queued before (one more round trip).
async fn drained(p: &Pipeline, routed: u64) {
    let end = Instant::now() + DEADLINE;
    loop {
        let s = p.router.send(GetRouterStats).await.expect("router");
        if s.routed >= routed && s.calls == 0 {
            break;
        }
        assert!(Instant::now() < end, "router never drained");
        actix_rt::time::sleep(Duration::from_micros(200)).await;
    }
    hub_seq(&p.hub).await;
}

fn batches(events: &[Event], reps: usize) -> Vec<EventBatch> {
    let pbx: Arc<str> = Arc::from("bench");
    let mut out = Vec::new();
    for _ in 0..reps {
        for chunk in events.chunks(512) {
            out.push(EventBatch {
                skipped: 0,
                pbx: pbx.clone(),
                events: chunk.to_vec(),
                ticket: None,
            });
        }
    }
    out
}

/// Events per second through router, trackers and hub (no socket, no store).
async fn router_trackers() -> (u64, f64) {
    let mut events = fixture_events("calls-local");
    events.extend(fixture_events("calls-transfer"));
    let p = pipeline();
    // Warm-up pass (creates the extension actors, warms the allocator).
    let warm = events.len() as u64;
    for b in batches(&events, 1) {
        p.router.do_send(b);
    }
    drained(&p, warm).await;
    let reps = if quick() { 20 } else { 100 };
    let work = batches(&events, reps);
    let n = (events.len() * reps) as u64;
    let start = Instant::now();
    for b in work {
        p.router.do_send(b);
    }
    drained(&p, warm + n).await;
    let secs = start.elapsed().as_secs_f64();
    (n, n as f64 / secs)
}

/// Memory per tracked call with 10,000 answered calls up: (calls, RSS bytes per
/// call, live heap bytes per call, tracker actors).
async fn memory_per_call() -> (u64, f64, f64, usize) {
    let p = pipeline();
    // Wait for the actors to start, then count from here: the events and batches
    // built below are all freed once routed.
    hub_seq(&p.hub).await;
    p.router.send(GetRouterStats).await.expect("router");
    let heap_before = live_heap();
    let n: usize = 10_000;
    let ev = |pairs: &[(&str, String)]| Event::from_raw(RawMessage::from_pairs(pairs));
    let mut events = Vec::with_capacity(n * 6);
    for i in 0..n {
        let id = format!("bench-{i}");
        let callee_uid = format!("bench-{i}.1");
        let (a, b) = (1000 + i % 5000, 6000 + i % 3000);
        let chan = |ext: usize, uid: &str| {
            vec![
                ("Channel", format!("PJSIP/{ext}-{i:08x}")),
                ("ChannelStateDesc", "Up".to_string()),
                ("CallerIDNum", ext.to_string()),
                ("CallerIDName", format!("User {ext}")),
                ("Exten", b.to_string()),
                ("Uniqueid", uid.to_string()),
                ("Linkedid", id.clone()),
            ]
        };
        let mut nc = vec![("Event", "Newchannel".to_string())];
        nc.extend(chan(a, &id));
        events.push(ev(&nc));
        let mut nc2 = vec![("Event", "Newchannel".to_string())];
        nc2.extend(chan(b, &callee_uid));
        events.push(ev(&nc2));
        let mut de = vec![
            ("Event", "DialEnd".to_string()),
            ("DialStatus", "ANSWER".into()),
        ];
        de.extend(chan(a, &id));
        de.push(("DestCallerIDNum", b.to_string()));
        de.push(("DestUniqueid", callee_uid.clone()));
        events.push(ev(&de));
        for uid in [&id, &callee_uid] {
            let mut be = vec![("Event", "BridgeEnter".to_string())];
            be.extend(chan(a, uid));
            events.push(ev(&be));
        }
    }
    let pbx: Arc<str> = Arc::from("bench");
    let total = events.len();
    // Settle the allocator first: build the batches, then measure.
    let work: Vec<EventBatch> = events
        .chunks(512)
        .map(|c| EventBatch {
            skipped: 0,
            pbx: pbx.clone(),
            events: c.to_vec(),
            ticket: None,
        })
        .collect();
    drop(events);
    let before = rss_bytes();
    for b in work {
        p.router.do_send(b);
    }
    let end = Instant::now() + DEADLINE;
    loop {
        let stats = p.router.send(GetRouterStats).await.expect("router");
        let calls_in_hub = hub_seq(&p.hub).await;
        if stats.routed as usize == total && stats.calls == n && calls_in_hub >= (n * 2) as u64 {
            // Let trackers drain their mailboxes (the batches are freed as routed).
            let seq = calls_in_hub;
            actix_rt::time::sleep(Duration::from_millis(200)).await;
            if hub_seq(&p.hub).await == seq {
                break;
            }
        }
        assert!(Instant::now() < end, "calls never settled");
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }
    let after = rss_bytes();
    let per_call = (after.saturating_sub(before)) as f64 / n as f64;
    // The routed batches were freed; what is left is the calls' own state.
    let heap_per_call = (live_heap() - heap_before) as f64 / n as f64;
    (
        n as u64,
        per_call,
        heap_per_call,
        p.registry.count("callTracker"),
    )
}

/// The whole service against a replay of real captures repeated `reps` times:
/// (events, events/s from socket through router and trackers).
async fn replay_run(db_url: &str, reps: usize) -> (u64, f64) {
    let mut capture = replay::load("calls-local");
    capture.events.extend(replay::load("calls-transfer").events);
    let one = capture.events.clone();
    for _ in 1..reps {
        capture.events.extend(one.iter().cloned());
    }
    let total = capture.events.len() as u64;
    let server = replay::ReplayServer::start(capture, replay::ReplayOptions::default());
    let mut vars: HashMap<&str, String> = HashMap::new();
    vars.insert("AMI_PORT", server.addr().port().to_string());
    vars.insert("AMI_SECRET", "amisecret".into());
    vars.insert("DATABASE_URL", db_url.to_string());
    vars.insert("AMI_PING_INTERVAL_MS", "60000".into());
    // The replay server refuses `Filter` (an unknown action to it) and plays its
    // capture to the first session only; with `auto` the service ends that session
    // on the refusal and logs in again without a filter, to a server with nothing
    // left to play ("replay never started").
    vars.insert("AMI_EVENT_FILTER", "off".into());
    let config = Config::from_lookup(|k| vars.get(k).cloned()).expect("config");
    let service = app::start(config).await.expect("service");
    let router = service.state.pbxs[0].router.clone();
    let end = Instant::now() + DEADLINE;
    let (t0, routed0) = loop {
        let s = router.send(GetRouterStats).await.expect("router");
        if s.routed > 0 {
            break (Instant::now(), s.routed);
        }
        assert!(Instant::now() < end, "replay never started: {s:?}");
        actix_rt::time::sleep(Duration::from_micros(100)).await;
    };
    loop {
        let s = router.send(GetRouterStats).await.expect("router");
        if s.routed >= total && s.calls == 0 {
            break;
        }
        assert!(
            Instant::now() < end,
            "replay never drained: {s:?} of {total} events"
        );
        actix_rt::time::sleep(Duration::from_micros(200)).await;
    }
    let secs = t0.elapsed().as_secs_f64();
    service.shutdown().await;
    drop(server);
    (total, (total - routed0) as f64 / secs)
}

struct SocketRun {
    events: u64,
    routed_per_s: f64,
    committed_per_s: f64,
}

/// The whole service against the simulator: burst(n) at full speed.
async fn socket_run(db_url: &str, n: u64) -> SocketRun {
    let sim = Simulator::spawn(
        "127.0.0.1:0".parse().expect("addr"),
        SimConfig {
            rate: 0.0,
            extensions: 200,
            lag_capacity: 65_536,
            ..SimConfig::default()
        },
    )
    .expect("simulator");
    let addr = sim.addr();
    let mut vars: HashMap<&str, String> = HashMap::new();
    vars.insert("AMI_PORT", addr.port().to_string());
    vars.insert("AMI_SECRET", "amisecret".into());
    vars.insert("DATABASE_URL", db_url.to_string());
    vars.insert("AMI_PING_INTERVAL_MS", "60000".into());
    // Every event on the wire: the simulator counts the events it makes, a filter
    // would drop some before the router could count them ("burst never routed").
    vars.insert("AMI_EVENT_FILTER", "off".into());
    let config = Config::from_lookup(|k| vars.get(k).cloned()).expect("config");
    let service = app::start(config).await.expect("service");
    let state = service.state.clone();
    let end = Instant::now() + DEADLINE;
    while state.pbxs[0].status.read().expect("status").state
        != switchboard::model::AmiConnectionState::Connected
    {
        assert!(Instant::now() < end, "never connected");
        actix_rt::time::sleep(Duration::from_millis(5)).await;
    }
    let router = state.pbxs[0].router.clone();
    let routed0 = router.send(GetRouterStats).await.expect("router").routed;
    let events0 = sim.stats().events;
    let start = Instant::now();
    sim.burst(n);
    loop {
        let s = sim.stats();
        let routed = router.send(GetRouterStats).await.expect("router").routed - routed0;
        if s.burst_pending == 0 && routed >= s.events - events0 {
            break;
        }
        assert!(Instant::now() < end, "burst never routed");
        actix_rt::time::sleep(Duration::from_micros(500)).await;
    }
    let routed_secs = start.elapsed().as_secs_f64();
    let sent = sim.stats().events - events0;
    // Committed: the hub has published everything (seq stable), and the writer
    // has committed it.
    let mut last = u64::MAX;
    loop {
        let seq = state.hub.send(GetHubStats).await.expect("hub").0;
        if seq == last {
            break;
        }
        last = seq;
        actix_rt::time::sleep(Duration::from_millis(2)).await;
    }
    state.writer.send(Flush).await.expect("flush");
    let committed_secs = start.elapsed().as_secs_f64();
    service.shutdown().await;
    sim.stop();
    SocketRun {
        events: sent,
        routed_per_s: sent as f64 / routed_secs,
        committed_per_s: sent as f64 / committed_secs,
    }
}

fn pg_url() -> Option<(String, String)> {
    use diesel::connection::SimpleConnection;
    use diesel::Connection;
    let admin = std::env::var("SWITCHBOARD_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string());
    let mut conn = diesel::PgConnection::establish(&admin).ok()?;
    let name = format!("sb_bench_{}", std::process::id());
    conn.batch_execute(&format!("CREATE DATABASE {name}"))
        .ok()?;
    let base = admin
        .rsplit_once('/')
        .map_or(admin.as_str(), |(b, _)| b)
        .to_string();
    Some((format!("{base}/{name}"), admin))
}

fn drop_pg(admin: &str, url: &str) {
    use diesel::connection::SimpleConnection;
    use diesel::Connection;
    if let (Ok(mut c), Some((_, name))) =
        (diesel::PgConnection::establish(admin), url.rsplit_once('/'))
    {
        let _ = c.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
    }
}

fn main() {
    let n: u64 = if quick() { 100_000 } else { 400_000 };
    let sys = actix_rt::System::new();
    sys.block_on(async move {
        let mut rows: Vec<(String, String)> = Vec::new();
        if only_replay() {
            let dir = tempfile::tempdir().expect("tempdir");
            let db = format!("sqlite://{}", dir.path().join("replay.db").display());
            // PIPELINE_BENCH_REPS: fewer repeats for instruction counting under valgrind.
            let reps = std::env::var("PIPELINE_BENCH_REPS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(400);
            let (ev, rate) = replay_run(&db, reps).await;
            println!(
                "socket (replayed captures) → router → trackers: {ev} events, {rate:.0} events/s"
            );
            return;
        }
        // First, while the heap is fresh: later runs leave freed memory the
        // allocator would reuse, hiding the growth.
        let (calls, per_call, heap_per_call, trackers) = memory_per_call().await;
        rows.push((
            format!(
                "memory per tracked call, live heap ({calls} calls up, {trackers} tracker actors)"
            ),
            format!("{:>12.0} bytes", heap_per_call),
        ));
        rows.push((
            format!("memory per tracked call, process RSS growth ({calls} calls up)"),
            format!("{:>12.0} bytes", per_call),
        ));
        let (ev, rate) = router_trackers().await;
        rows.push((
            format!("parsed events → router → trackers → hub ({ev} events)"),
            format!("{rate:>12.0} events/s"),
        ));
        let dir = tempfile::tempdir().expect("tempdir");
        let sqlite = format!("sqlite://{}", dir.path().join("bench.db").display());
        let replay_db = format!("sqlite://{}", dir.path().join("replay.db").display());
        let (ev, rate) = replay_run(&replay_db, if quick() { 100 } else { 400 }).await;
        rows.push((
            format!(
                "socket (replayed captures) → router → trackers ({ev} events) [SQLite service]"
            ),
            format!("{rate:>12.0} events/s"),
        ));
        let run = socket_run(&sqlite, n).await;
        rows.push((
            format!("socket → router, burst({}) [SQLite service]", run.events),
            format!("{:>12.0} events/s", run.routed_per_s),
        ));
        rows.push((
            "socket → committed store write, SQLite".to_string(),
            format!("{:>12.0} events/s", run.committed_per_s),
        ));
        match pg_url() {
            Some((url, admin)) => {
                let run = socket_run(&url, n).await;
                rows.push((
                    format!(
                        "socket → router, burst({}) [PostgreSQL service]",
                        run.events
                    ),
                    format!("{:>12.0} events/s", run.routed_per_s),
                ));
                rows.push((
                    "socket → committed store write, PostgreSQL".to_string(),
                    format!("{:>12.0} events/s", run.committed_per_s),
                ));
                drop_pg(&admin, &url);
            }
            None => rows.push((
                "socket → committed store write, PostgreSQL".to_string(),
                "skipped (no server)".to_string(),
            )),
        }
        println!();
        println!("| measurement | result |");
        println!("| --- | ---: |");
        for (k, v) in rows {
            println!("| {k} | {} |", v.trim());
        }
    });
}
