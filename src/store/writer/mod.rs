//! `StoreWriter`: the actor every write goes through.
//!
//! Actors `do_send` it [`Write`]s and move on. It buffers them, and every
//! [`WriterConfig::flush_interval`] (or as soon as [`WriterConfig::batch_size`] are
//! waiting) applies one batch with [`Store::apply`] on a thread of its own (a
//! low-priority one unless the writer is behind: see [`lanes`]): one transaction
//! per batch, one batch in flight, in arrival order. A failed batch
//! is kept and retried with capped exponential backoff while health reports
//! `degraded`; writes are never dropped. While the database is away, repeated
//! upserts of the same extension or live call are merged in the buffer, and past
//! [`WriterConfig::warn_pending`] ops the writer logs loudly (but still keeps
//! them). It also prunes what is older than each table's retention period, in
//! small steps between batches (see [`prune`]), and past
//! [`WriterConfig::max_backlog`] during an outage, or at shutdown, moves its
//! backlog to the journal (see [`spill`]).
//!
//! A write that neither succeeds nor fails (a SQLite lock held by another
//! connection, a PostgreSQL server that stopped answering) would otherwise look
//! healthy until the driver's own timeout: an attempt in flight longer than
//! [`WriterConfig::stall_after`] counts as `stalled`, and health says `degraded`.
//!
//! Send [`Flush`] before stopping the system: writes still buffered when the actor
//! stops are lost, and the writer logs how many.

mod actor;
mod buffer;
mod lanes;
mod messages;
mod pace;
mod prune;
mod spill;
mod supervision;

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use chrono::{DateTime, Utc};
use tokio::sync::oneshot;

pub use messages::{Flush, GetStoreHealth, StoreHealth, StoreState, Write, WriteBatch};
pub use spill::{CloseIfDrained, SpillAnswer, SpillPending};

use super::{Store, StoreError, WriteOp};
use crate::supervision::guarded;
use buffer::{Batch, WriteBuffer};
use lanes::Lanes;
use pace::{MAX_LAG, URGENT_FOR};

/// The writer's timings and bounds; the defaults suit the service.
#[derive(Debug, Clone)]
pub struct WriterConfig {
    /// Longest a write waits in the buffer before a batch is started.
    pub flush_interval: Duration,
    /// Most ops per transaction; a full batch is written at once.
    pub batch_size: usize,
    /// First retry delay after a failure.
    pub min_backoff: Duration,
    /// Longest retry delay.
    pub max_backoff: Duration,
    /// Buffer size past which the writer logs an error (and keeps going).
    pub warn_pending: usize,
    /// Extension history older than this is pruned.
    pub retention: Duration,
    /// Finished calls (with their legs) older than this are pruned.
    pub call_retention: Duration,
    /// Refresh runs older than this are pruned.
    pub refresh_retention: Duration,
    /// How often pruning runs.
    pub prune_every: Duration,
    /// A batch attempt in flight longer than this is reported as stalled (health
    /// `degraded`), so a stuck write is noticed before the driver gives up.
    pub stall_after: Duration,
    /// Cluster mode: the instance name written with every change into the
    /// change feed (`None`: no feed, a single instance).
    pub feed_instance: Option<Arc<str>>,
    /// Where unwritten ops go past `max_backlog` and at shutdown (`None`: kept
    /// in memory without bound).
    pub journal: Option<std::path::PathBuf>,
    /// Unwritten ops kept in memory during an outage before they move to the journal.
    pub max_backlog: usize,
}

impl Default for WriterConfig {
    fn default() -> Self {
        Self {
            flush_interval: Duration::from_millis(20),
            // Each commit writes every page it touched to the WAL again, so
            // under load fewer, larger batches cost the writer less CPU (the
            // 20 ms interval keeps them small when the load is light).
            batch_size: 5000,
            min_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(2),
            warn_pending: 1_000_000,
            retention: Duration::from_secs(30 * 24 * 3600),
            call_retention: Duration::from_secs(90 * 24 * 3600),
            refresh_retention: Duration::from_secs(90 * 24 * 3600),
            prune_every: Duration::from_secs(3600),
            stall_after: Duration::from_secs(2),
            feed_instance: None,
            journal: None,
            max_backlog: 200_000,
        }
    }
}

