//! `cargo bench --bench ingest -- rss`: memory per event. The corpus is streamed
//! `INGEST_PASSES` times (default 50: 10 M events; ids renumbered per pass so every
//! call is new, the channels a pass leaves up hung up at its end) into one service.
//! RSS is read three ways, after the first `FIRST_PASSES` passes (1 M events) and
//! after the last:
//!
//! - in flight: while the stream runs, as the millionth (tenth millionth) event is
//!   counted;
//! - drained: the server paused, every event counted and routed, every change
//!   published and committed;
//! - purged: the same, once jemalloc has handed its freed pages back.
//!
//! Then each figure at the end against the same figure after 1 M, and whether it
//! stays within `FLAT` of it (printed, not asserted). Each drained line also shows
//! what jemalloc holds live (`allocated`) against what it keeps (`resident`).

use std::path::Path;
use std::time::{Duration, Instant};

use switchboard::actors::hub::GetHubStats;
use switchboard::actors::router::GetRouterStats;
use switchboard::app;
use switchboard::store::GetStoreHealth;

use crate::consumers::{counted, drained, start_service};
use crate::proc_rss::rss_bytes;
use crate::server::Server;
use crate::{mono_ns, DEADLINE};

/// Passes before the first drained reading: 1 M events of the 200,000-event corpus.
const FIRST_PASSES: usize = 5;
/// How far above the figure after 1 M the figure at the end may be and still count
/// as flat.
const FLAT: f64 = 0.10;
const MIB: f64 = 1024.0 * 1024.0;

/// RSS measured three ways at one point of the stream.
#[derive(Debug, Default, Clone, Copy)]
struct Memory {
    in_flight: u64,
    drained: u64,
    purged: u64,
}

/// Streams `passes` passes of the corpus at `path` (`want`: what one pass counts
/// and routes, see [`crate::consumers::expected`]) and prints the memory figures.
pub(crate) async fn run(path: &Path, want: (u64, u64), passes: usize) {
    let passes = passes.max(FIRST_PASSES + 1);
    let mut server = Server::start(path, passes, FIRST_PASSES);
    let dir = tempfile::tempdir().expect("tempdir");
    let service = start_service(server.port, dir.path()).await;
    let mut next_million = 1_000_000;
    let (mut start, mut paused_ns, mut finished) = (0, 0, 0);
    let mut points = Vec::new();
    for upto in [FIRST_PASSES as u64, passes as u64] {
        // FullyBooted comes on top of the corpus.
        let (count, routed) = (want.0 * upto + 1, want.1 * upto + 1);
        let in_flight = stream_to(&service, count, &mut next_million).await;
        finished = drained(&service, count, routed).await;
        let mut m = Memory {
            in_flight,
            drained: rss_bytes(),
            ..Memory::default()
        };
        purge();
        m.purged = rss_bytes();
        let heap = Heap::read();
        dump_heap_profile(upto);
        let calls = service.state.pbxs[0]
            .router
            .send(GetRouterStats)
            .await
            .expect("router")
            .calls;
        println!(
            "after {upto} passes ({:.2} M events), drained: RSS {:.1} MiB; with freed pages \
             purged: {:.1} MiB; {calls} calls open; jemalloc then: {heap}",
            count as f64 / 1e6,
            m.drained as f64 / MIB,
            m.purged as f64 / MIB,
        );
        points.push((count, m));
        if upto == FIRST_PASSES as u64 {
            start = server.line("stream");
            let paused = server.line("paused");
            let resumed = mono_ns();
            paused_ns = resumed.saturating_sub(paused);
            server.resume();
        }
    }
    let all = counted(&service) == points[1].0;
    service.shutdown().await;
    server.line("done");
    let elapsed = finished.saturating_sub(start).saturating_sub(paused_ns) as f64 / 1e9;
    println!(
        "rss run: about {:.0} events/s (the pause at 1 M left out), every event counted: {all}",
        points[1].0 as f64 / elapsed
    );
    report(points[0], points[1]);
}

