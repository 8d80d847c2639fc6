//! [`Lanes`]: the two threads the writer's database work runs on.
//!
//! Store writes can wait a few milliseconds; a change on its way to a dashboard
//! should not. On a small machine a SQLite commit holds a core for milliseconds,
//! and the HTTP worker or pipeline thread woken meanwhile waits behind it: that
//! was most of the latency tail from PBX to subscriber (figures in
//! docs/PERFORMANCE.md, "Store"). So the usual batch runs on a *background*
//! thread under `SCHED_IDLE`, which the kernel preempts as soon as any ordinary
//! thread wants its core.
//!
//! An idle thread only gets the CPU others leave, so a backlog goes to the *urgent*
//! thread at ordinary priority instead: more than one batch waiting for longer than
//! the writer's lag bound (2 s), a backlog of many batches, a retry, someone
//! waiting for a flush. A burst is thus delivered live first and written down a
//! moment later; under sustained saturation the store still gets its fair share
//! and keeps up. Two threads rather than one switching policy, because an
//! unprivileged thread may enter `SCHED_IDLE` but not leave it.
//!
//! A batch sent to the background lane can still be moved to the urgent one
//! ([`Promote`]) until the background thread starts it: an idle thread starved
//! by other processes may not even get to start a batch for seconds, and the
//! writer promotes its batch as soon as it holds the AMI readers back.
//!
//! The writer keeps one batch in flight, so the lanes never run batches at once
//! and the order of writes is kept (a promoted job runs on whichever thread takes
//! it first, once). Elsewhere than Linux both lanes are ordinary threads.

use std::sync::{mpsc, Arc, Mutex};

use tokio::sync::oneshot;

type Job = Box<dyn FnOnce() + Send>;

/// The background and urgent threads.
#[derive(Debug)]
pub struct Lanes {
    background: mpsc::Sender<Job>,
    urgent: mpsc::Sender<Job>,
}

/// Moves a job sent to the background lane to the urgent one, unless the
/// background thread has started it already.
pub struct Promote {
    job: Arc<Mutex<Option<Job>>>,
    urgent: mpsc::Sender<Job>,
}

impl std::fmt::Debug for Promote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Promote")
    }
}

impl Promote {
    /// Asks the urgent thread to run the job if the background thread has not
    /// taken it yet; whichever takes it first runs it.
    pub fn promote(self) {
        let job = self.job;
        let _ = self.urgent.send(Box::new(move || take_and_run(&job)));
    }
}

/// Runs the job in `slot` unless another thread took it already.
fn take_and_run(slot: &Mutex<Option<Job>>) {
    // A poisoned lock only means a job panicked while holding it, which
    // `take` never does; the slot is still sound.
    let job = slot.lock().unwrap_or_else(|p| p.into_inner()).take();
    if let Some(job) = job {
        job();
    }
}

/// The job gave no answer (it panicked), or the lane's thread is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the store writer thread has stopped")]
pub struct LaneGone;

impl Lanes {
    /// Starts both threads; they end when the `Lanes` is dropped.
    pub fn start() -> std::io::Result<Self> {
        Ok(Self {
            background: spawn("store-writer-bg", true)?,
            urgent: spawn("store-writer", false)?,
        })
    }

    /// Runs `f` on the urgent or the background thread; resolves to its result.
    pub fn run<T: Send + 'static>(
        &self,
        urgent: bool,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> impl std::future::Future<Output = Result<T, LaneGone>> {
        let (tx, rx) = oneshot::channel();
        let lane = if urgent {
            &self.urgent
        } else {
            &self.background
        };
        let sent = lane
            .send(Box::new(move || {
                let _ = tx.send(f());
            }))
            .is_ok();
        async move {
            if !sent {
                return Err(LaneGone);
            }
            rx.await.map_err(|_| LaneGone)
        }
    }