/// Buffers writes and commits them in batches, off the event loop.
pub struct StoreWriter {
    store: Store,
    config: WriterConfig,
    buffer: WriteBuffer,
    /// Taken from the buffer, not yet committed: in flight, or waiting to retry.
    batch: Option<Arc<Batch>>,
    /// When the attempt in flight started (`None`: no attempt in flight).
    attempt_started: Option<Instant>,
    flush_timer: Option<SpawnHandle>,
    backoff: Duration,
    committed_slot: u64,
    waiters: Vec<(u64, oneshot::Sender<()>)>,
    next_warning: usize,
    degraded: bool,
    last_error: Option<String>,
    last_flush: Option<DateTime<Utc>>,
    writes_total: u64,
    retries: u64,
    /// Where batches run (`None`: the threads could not be started; tokio's
    /// blocking pool instead).
    lanes: Option<Lanes>,
    /// Batches use the urgent lane until then (a background batch was starved,
    /// or the writer held the AMI readers back).
    urgent_until: Option<Instant>,
    /// Moves the batch in flight on the background lane to the urgent one while
    /// the background thread has not started it (see [`pace`]).
    promote: Option<lanes::Promote>,
    /// Since when more than one batch has been waiting (`None`: the writer keeps up).
    behind_since: Option<Instant>,
    /// A prune waits for the batch in flight.
    prune_due: bool,
    /// A prune runs (batches wait; not an attempt that can stall health).
    pruning: bool,
    /// Rows per table one prune step deletes at most (sized to about 50 ms).
    prune_limit: i64,
    /// Where restarts are counted when the writer runs under a `Supervisor`.
    supervision: Option<supervision::Supervision>,
    /// The journal: where the backlog goes past its bound and at shutdown.
    spill: spill::SpillState,
}

impl StoreWriter {
    /// A writer for `store` with the default [`WriterConfig`].
    pub fn new(store: Store) -> Self {
        Self::with_config(store, WriterConfig::default())
    }

    /// A writer with explicit timings (tests, benchmarks, a configured retention).
    pub fn with_config(store: Store, config: WriterConfig) -> Self {
        let spill = spill::SpillState {
            pending: config.journal.as_ref().is_some_and(|p| p.exists()),
            path: config.journal.clone(),
            ..spill::SpillState::default()
        };
        Self {
            spill,
            store,
            backoff: config.min_backoff,
            next_warning: config.warn_pending,
            config,
            buffer: WriteBuffer::default(),
            batch: None,
            attempt_started: None,
            flush_timer: None,
            committed_slot: 0,
            waiters: Vec::new(),
            degraded: false,
            last_error: None,
            last_flush: None,
            writes_total: 0,
            retries: 0,
            lanes: Lanes::start()
                .map_err(|e| {
                    log::warn!("store writer threads did not start ({e}); using the blocking pool")
                })
                .ok(),
            urgent_until: None,
            promote: None,
            behind_since: None,
            prune_due: false,
            pruning: false,
            prune_limit: prune::FIRST_LIMIT,
            supervision: None,
        }
    }

    /// The instance name feed rows carry, when this writer feeds other instances.
    pub fn feed_instance(&self) -> Option<&str> {
        self.config.feed_instance.as_deref()
    }

    fn pending(&self) -> usize {
        self.buffer.len() + self.batch.as_ref().map_or(0, |b| b.ops.len())
    }

    fn waiting_to_retry(&self) -> bool {
        (self.batch.is_some() || self.spill.pending) && !self.in_flight()
    }

    fn accept(&mut self, op: WriteOp, ctx: &mut Context<Self>) {
        if self.spill.closed {
            return self.journal_late(op);
        }
        self.buffer.push(op);
        if self.degraded {
            self.spill_if_over();
        }
        let pending = self.pending();
        if pending >= self.next_warning {
            log::error!(
                "store writer holds {pending} unwritten ops for {} (last error: {}); \
                 keeping them until the database accepts writes again",
                self.store.describe(),
                self.last_error.as_deref().unwrap_or("none")
            );
            self.next_warning = self.next_warning.saturating_mul(2);
        }
        self.schedule(ctx);
    }

    /// Starts a batch now if one is full, else makes sure a timer will.
    fn schedule(&mut self, ctx: &mut Context<Self>) {
        self.note_backlog();
        if self.in_flight() || self.waiting_to_retry() || self.buffer.is_empty() {
            return;
        }
        if self.buffer.len() >= self.config.batch_size || !self.waiters.is_empty() {
            self.start_flush(ctx);
        } else if self.flush_timer.is_none() {
            self.flush_timer = Some(ctx.run_later(self.config.flush_interval, |act, ctx| {
                act.flush_timer = None;
                act.start_flush(ctx);
            }));
        }
    }

