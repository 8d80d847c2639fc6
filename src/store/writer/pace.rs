//! The writer's pace: which lane a batch takes (see [`super::lanes`]) and what the
//! AMI readers see of its backlog ([`crate::metrics::StoreBacklog`]).
//!
//! While the writer holds the readers back (a healthy writer past
//! `StoreBacklog::LIMIT` unwritten ops), the store is what limits ingest, and a
//! batch on the `SCHED_IDLE` lane, starved by other processes, stalls the whole
//! stream: in one run of `cargo bench --bench ingest -- rss` the writer committed
//! nothing for more than 5 s, after which the readers no longer wait and memory
//! grew (docs/PERFORMANCE.md, #19). So while the readers are held, and for
//! [`URGENT_FOR`] after, batches take the urgent lane, and a batch already sent
//! to the background lane when the hold begins is promoted to the urgent one
//! unless the background thread has started it.

use std::time::{Duration, Instant};

use super::StoreWriter;
use crate::metrics::StoreBacklog;

/// How far the store may fall behind the live state before its batches stop
/// yielding the CPU (see [`super::lanes`]): the writer has been more than a batch
/// behind for this long, or a background batch itself took this long. Store
/// writes are history; during a burst the CPU goes to deliveries first, and the
/// history catches up within this bound.
pub(super) const MAX_LAG: Duration = Duration::from_secs(2);
/// How long batches stay on the urgent lane after a background batch was starved
/// for longer than [`MAX_LAG`] (the machine is busy with something else), or
/// after the writer last held the readers back.
pub(super) const URGENT_FOR: Duration = Duration::from_secs(10);
/// Unwritten ops (in batches) past which batches no longer yield, however fresh:
/// bounds the writer's memory during a burst.
const MAX_BACKLOG_BATCHES: usize = 20;

impl StoreWriter {
    /// Starts or ends the time the writer counts as behind: more than one batch
    /// waiting starts it, a buffer that fits in one batch again ends it. While
    /// the readers are held, keeps the batches urgent (see the module doc).
    pub(super) fn note_backlog(&mut self) {
        self.publish_backlog();
        if self.holds_readers() {
            self.urgent_until = Some(Instant::now() + URGENT_FOR);
            if let Some(promote) = self.promote.take() {
                log::debug!("store writer holds the AMI readers: its background batch moves to the urgent lane");
                promote.promote();
            }
        }
        if self.buffer.len() < self.config.batch_size {
            self.behind_since = None;
        } else if self.behind_since.is_none() {
            self.behind_since = Some(Instant::now());
        }
    }

    /// Shows the unwritten ops on `/metrics` and to the AMI readers, which stop
    /// reading while a healthy writer holds too many (see
    /// [`crate::metrics::StoreBacklog`]); a degraded writer shows them none.
    pub(super) fn publish_backlog(&self) {
        if let Some(metrics) = self.metrics() {
            let pending = self.pending();
            metrics.store_pending.set(pending as i64);
            metrics
                .store_backlog
                .set(if self.degraded { 0 } else { pending });
        }
    }

    /// True while the AMI readers wait for this writer (what the gate in
    /// `actors::backpressure` reads: a healthy writer past the limit).
    fn holds_readers(&self) -> bool {
        !self.degraded && self.pending() > StoreBacklog::LIMIT
    }

    /// True when the next batch must not wait for idle CPU (see [`super::lanes`]):
    /// the writer has been behind for [`MAX_LAG`], its backlog passed
    /// [`MAX_BACKLOG_BATCHES`] or holds the AMI readers back (or did within
    /// [`URGENT_FOR`]), a batch is being retried, someone waits for a flush, or a
    /// background batch was starved lately.
    pub(super) fn urgent(&self) -> bool {
        self.buffer.len() >= MAX_BACKLOG_BATCHES * self.config.batch_size
            // The AMI readers wait for this writer: the store is what limits ingest.
            || self.pending() > StoreBacklog::LIMIT
            || self.behind_since.is_some_and(|t| t.elapsed() >= MAX_LAG)
            || self.degraded
            || !self.waiters.is_empty()
            || self.urgent_until.is_some_and(|t| Instant::now() < t)
    }
}

#[cfg(test)]
mod tests {
    use super::super::WriterConfig;
    use super::*;
    use crate::model::{ExtensionTransition, HintStatus};
    use crate::store::{Store, WriteOp};
    use chrono::Utc;

    fn transition(n: usize) -> WriteOp {
        WriteOp::Transition(ExtensionTransition {
            pbx: "default".into(),
            extension: format!("{}", 1000 + n),
            status: HintStatus::IDLE,
            status_text: "Idle".into(),
            state: crate::model::ExtensionState::Idle,
            device_state: None,
            at: Utc::now(),
        })
    }

    fn writer(batch_size: usize) -> (StoreWriter, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = dir.path().join("lag.db").display().to_string();
        let store = Store::open(&url).expect("open store");
        let config = WriterConfig {
            batch_size,
            ..WriterConfig::default()
        };
        (StoreWriter::with_config(store, config), dir)
    }

    fn push(w: &mut StoreWriter, n: usize) {
        for i in 0..n {
            w.buffer.push(transition(i));
            w.note_backlog();
        }
    }

    #[test]
    fn a_fresh_backlog_yields_and_an_old_one_does_not() {
        let (mut w, _dir) = writer(10);
        push(&mut w, 5);
        assert!(!w.urgent(), "less than a batch waiting");
        push(&mut w, 10);
        assert!(!w.urgent(), "behind, but only just");
        w.behind_since = Some(Instant::now() - MAX_LAG);
        assert!(w.urgent(), "behind for the whole lag bound");
        let _ = w.buffer.take(10);
        w.note_backlog();
        assert!(!w.urgent(), "caught up: back to yielding");
        assert_eq!(w.behind_since, None);
    }

    #[test]
    fn a_deep_backlog_stops_yielding_however_fresh() {
        let (mut w, _dir) = writer(10);
        push(&mut w, MAX_BACKLOG_BATCHES * 10 - 1);
        assert!(!w.urgent());
        push(&mut w, 1);
        assert!(w.urgent(), "{MAX_BACKLOG_BATCHES} batches waiting");
    }

    #[test]
    fn holding_the_readers_keeps_batches_urgent_after_the_backlog_shrinks() {
        let (mut w, _dir) = writer(5000);
        push(&mut w, StoreBacklog::LIMIT + 1);
        assert!(w.urgent(), "the readers wait for this writer");
        let _ = w.buffer.take(StoreBacklog::LIMIT);
        w.note_backlog();
        assert!(w.pending() < 5000);
        assert!(
            w.urgent(),
            "the readers were held a moment ago: no batch on the idle lane yet"
        );
    }

    #[test]
    fn a_degraded_writer_holds_no_reader_and_keeps_no_batch_urgent_for_it() {
        let (mut w, _dir) = writer(5000);
        w.degraded = true;
        push(&mut w, StoreBacklog::LIMIT + 1);
        assert!(!w.holds_readers());
        assert_eq!(w.urgent_until, None);
    }
}