    /// Runs `f` on the background thread, or on the urgent one if the returned
    /// [`Promote`] is used before the background thread starts it.
    pub fn run_promotable<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> (
        impl std::future::Future<Output = Result<T, LaneGone>>,
        Promote,
    ) {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = tx.send(f());
        });
        let slot = Arc::new(Mutex::new(Some(job)));
        let promote = Promote {
            job: Arc::clone(&slot),
            urgent: self.urgent.clone(),
        };
        let taker = Arc::clone(&slot);
        let sent = self
            .background
            .send(Box::new(move || take_and_run(&taker)))
            .is_ok();
        if !sent {
            // Nobody may run it now: the caller sees `LaneGone` and retries.
            drop(slot.lock().unwrap_or_else(|p| p.into_inner()).take());
        }
        // The answer comes from whichever thread ran `f`; not waiting for the
        // background thread, which may be starved long after a promotion.
        let result = async move {
            if !sent {
                return Err(LaneGone);
            }
            rx.await.map_err(|_| LaneGone)
        };
        (result, promote)
    }
}

fn spawn(name: &str, background: bool) -> std::io::Result<mpsc::Sender<Job>> {
    let (tx, rx) = mpsc::channel::<Job>();
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            if background {
                lower_priority();
            }
            while let Ok(job) = rx.recv() {
                // A job that panics drops its answer (the writer sees `LaneGone` and
                // retries); the lane itself keeps serving.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
            }
        })?;
    Ok(tx)
}

/// Puts the calling thread under `SCHED_IDLE` (Linux); where that fails or does
/// not exist, it stays an ordinary thread, which is only slower to yield.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: `sched_setscheduler` reads `param` only; pid 0 is this thread.
        let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) };
        if rc != 0 {
            log::warn!(
                "store writer: cannot lower its CPU priority ({}); writes compete with deliveries",
                std::io::Error::last_os_error()
            );
        }
    }
}

/// The scheduling policy of the calling thread (tests).
#[cfg(all(test, target_os = "linux"))]
fn policy() -> i32 {
    // SAFETY: no arguments besides pid 0, this thread.
    unsafe { libc::sched_getscheduler(0) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_rt::test]
    async fn jobs_run_on_their_lane_and_answer() {
        let lanes = Lanes::start().expect("threads start");
        let name = |urgent| {
            lanes.run(urgent, || {
                std::thread::current()
                    .name()
                    .map(str::to_string)
                    .unwrap_or_default()
            })
        };
        assert_eq!(name(true).await, Ok("store-writer".to_string()));
        assert_eq!(name(false).await, Ok("store-writer-bg".to_string()));
        #[cfg(target_os = "linux")]
        {
            assert_eq!(lanes.run(false, policy).await, Ok(libc::SCHED_IDLE));
            assert_eq!(lanes.run(true, policy).await, Ok(libc::SCHED_OTHER));
        }
    }

    #[actix_rt::test]
    async fn a_promoted_job_runs_once_on_the_urgent_lane_when_the_background_one_is_busy() {
        let lanes = Lanes::start().expect("threads start");
        // Keep the background thread busy until the promoted job has answered.
        let (release, busy) = std::sync::mpsc::channel::<()>();
        let blocker = lanes.run(false, move || busy.recv().is_ok());
        let runs = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = Arc::clone(&runs);
        let (answer, promote) = lanes.run_promotable(move || {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            std::thread::current()
                .name()
                .map(str::to_string)
                .unwrap_or_default()
        });
        promote.promote();
        assert_eq!(answer.await, Ok("store-writer".to_string()));
        release.send(()).expect("the background job waits");
        assert_eq!(blocker.await, Ok(true));
        // The background thread found the job taken: it ran once.
        assert_eq!(lanes.run(false, || ()).await, Ok(()));
        assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[actix_rt::test]
    async fn a_job_not_promoted_runs_on_the_background_lane() {
        let lanes = Lanes::start().expect("threads start");
        let (answer, _promote) = lanes.run_promotable(|| {
            std::thread::current()
                .name()
                .map(str::to_string)
                .unwrap_or_default()
        });
        assert_eq!(answer.await, Ok("store-writer-bg".to_string()));
    }

    #[actix_rt::test]
    async fn a_job_that_panics_gets_no_answer_and_the_lane_goes_on() {
        let lanes = Lanes::start().expect("threads start");
        let failed = lanes.run(true, || -> u32 { panic!("boom") }).await;
        assert_eq!(failed, Err(LaneGone));
        assert_eq!(lanes.run(true, || 1).await, Ok(1), "the lane still serves");
    }
}