    fn start_flush(&mut self, ctx: &mut Context<Self>) {
        if self.in_flight() || self.spill.closed {
            return;
        }
        if self.spill.pending {
            return self.replay_spilled(ctx);
        }
        if let Some(handle) = self.flush_timer.take() {
            ctx.cancel_future(handle);
        }
        let batch = match &self.batch {
            Some(batch) => Arc::clone(batch),
            None if self.buffer.is_empty() => {
                self.wake_waiters();
                return;
            }
            None => {
                let batch = Arc::new(self.buffer.take(self.config.batch_size));
                self.batch = Some(Arc::clone(&batch));
                batch
            }
        };
        let started = Instant::now();
        self.attempt_started = Some(started);
        let urgent = self.urgent();
        let store = self.store.clone();
        let apply = move || store.apply(&batch.ops);
        let job: std::pin::Pin<Box<dyn std::future::Future<Output = _>>> =
            match (&self.lanes, urgent) {
                (Some(lanes), false) => {
                    let (job, promote) = lanes.run_promotable(apply);
                    self.promote = Some(promote);
                    Box::pin(async move { job.await.map_err(|e| e.to_string()) })
                }
                _ => self.run_off_thread(urgent, apply),
            };
        ctx.spawn(job.into_actor(self).map(move |joined, act, ctx| {
            act.attempt_started = None;
            act.promote = None;
            if !urgent && started.elapsed() > MAX_LAG {
                log::debug!("a background store batch was starved of CPU; using the urgent lane");
                act.urgent_until = Some(Instant::now() + URGENT_FOR);
            }
            let result = joined.unwrap_or_else(|message| {
                Err(StoreError::Decode {
                    what: "write batch",
                    message,
                })
            });
            match result {
                Ok(()) => act.committed(ctx),
                Err(e) => act.failed(&e, ctx),
            }
        }));
    }

    fn committed(&mut self, ctx: &mut Context<Self>) {
        if let Some(batch) = self.batch.take() {
            self.committed_slot = batch.last_slot;
            self.writes_total += batch.ops.len() as u64;
        }
        if self.degraded {
            log::info!(
                "store writes to {} succeed again after {} retries",
                self.store.describe(),
                self.retries
            );
        }
        self.degraded = false;
        if let Some(metrics) = self.metrics() {
            metrics.store_backlog.committed();
        }
        self.publish_backlog();
        self.backoff = self.config.min_backoff;
        self.last_flush = Some(Utc::now());
        self.wake_waiters();
        if self.prune_due {
            self.prune(ctx);
        } else {
            self.schedule(ctx);
        }
    }

    fn failed(&mut self, error: &StoreError, ctx: &mut Context<Self>) {
        self.retries += 1;
        let message = error.to_string();
        if !self.degraded {
            log::warn!(
                "store writes to {} failing, retrying with backoff ({} ops pending): {message}",
                self.store.describe(),
                self.pending()
            );
        } else {
            log::debug!("store write retry failed: {message}");
        }
        self.degraded = true;
        self.last_error = Some(message);
        self.spill_if_over();
        self.publish_backlog();
        let delay = self.backoff;
        self.backoff = (self.backoff * 2).min(self.config.max_backoff);
        ctx.run_later(delay, |act, ctx| act.start_flush(ctx));
    }

    /// Runs database work on the writer's lanes (or the blocking pool); an `Err`
    /// says why it gave no answer.
    fn run_off_thread<T: Send + 'static>(
        &self,
        urgent: bool,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, String>>>> {
        match &self.lanes {
            Some(lanes) => {
                let job = lanes.run(urgent, f);
                Box::pin(async move { job.await.map_err(|e| e.to_string()) })
            }
            None => {
                let job = tokio::task::spawn_blocking(f);
                Box::pin(async move { job.await.map_err(|e| format!("writer task failed: {e}")) })
            }
        }
    }

    /// True while a batch attempt (or a prune) runs.
    fn in_flight(&self) -> bool {
        self.attempt_started.is_some() || self.pruning
    }

    /// True while the attempt in flight has been running longer than `stall_after`.
    fn stalled(&self) -> bool {
        self.attempt_started
            .is_some_and(|t| t.elapsed() >= self.config.stall_after)
    }

    fn wake_waiters(&mut self) {
        let done = if self.batch.is_none() && self.buffer.is_empty() && !self.spill.pending {
            u64::MAX
        } else {
            self.committed_slot
        };
        let (ready, waiting): (Vec<_>, Vec<_>) =
            self.waiters.drain(..).partition(|(slot, _)| *slot <= done);
        self.waiters = waiting;
        for (_, tx) in ready {
            let _ = tx.send(());
        }
    }
}
