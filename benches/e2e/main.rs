//! End-to-end load: simulator (AMI over loopback) → service actors → WebSocket
//! subscribers, everything in this process like the integration tests, built in
//! release by `cargo bench`.
//!
//! ```text
//! cargo bench --bench e2e                      # every scenario (~4-5 min)
//! cargo bench --bench e2e -- refresh latency   # some of them
//! ```
//!
//! `E2E_SECS=15` runs each throughput and fan-out rate that long instead of 3 s
//! and 2 s.
//!
//! `E2E_LATENCY=20000x10` runs only that latency case (rate x subscribers), and
//! `E2E_RUNS=5` runs each case five times instead of three.
//!
//! `E2E_DUMP=/tmp/samples.txt` appends every latency sample (subscriber, receipt
//! time, latency) to that file, to look at when the slow ones happen.
//!
//! `E2E_STAGES=1` also prints, after each latency run, the service's own histograms
//! (event `Timestamp:` → receipt by the connection, → flush by the hub), which
//! split the path into AMI, pipeline and fan-out, beside the subscribers' samples.
//!
//! `E2E_AB=KEY=VALUE` runs every latency case twice per run, on a service with the
//! defaults and on one with that configuration variable: a change's before and
//! after, interleaved in one process.
//!
//! Latency is taken against each change's exact event time, kept by seq by an
//! in-process probe subscriber ([`probe`]): the message's own `ts` is truncated to
//! the millisecond.
//!
//! Scenarios: `refresh` (1,000 extensions vs one-at-a-time ExtensionState over its
//! own login; with `E2E_REFRESH_PBXS=20` also a whole-board refresh of 2,000
//! extensions spread over that many simulated PBXs, at `REFRESH_MAX_SESSIONS` 4
//! and at one session per PBX), `throughput` (10 subscribers, rising simulator rates), `fanout`
//! (1,000 subscribers), `latency` (event `Timestamp:` → subscriber receipt),
//! `realistic` (`benches/data/gen_corpus.py`'s stream, see [`realistic`], beside the
//! simulator: rising rates, then latency; `E2E_CORPUS_EVENTS` sizes the corpus).
//! Figures are printed as tables; nothing is asserted about speed.
//!
//! `E2E_WORKERS=1` runs the service with one HTTP worker thread instead of two.
//!
//! The WebSocket client is awc (already a dev-dependency), on `E2E_CLIENT_THREADS`
//! threads of its own (default 2); each subscriber parses only `seq`, `type` and
//! `ts` of each message.

#[path = "../../tests/it/common/wait.rs"]
#[allow(dead_code)] // the bench uses a part of the tests' helper
mod wait;

#[path = "../../tests/it/common/service.rs"]
#[allow(dead_code)]
mod service;

#[path = "../common/ami_corpus.rs"]
mod ami_corpus;

mod corpus;
mod floor;
mod latency;
mod probe;
mod realistic;
mod refresh;
mod stages;
mod subscribers;
mod throughput;

use corpus::CorpusServer;
use service::{Options, TestService};
use switchboard::sim::SimConfig;
use throughput::Source;

/// The service binary's allocator (see `src/main.rs`), so this measures what runs.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let want = |name: &str| args.is_empty() || args.iter().any(|a| a == name);
    let sys = actix_rt::System::new();
    sys.block_on(async {
        if want("refresh") {
            refresh::refresh().await;
            if let Some(pbxs) = std::env::var("E2E_REFRESH_PBXS")
                .ok()
                .and_then(|v| v.parse::<usize>().ok())
                .filter(|n| *n > 0)
            {
                for sessions in [4, pbxs] {
                    refresh::refresh_board(pbxs, 2000, sessions).await;
                }
            }
        }
        if want("throughput") {
            throughput::throughput().await;
        }
        if want("fanout") {
            throughput::fanout().await;
        }
        if want("latency") {
            latency::latency().await;
        }
        if want("realistic") {
            realistic::realistic().await;
        }
    });
}

