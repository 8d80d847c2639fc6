//! The writer's journal (see `store::journal`): where its backlog goes when the
//! database is away too long or the service stops before it could flush.
//!
//! - During an outage the backlog (the batch waiting to retry and the buffer) is
//!   bounded by [`WriterConfig::max_backlog`](super::WriterConfig): past it, the
//!   ops move to the journal (appended and synced) instead of growing memory.
//!   From then on the next attempt is to replay the journal; only once it is
//!   fully in the database does the buffer (newer ops) get written, so the
//!   database sees every op in the order the service made them.
//! - At shutdown, [`CloseIfDrained`] closes a writer that flushed everything, and
//!   [`SpillPending`] moves whatever the grace period could not
//!   flush to the journal; the next start replays it before its first login.

use std::path::PathBuf;

use actix::prelude::*;

use super::StoreWriter;
use crate::store::journal;
use crate::store::WriteOp;

/// The writer's journal state.
#[derive(Debug, Default)]
pub(super) struct SpillState {
    /// Where the journal is (`None`: no journal; the backlog then has no bound).
    pub(super) path: Option<PathBuf>,
    /// The journal holds ops not yet replayed: they go before the buffer's.
    pub(super) pending: bool,
    /// The last slot moved to the journal (committed once the journal is replayed).
    pub(super) slot: u64,
    /// Ops moved to the journal since start.
    pub(super) journaled: u64,
    /// Stopped: the service is shutting down and its backlog went to the journal.
    pub(super) closed: bool,
}

/// Shutdown: move every unwritten op to the journal. With `force` false and a
/// batch attempt still running, nothing moves and the answer says so (the
/// attempt may yet commit; ask again shortly). With `force`, the running
/// attempt's ops are journaled too.
#[derive(Debug, Message)]
#[rtype(result = "SpillAnswer")]
pub struct SpillPending {
    /// Journal the running attempt's ops too.
    pub force: bool,
}

/// Shutdown, once a [`crate::store::Flush`] came back: closes the writer when
/// nothing is unwritten (answers `Ok`), else answers how many ops arrived since
/// and leaves them to be flushed (the last changes of a stopping pipeline), so a
/// clean stop never journals what the database could still take.
#[derive(Debug, Message)]
#[rtype(result = "Result<(), usize>")]
pub struct CloseIfDrained;

/// What [`SpillPending`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpillAnswer {
    /// Nothing was left unwritten.
    Nothing,
    /// A batch attempt is still running (and `force` was not given).
    InFlight,
    /// This many ops are now in the journal.
    Journaled(usize),
    /// The ops could be written neither to the database nor to the journal:
    /// how many of each kind, and why.
    Lost {
        /// `finishedCall=12 transition=40`.
        counts: String,
        /// The journal's error.
        reason: String,
    },
}

impl StoreWriter {
    /// Moves the backlog to the journal when it is past its bound and the
    /// database is failing (nothing in flight).
    pub(super) fn spill_if_over(&mut self) {
        let over = self.pending() >= self.config.max_backlog.max(1);
        if over && self.degraded && !self.in_flight() && self.spill.path.is_some() {
            if let Err(e) = self.spill_backlog() {
                log::error!(
                    "store backlog of {} ops could not move to the journal ({e}); \
                     keeping it in memory",
                    self.pending()
                );
            }
        }
    }

    /// Appends the batch (when not in flight) and the buffer to the journal.
    fn spill_backlog(&mut self) -> Result<usize, journal::JournalError> {
        let Some(path) = self.spill.path.clone() else {
            return Ok(0);
        };
        let mut ops: Vec<WriteOp> = Vec::new();
        let batch = if self.in_flight() {
            None
        } else {
            self.batch.clone()
        };
        if let Some(b) = &batch {
            ops.extend(b.ops.iter().cloned());
        }
        let taken = self.buffer.take(usize::MAX);
        ops.extend(taken.ops.iter().cloned());
        if ops.is_empty() {
            return Ok(0);
        }
        if let Err(e) = journal::append(&path, &ops, self.store.identity()) {
            // Back into the buffer, in order, so nothing is lost while we live.
            let mut back = super::buffer::WriteBuffer::default();
            std::mem::swap(&mut back, &mut self.buffer);
            let rest = back.take(usize::MAX).ops;
            for op in taken.ops.into_iter().chain(rest) {
                self.buffer.push(op);
            }
            return Err(e);
        }
        if batch.is_some() {
            self.batch = None;
        }
        let last = batch
            .map_or(0, |b| b.last_slot)
            .max(taken.last_slot)
            .max(self.spill.slot);
        self.spill.slot = last;
        self.spill.pending = true;
        self.spill.journaled += ops.len() as u64;
        log::warn!(
            "store unavailable: moved {} unwritten ops to the journal {} ({}); \
             they are replayed when the database answers",
            ops.len(),
            path.display(),
            journal::count_by_kind(&ops)
        );
        Ok(ops.len())
    }

