//! The store's part of stopping: flush for up to `SHUTDOWN_GRACE`, then move
//! what is still unwritten to the journal, and say whether anything was lost.

use std::time::{Duration, Instant};

use actix::prelude::*;

use crate::store::{CloseIfDrained, Flush, SpillAnswer, SpillPending, StoreWriter};

/// How long a batch attempt still running after the grace period may take to
/// end on its own before its ops are journaled as well.
const IN_FLIGHT_WAIT: Duration = Duration::from_secs(10);

/// What became of the writes the service held when it stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopOutcome {
    /// Everything is in the database.
    Flushed,
    /// This many ops are in the journal, replayed at the next start.
    Journaled(usize),
    /// Ops could be written neither to the database nor to the journal.
    Lost {
        /// How many of each kind (`finishedCall=12 transition=40`).
        counts: String,
        /// Why the journal could not take them.
        reason: String,
    },
}

impl StopOutcome {
    /// True when nothing was lost (exit 0).
    pub fn is_lossless(&self) -> bool {
        !matches!(self, Self::Lost { .. })
    }
}

/// Flushes for up to `grace` (again while ops keep arriving, until the writer
/// closes with nothing unwritten); then journals what is left.
pub(super) async fn flush_or_journal(writer: &Addr<StoreWriter>, grace: Duration) -> StopOutcome {
    let deadline = Instant::now() + grace;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if !matches!(
            tokio::time::timeout(left, writer.send(Flush)).await,
            Ok(Ok(()))
        ) {
            break;
        }
        match writer.send(CloseIfDrained).await {
            Ok(Ok(())) => {
                log::info!("store: pending writes flushed");
                return StopOutcome::Flushed;
            }
            Ok(Err(_)) if Instant::now() < deadline => continue,
            Ok(Err(_)) | Err(_) => break,
        }
    }
    log::warn!(
        "store: writes not flushed within SHUTDOWN_GRACE ({} s); moving them to the journal",
        grace.as_secs()
    );
    let started = Instant::now();
    let answer = loop {
        let force = started.elapsed() >= IN_FLIGHT_WAIT;
        match writer.send(SpillPending { force }).await {
            Ok(SpillAnswer::InFlight) => tokio::time::sleep(Duration::from_millis(100)).await,
            Ok(answer) => break answer,
            Err(e) => {
                break SpillAnswer::Lost {
                    counts: "unknown".to_string(),
                    reason: format!("the store writer is gone: {e}"),
                }
            }
        }
    };
    match answer {
        SpillAnswer::Nothing | SpillAnswer::InFlight => StopOutcome::Flushed,
        SpillAnswer::Journaled(n) => {
            log::warn!("store: {n} unwritten ops journaled; the next start replays them");
            StopOutcome::Journaled(n)
        }
        SpillAnswer::Lost { counts, reason } => {
            log::error!(
                "store: unwritten ops LOST (written neither to the database nor to the \
                 journal: {reason}): {counts}"
            );
            StopOutcome::Lost { counts, reason }
        }
    }
}
