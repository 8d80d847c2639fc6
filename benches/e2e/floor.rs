//! The machine's own latency floor: a hiccup meter and the hypervisor's steal.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The machine's own latency floor beside one latency run (means over runs in the
/// pooled row).
#[derive(Clone, Copy, Default)]
pub(crate) struct Floor {
    /// [`Sleeper::floor_p99_ms`] for two seconds before the service starts.
    pub(crate) idle_p99_ms: f64,
    /// The same while the load runs (its samples are recorded).
    pub(crate) loaded_p99_ms: f64,
    /// Share of CPU time the hypervisor gave to others while the load ran
    /// (`steal` in `/proc/stat`), in percent; NaN where it cannot be read.
    pub(crate) steal_pct: f64,
}

/// A hiccup meter (after jHiccup): a thread that sleeps 1 ms in a loop and records
/// how late each wake-up was. Events that arrive while the thread that should
/// handle them is not running wait until it runs again, whatever the code does; on
/// the shared 2-vCPU VMs here a sleeper in an otherwise idle process was woken more
/// than 1 ms late hundreds of times in 15 s (97 times more than 2 ms), and the
/// host's steal moved between 1 % and 40 % from one run to the next. Its floor says
/// how much of a run's p99 no change to switchboard can remove. Not a shorter nap:
/// at 200 µs the meter cost a tenth of a core, disturbing what it measured; a
/// stall shorter than the nap may go unseen, which matters only below the
/// millisecond this floor is about.
pub(crate) struct Sleeper {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<(Vec<u64>, Duration)>,
}

impl Sleeper {
    const NAP: Duration = Duration::from_millis(1);

    pub(crate) fn start() -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("e2e-sleeper".into())
            .spawn(move || {
                let begun = Instant::now();
                let mut late_ns = Vec::with_capacity(1 << 14);
                while !flag.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    std::thread::sleep(Self::NAP);
                    late_ns.push(t.elapsed().saturating_sub(Self::NAP).as_nanos() as u64);
                }
                (late_ns, begun.elapsed())
            })
            .expect("sleeper thread");
        Self { stop, thread }
    }

    /// Stops the thread and returns its floor: the delay `x` (ms) such that an
    /// event arriving at a uniformly random moment waits longer than `x` for a
    /// stalled thread 1 % of the time. A stall of length `d` delays events that
    /// arrive in it by up to `d`, so the share of time that waits more than `x` is
    /// Σ max(0, d − x) / elapsed; found by bisection.
    pub(crate) fn floor_p99_ms(self) -> f64 {
        self.stop.store(true, Ordering::Relaxed);
        let Ok((late, elapsed)) = self.thread.join() else {
            return f64::NAN;
        };
        let total = elapsed.as_nanos().max(1) as f64;
        let over = |x: u64| late.iter().map(|&d| d.saturating_sub(x)).sum::<u64>() as f64 / total;
        let (mut lo, mut hi) = (0u64, 100_000_000u64);
        while hi - lo > 1_000 {
            let mid = (lo + hi) / 2;
            if over(mid) > 0.01 {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        hi as f64 / 1e6
    }
}

/// (steal, total) CPU time in ticks from the first line of `/proc/stat`.
pub(crate) fn cpu_steal() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let ticks: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .take(8)
        .filter_map(|t| t.parse().ok())
        .collect();
    Some((*ticks.get(7)?, ticks.iter().sum()))
}

pub(crate) fn steal_pct(before: Option<(u64, u64)>, after: Option<(u64, u64)>) -> f64 {
    match (before, after) {
        (Some((s0, t0)), Some((s1, t1))) if t1 > t0 => 100.0 * (s1 - s0) as f64 / (t1 - t0) as f64,
        _ => f64::NAN,
    }
}