    /// Replays the journal as the writer's next attempt (the database answered
    /// again, or a retry is due).
    pub(super) fn replay_spilled(&mut self, ctx: &mut Context<Self>) {
        let Some(path) = self.spill.path.clone() else {
            self.spill.pending = false;
            return;
        };
        self.attempt_started = Some(std::time::Instant::now());
        let store = self.store.clone();
        let job = self.run_off_thread(true, move || store.replay_journal(&path));
        ctx.spawn(job.into_actor(self).map(move |joined, act, ctx| {
            act.attempt_started = None;
            let result = joined.unwrap_or_else(|message| {
                Err(crate::store::StoreError::Decode {
                    what: "journal replay",
                    message,
                })
            });
            match result {
                Ok(report) => {
                    log::info!("store: journal replayed ({report})");
                    act.spill.pending = false;
                    act.committed_slot = act.committed_slot.max(act.spill.slot);
                    act.committed(ctx);
                }
                Err(e) => act.failed(&e, ctx),
            }
        }));
    }

    /// Ops moved to the journal since start.
    pub(super) fn journaled(&self) -> u64 {
        self.spill.journaled
    }
}

impl Handler<CloseIfDrained> for StoreWriter {
    type Result = Result<(), usize>;

    fn handle(&mut self, _msg: CloseIfDrained, _ctx: &mut Self::Context) -> Self::Result {
        match self.pending() {
            0 if !self.in_flight() => {
                self.spill.closed = true;
                Ok(())
            }
            n => Err(n.max(1)),
        }
    }
}

impl StoreWriter {
    /// An op that arrives once the writer is closed (the service is stopping
    /// and its backlog already went to the journal, or nothing was left) goes
    /// straight to the journal, or is logged as lost: never dropped in silence.
    pub(super) fn journal_late(&mut self, op: WriteOp) {
        let ops = [op];
        let counts = journal::count_by_kind(&ops);
        let result = match self.spill.path.clone() {
            Some(path) => {
                journal::append(&path, &ops, self.store.identity()).map_err(|e| e.to_string())
            }
            None => Err("no journal is configured".to_string()),
        };
        match result {
            Ok(()) => {
                self.spill.journaled += 1;
                log::warn!("store: a write after the stop was journaled ({counts})");
            }
            Err(reason) => log::error!(
                "store: a write after the stop was LOST (written neither to the database \
                 nor to the journal: {reason}): {counts}"
            ),
        }
    }
}

impl Handler<SpillPending> for StoreWriter {
    type Result = MessageResult<SpillPending>;

    fn handle(&mut self, msg: SpillPending, _ctx: &mut Self::Context) -> Self::Result {
        if self.in_flight() && !msg.force {
            return MessageResult(SpillAnswer::InFlight);
        }
        if self.pending() == 0 {
            self.spill.closed = true;
            return MessageResult(SpillAnswer::Nothing);
        }
        // A forced spill journals the running attempt's ops as well: they may
        // still commit, and then replay writes them again (upserts and finished
        // calls are the same either way).
        let mut ops: Vec<WriteOp> = Vec::new();
        if let Some(b) = &self.batch {
            ops.extend(b.ops.iter().cloned());
        }
        ops.extend(self.buffer.take(usize::MAX).ops);
        self.batch = None;
        self.spill.closed = true;
        let Some(path) = self.spill.path.clone() else {
            return MessageResult(SpillAnswer::Lost {
                counts: journal::count_by_kind(&ops),
                reason: "no journal is configured".to_string(),
            });
        };
        let answer = match journal::append(&path, &ops, self.store.identity()) {
            Ok(()) => {
                self.spill.journaled += ops.len() as u64;
                SpillAnswer::Journaled(ops.len())
            }
            Err(e) => SpillAnswer::Lost {
                counts: journal::count_by_kind(&ops),
                reason: e.to_string(),
            },
        };
        MessageResult(answer)
    }
}