/// Streams until `count` events are counted, printing a line at every million;
/// returns RSS at the last million passed.
async fn stream_to(service: &app::Service, count: u64, next_million: &mut u64) -> u64 {
    // The store sets the pace here (the readers wait for it), so allow each
    // million events what the throughput mode allows a whole run.
    let end = Instant::now() + DEADLINE * (count / 1_000_000 + 1) as u32;
    let mut last = rss_bytes();
    loop {
        let c = counted(service);
        if c >= *next_million {
            last = rss_bytes();
            let stats = service.state.pbxs[0]
                .router
                .send(GetRouterStats)
                .await
                .expect("router");
            let hub_seq = service.state.hub.send(GetHubStats).await.expect("hub").0;
            let store = service
                .state
                .writer
                .send(GetStoreHealth)
                .await
                .expect("writer");
            println!(
                "{} M events: RSS {:.1} MiB, {} calls open, {} routed, {} changes published, \
                 {} store ops pending, {} committed",
                *next_million / 1_000_000,
                last as f64 / MIB,
                stats.calls,
                stats.routed,
                hub_seq,
                store.pending,
                store.writes_total
            );
            *next_million += 1_000_000;
        }
        if c >= count {
            return last;
        }
        assert!(
            Instant::now() < end,
            "ingest never finished ({c} of {count} counted)"
        );
        actix_rt::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Each figure at the end against the same figure after 1 M.
fn report(first: (u64, Memory), last: (u64, Memory)) {
    let (n0, a) = first;
    let (n1, b) = last;
    let rows = [
        ("in flight", a.in_flight, b.in_flight),
        ("drained", a.drained, b.drained),
        ("purged", a.purged, b.purged),
    ];
    println!(
        "RSS after {:.1} M events against after {:.1} M (flat: within {:.0} %):",
        n1 as f64 / 1e6,
        n0 as f64 / 1e6,
        FLAT * 100.0
    );
    for (name, x, y) in rows {
        let growth = y as f64 / x as f64 - 1.0;
        println!(
            "  {name:>9}: {:.1} → {:.1} MiB ({:+.1} %): {}",
            x as f64 / MIB,
            y as f64 / MIB,
            growth * 100.0,
            if growth <= FLAT { "flat" } else { "NOT flat" }
        );
    }
}

/// What jemalloc holds (`stats.*`), to tell live data from pages it keeps: a
/// growth of `allocated` is something the service holds on to, a growth of
/// `resident` alone is fragmentation or allocator metadata.
struct Heap {
    allocated: usize,
    active: usize,
    metadata: usize,
    resident: usize,
}

impl Heap {
    fn read() -> Self {
        // Stats are cached per epoch: advance it first.
        let mut epoch: u64 = 1;
        // SAFETY: "epoch" takes a u64 written from a valid pointer of that size.
        unsafe {
            tikv_jemalloc_sys::mallctl(
                c"epoch".as_ptr(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                (&mut epoch as *mut u64).cast(),
                std::mem::size_of::<u64>(),
            );
        }
        Self {
            allocated: stat(c"stats.allocated"),
            active: stat(c"stats.active"),
            metadata: stat(c"stats.metadata"),
            resident: stat(c"stats.resident"),
        }
    }
}

impl std::fmt::Display for Heap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "allocated {:.1} MiB, active {:.1} MiB, metadata {:.1} MiB, resident {:.1} MiB",
            self.allocated as f64 / MIB,
            self.active as f64 / MIB,
            self.metadata as f64 / MIB,
            self.resident as f64 / MIB
        )
    }
}

/// With `INGEST_HEAP_PROFILE=DIR` and a jemalloc built with `profiling` (run
/// with `_RJEM_MALLOC_CONF=prof:true`), writes a heap profile of the drained
/// service to `DIR/after-<passes>.heap`, for `jeprof --base`; otherwise nothing.
fn dump_heap_profile(passes: u64) {
    let Some(dir) = std::env::var_os("INGEST_HEAP_PROFILE") else {
        return;
    };
    let path = std::path::Path::new(&dir).join(format!("after-{passes}.heap"));
    let Ok(path) = std::ffi::CString::new(path.to_string_lossy().into_owned()) else {
        return;
    };
    let mut name = path.as_ptr();
    // SAFETY: "prof.dump" takes a `const char *` written from a valid pointer of
    // that size; `path` outlives the call.
    let rc = unsafe {
        tikv_jemalloc_sys::mallctl(
            c"prof.dump".as_ptr(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            (&mut name as *mut *const std::ffi::c_char).cast(),
            std::mem::size_of::<*const std::ffi::c_char>(),
        )
    };
    println!("heap profile {path:?}: mallctl answered {rc}");
}

/// One `size_t` statistic of jemalloc (0 when it has none of that name).
fn stat(name: &std::ffi::CStr) -> usize {
    let mut value: usize = 0;
    let mut len = std::mem::size_of::<usize>();
    // SAFETY: a read of a documented size_t statistic into a buffer of that size.
    let rc = unsafe {
        tikv_jemalloc_sys::mallctl(
            name.as_ptr(),
            (&mut value as *mut usize).cast(),
            &mut len,
            std::ptr::null_mut(),
            0,
        )
    };
    if rc == 0 {
        value
    } else {
        0
    }
}

/// Hands the pages of freed memory back to the system now rather than after
/// jemalloc's decay time, so RSS shows what is held rather than what was freed.
fn purge() {
    // SAFETY: a write-less mallctl of a documented name (4096 = every arena).
    unsafe {
        tikv_jemalloc_sys::mallctl(
            c"arena.4096.purge".as_ptr(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
        );
    }
}
