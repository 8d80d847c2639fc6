//! Soak: the whole service against the simulator at a busy call centre's rate for a
//! long time, sampling memory, open files, actors and backlog — proof that nothing
//! grows without bound and that actors return to baseline when calls end.
//!
//! `cargo bench --bench soak -- [--minutes 30] [--rate 5000] [--extensions 1000] [--every 30]`
//!
//! Everything runs in-process on loopback: the simulator on 127.0.0.1:0, the service
//! with a temporary SQLite database, one WebSocket subscriber counting what it gets.
//! The run is bounded by `--minutes`; it stops by itself and prints a table.

#[path = "common/proc_rss.rs"]
mod proc_rss;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use switchboard::config::Config;
use switchboard::sim::{SimConfig, Simulator};

fn arg(name: &str, default: f64) -> f64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn rss_kib() -> u64 {
    proc_rss::rss_bytes() / 1024
}

fn open_files() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

/// The service binary's allocator (see `src/main.rs`), so this measures what runs.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() {
    let minutes = arg("--minutes", 1.0);
    let rate = arg("--rate", 5000.0);
    let extensions = arg("--extensions", 1000.0) as u32;
    let every = Duration::from_secs_f64(arg("--every", 30.0).max(1.0));
    let dir = tempfile::tempdir().expect("temp dir");
    let db = format!("sqlite://{}", dir.path().join("soak.db").display());
    let sim = Simulator::spawn(
        "127.0.0.1:0".parse().expect("addr"),
        SimConfig {
            username: "soak".into(),
            secret: "soak-secret".into(),
            seed: 42,
            extensions,
            rate: 0.0,
            ..SimConfig::default()
        },
    )
    .expect("simulator");
    let port = sim.addr().port().to_string();
    let config = Config::from_lookup(|k| match k {
        "AMI_HOST" => Some("127.0.0.1".into()),
        "AMI_PORT" => Some(port.clone()),
        "AMI_USERNAME" => Some("soak".into()),
        "AMI_SECRET" => Some("soak-secret".into()),
        "DATABASE_URL" => Some(db.clone()),
        "HTTP_BIND" => Some("127.0.0.1:0".into()),
        _ => None,
    })
    .expect("config");
    let sim_for_run = sim.clone();
    actix_web::rt::System::new().block_on(async move {
        let sim = sim_for_run;
        let service = switchboard::app::start(config).await.expect("service");
        let server = switchboard::app::http_server(
            service.state.clone(),
            switchboard::app::HttpSettings {
                bind: "127.0.0.1:0".parse().expect("loopback address"),
                workers: 1,
                shutdown_timeout: 30,
            },
        )
        .expect("bind");
        let http = server.addrs[0];
        let running = server.server;
        let handle = running.handle();
        actix_web::rt::spawn(running);

        let received = Arc::new(AtomicU64::new(0));
        let counter = received.clone();
        let (_resp, mut ws) = awc::Client::new()
            .ws(format!("ws://{http}/ws"))
            .max_frame_size(16 * 1024 * 1024)
            .connect()
            .await
            .expect("websocket");
        actix_web::rt::spawn(async move {
            use futures::SinkExt;
            while let Some(Ok(frame)) = ws.next().await {
                match frame {
                    awc::ws::Frame::Ping(p) if ws.send(awc::ws::Message::Pong(p.clone())).await.is_err() => {
                        break;
                    }
                    awc::ws::Frame::Text(_) => {
                        counter.fetch_add(1, Ordering::Relaxed);
                    }
                    awc::ws::Frame::Close(reason) => {
                        eprintln!("soak: the subscriber was closed: {reason:?}");
                        break;
                    }
                    _ => {}
                }
            }
        });

        let state = service.state.clone();
        let wait_connected = Instant::now();
        while state.pbxs[0].status.read().map(|s| s.state != switchboard::model::AmiConnectionState::Connected).unwrap_or(true) {
            if wait_connected.elapsed() > Duration::from_secs(10) {
                panic!("service did not connect to the simulator");
            }
            actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        }
        // The baseline is the idle service after its first resync: one actor per extension.
        while state.registry.count("extension") < extensions as usize
            && wait_connected.elapsed() < Duration::from_secs(30)
        {
            actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        }
        let baseline_actors = state.registry.snapshot().len();
        let baseline_rss = rss_kib();
        println!(
            "soak: {minutes} min at {rate} events/s, {extensions} extensions; baseline {baseline_actors} actors, {baseline_rss} KiB RSS, {} fds",
            open_files()
        );
        println!("{:>7} {:>10} {:>9} {:>6} {:>7} {:>8} {:>11} {:>10} {:>9}", "t_s", "rss_kib", "actors", "fds", "calls", "sim_calls", "events", "ws_msgs", "pending");
        sim.set_rate(rate);
        let start = Instant::now();
        let end = Duration::from_secs_f64(minutes * 60.0);
        let mut events_before = sim.stats().events;
        loop {
            let step = every.min(end.saturating_sub(start.elapsed()));
            actix_web::rt::time::sleep(step).await;
            let (calls, pending) = (
                state.live.read().map(|l| l.calls.len()).unwrap_or(0),
                state.metrics.store_pending.get(),
            );
            let stats = sim.stats();
            println!(
                "{:>7.0} {:>10} {:>9} {:>6} {:>7} {:>8} {:>11} {:>10} {:>9}",
                start.elapsed().as_secs_f64(),
                rss_kib(),
                state.registry.snapshot().len(),
                open_files(),
                calls,
                sim.snapshot().calls.len(),
                stats.events - events_before,
                received.load(Ordering::Relaxed),
                pending
            );
            events_before = stats.events;
            if start.elapsed() >= end {
                break;
            }
        }
        // Wind down: no new calls, hang up every call still up, wait for the trackers to end.
        sim.set_rate(0.0);
        let settle = Instant::now();
        while (state.registry.count("callTracker") > 0 || !sim.snapshot().calls.is_empty())
            && settle.elapsed() < Duration::from_secs(30)
        {
            for call in sim.snapshot().calls {
                sim.hangup_call(&call.linkedid);
            }
            actix_web::rt::time::sleep(Duration::from_millis(200)).await;
        }
        let _ = state.writer.send(switchboard::store::Flush).await;
        if std::env::var("SOAK_DEBUG").is_ok() {
            if let Ok(live) = state.live.read() {
                for c in live.calls.values().take(3) {
                    eprintln!("left over: {}", serde_json::to_string(c.as_ref()).unwrap_or_default());
                }
            }
            eprintln!("simulator calls left: {}", sim.snapshot().calls.len());
        }
        println!(
            "after wind-down: {} actors (baseline {baseline_actors}), {} call trackers, {} KiB RSS (baseline {baseline_rss}), {} fds, {} ws messages",
            state.registry.snapshot().len(),
            state.registry.count("callTracker"),
            rss_kib(),
            open_files(),
            received.load(Ordering::Relaxed)
        );
        service.shutdown().await;
        handle.stop(true).await;
    });
    sim.stop();
}