pub(crate) fn sim(extensions: u32) -> SimConfig {
    SimConfig {
        extensions,
        rate: 0.0,
        lag_capacity: 4096,
        ..SimConfig::default()
    }
}

pub(crate) async fn service(extensions: u32, workers: usize) -> TestService {
    TestService::with(Options {
        sim: sim(extensions),
        http_workers: workers,
        ..Options::default()
    })
    .await
}

/// The positive whole number in environment variable `name`, else `default`.
pub(crate) fn positive_env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n: &usize| n > 0)
        .unwrap_or(default)
}

/// HTTP worker threads of the service under load (`E2E_WORKERS`, default 2, one
/// per core of the machines here), to see what the WebSocket sends cost spread
/// over fewer or more threads.
pub(crate) fn http_workers() -> usize {
    positive_env("E2E_WORKERS", 2)
}

/// How long each throughput or fan-out rate runs: `E2E_SECS` when set (a burst of
/// a few seconds is the default; a longer run shows whether a rate is sustained
/// once the store writer stops yielding the CPU), else `default`.
pub(crate) fn secs(default: f64) -> f64 {
    std::env::var("E2E_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|s: &f64| *s > 0.0)
        .unwrap_or(default)
}

/// The rates to try: `E2E_RATES` (comma-separated events/s) when set, to look at
/// one rate closely (under `perf`, say), else `default`.
pub(crate) fn rates(default: &[f64]) -> Vec<f64> {
    std::env::var("E2E_RATES")
        .ok()
        .map(|v| {
            v.split(',')
                .filter_map(|r| r.trim().parse().ok())
                .collect::<Vec<f64>>()
        })
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| default.to_vec())
}

/// Where a scenario's events come from.
#[derive(Clone, Copy)]
pub(crate) enum Feed<'a> {
    /// The simulator's generated calls (every scenario but `realistic`).
    Sim,
    /// The realistic stream's replay server (`realistic`).
    Corpus(&'a CorpusServer),
}

impl Feed<'_> {
    /// A short name for table rows.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Feed::Sim => "sim",
            Feed::Corpus(_) => "corpus",
        }
    }

    /// What a table's title calls it.
    pub(crate) fn describe(&self) -> String {
        match self {
            Feed::Sim => "simulator (AMI socket)".to_string(),
            Feed::Corpus(c) => format!(
                "realistic stream (gen_corpus.py, {} events, AMI socket)",
                c.events
            ),
        }
    }

    /// A fresh service (500 simulated extensions, [`http_workers`]) fed by this,
    /// with one more configuration variable when `extra` is given.
    pub(crate) async fn service(&self, extra: Option<&(String, String)>) -> TestService {
        let mut env: std::collections::HashMap<&'static str, String> = Default::default();
        if let Some((k, v)) = extra {
            env.insert(Box::leak(k.clone().into_boxed_str()), v.clone());
        }
        let Feed::Corpus(corpus) = self else {
            return TestService::with(Options {
                sim: sim(500),
                http_workers: http_workers(),
                env,
                ..Options::default()
            })
            .await;
        };
        // The simulator TestService always starts stays idle and unconnected.
        let ts = TestService::with(
            Options {
                sim: sim(1),
                http_workers: http_workers(),
                wait_ready: false,
                env,
            }
            .env("AMI_PORT", corpus.port().to_string())
            .env("AMI_AUTH", "plain")
            .env("AMI_USERNAME", "switchboard")
            .env("AMI_SECRET", "x")
            .env("AMI_EVENT_FILTER", "off")
            .env("AMI_PING_INTERVAL_MS", "600000")
            .env("AMI_PING_TIMEOUT_MS", "600000"),
        )
        .await;
        wait::wait_until("the replay server streams", wait::DEADLINE, || async {
            corpus.streaming()
        })
        .await;
        ts
    }

    /// Its rate control, for `ts` started by [`Feed::service`].
    pub(crate) fn source<'s>(&'s self, ts: &'s TestService) -> &'s dyn Source {
        match self {
            Feed::Sim => &ts.sim,
            Feed::Corpus(c) => *c,
        }
    }
}
