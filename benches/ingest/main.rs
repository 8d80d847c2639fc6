//! Ingest on a realistic event mix: switchboard's whole ingest against a minimal
//! split + parse loop, in one process and one run, over loopback TCP.
//!
//! `cargo bench --bench ingest` — five runs of each consumer pinned to one core, then
//! five unpinned, each printed, then the medians and switchboard's share of the
//! ceiling. `INGEST_RUNS=N` (default 5), `INGEST_EVENTS=N` (default 200000).
//! `cargo bench --bench ingest -- rss` instead measures memory per event over 10 M
//! events (see [`rss`]); `INGEST_PASSES=N` (default 50, at least 6) sets how many
//! times the corpus is streamed.
//!
//! The stream is `benches/data/gen_corpus.py`'s busy call centre (VarSet, Newexten,
//! RTCP, queue and device-state events, about 475 bytes each; generated once into
//! the temp directory). It is served by this same binary run as a child process
//! (`INGEST_ROLE=server`), which answers the login and the resync lists and then
//! writes the corpus as fast as the reader takes it; holding the corpus in another
//! process keeps its 95 MB out of the consumers' RSS. Pinned: the consumer's threads
//! on CPU 0, the server on CPU 1 (as `taskset` would); unpinned: both anywhere.
//!
//! - minimal: a blocking read loop that splits messages on the blank line and
//!   parses each into borrowed `(key, value)` pairs — the ceiling.
//! - switchboard: `app::start` with SQLite and `AMI_EVENT_FILTER=off` (the server
//!   sends everything, like a PBX without filters): timed from the server's first
//!   corpus byte until every event is counted in `switchboard_ami_events_total`, the
//!   router has routed every event it is handed and the store writer has committed.

#[path = "../common/ami_corpus.rs"]
mod ami_corpus;
mod consumers;
#[path = "../common/proc_rss.rs"]
mod proc_rss;
mod rss;
mod server;
mod threads;

use std::time::Duration;

use tikv_jemallocator::Jemalloc;

use ami_corpus::{closing_hangups, corpus_path};
use consumers::{expected, minimal, switchboard_run};
use server::{serve, Server};

#[global_allocator]
static ALLOC: Jemalloc = Jemalloc;

/// How long one consumer may take to get the stream it was sent.
const DEADLINE: Duration = Duration::from_secs(300);

pub(crate) fn env_num(key: &str, default: usize) -> usize {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// CLOCK_MONOTONIC in ns: one clock for the server process and the consumers.
pub(crate) fn mono_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Pins thread `tid` (0: the calling thread; a pid: that process's main thread) to
/// `cpu`, or lets it run anywhere with `None`.
fn pin(tid: libc::pid_t, cpu: Option<usize>) {
    // SAFETY: cpu_set_t is plain data; the CPU_* helpers only touch it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        match cpu {
            Some(c) => libc::CPU_SET(c, &mut set),
            None => (0..libc::CPU_SETSIZE as usize).for_each(|c| libc::CPU_SET(c, &mut set)),
        }
        libc::sched_setaffinity(tid, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    if std::env::var("INGEST_ROLE").is_ok_and(|r| r == "server") {
        serve();
        return;
    }
    let events = env_num("INGEST_EVENTS", 200_000);
    let runs = env_num("INGEST_RUNS", 5).max(1);
    let path = corpus_path(events);
    let mut bytes = std::fs::read(&path).expect("corpus");
    let want = expected(&bytes);
    let rss_mode = std::env::args().any(|a| a == "rss");
    actix_rt::System::new().block_on(async move {
        if rss_mode {
            let tail = closing_hangups(&bytes);
            bytes.extend_from_slice(&tail);
            let want = expected(&bytes);
            rss::run(&path, want, env_num("INGEST_PASSES", 50)).await;
            return;
        }
        let mut server = Server::start(&path, 1, 0);
        let me = 0;
        let server_pid = server.child.id() as libc::pid_t;
        println!(
            "corpus: {events} events ({} read by the state), {}",
            want.1,
            path.display()
        );
        for pinned in [true, false] {
            pin(me, pinned.then_some(0));
            pin(server_pid, pinned.then_some(1));
            let (mut mins, mut sbs, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
            for run in 0..runs {
                let port = server.port;
                let (n, done) = std::thread::spawn(move || minimal(port))
                    .join()
                    .expect("minimal");
                let start = server.streamed();
                let min_rate = n as f64 / ((done - start) as f64 / 1e9);
                let (sb_rate, all) = switchboard_run(&mut server, want).await;
                println!(
                    "{} run {run}: minimal {:.0} events/s ({n} events); switchboard {:.0} events/s \
                     (every event counted: {all})",
                    if pinned { "pinned" } else { "unpinned" },
                    min_rate,
                    sb_rate
                );
                mins.push(min_rate);
                sbs.push(sb_rate);
                ratios.push(sb_rate / min_rate);
            }
            let (m, s, r) = (median(&mut mins), median(&mut sbs), median(&mut ratios));
            println!(
                "{}: minimal median {:.0} ({:.0}–{:.0}), switchboard median {:.0} ({:.0}–{:.0}); \
                 ratio of the medians {:.2}, median of each run's ratio {r:.2} ({:.2}–{:.2})",
                if pinned {
                    "PINNED to one core"
                } else {
                    "UNPINNED"
                },
                m,
                mins[0],
                mins[mins.len() - 1],
                s,
                sbs[0],
                sbs[sbs.len() - 1],
                s / m,
                ratios[0],
                ratios[ratios.len() - 1]
            );
        }
        pin(me, None);
    });
}
