//! Retention as one of the writer's jobs (see `store::retention`).
//!
//! A prune never runs beside a batch (so the prune at start runs before the first
//! batch, whatever the threads' timing) and waits for the batch in flight or being
//! retried. Each run is one small step; while a step finds more to delete, the
//! next one follows the next batch (or a moment later when there is none), so
//! writes are held for one step at a time. The step size adapts to keep a step
//! near [`STEP_TARGET`].

use std::time::{Duration, Instant};

use actix::prelude::*;
use chrono::Utc;

use super::StoreWriter;
use crate::store::retention::{Cutoffs, Pruned};

/// Rows per table of the first step.
pub(super) const FIRST_LIMIT: i64 = 500;
/// How long one step may hold the writer.
const STEP_TARGET: Duration = Duration::from_millis(50);
const MIN_LIMIT: i64 = 10;
const MAX_LIMIT: i64 = 20_000;
/// Pause between steps when no batch is waiting.
const BETWEEN_STEPS: Duration = Duration::from_millis(5);

fn ago(period: Duration) -> chrono::DateTime<Utc> {
    let period = chrono::Duration::from_std(period).unwrap_or(chrono::Duration::MAX);
    Utc::now()
        .checked_sub_signed(period)
        .unwrap_or(chrono::DateTime::<Utc>::MIN_UTC)
}

impl StoreWriter {
    /// Runs one retention step now, or after the batch in flight or waiting.
    pub(super) fn prune(&mut self, ctx: &mut Context<Self>) {
        if self.in_flight() || self.batch.is_some() || self.spill.pending || self.spill.closed {
            self.prune_due = !self.spill.closed;
            return;
        }
        self.prune_due = false;
        let store = self.store.clone();
        let cutoffs = Cutoffs {
            calls: ago(self.config.call_retention),
            transitions: ago(self.config.retention),
            refresh_runs: ago(self.config.refresh_retention),
        };
        let limit = self.prune_limit;
        self.pruning = true;
        let started = Instant::now();
        let job = self.run_off_thread(true, move || store.prune_step(&cutoffs, limit));
        ctx.spawn(job.into_actor(self).map(move |joined, act, ctx| {
            act.pruning = false;
            let took = started.elapsed();
            match joined {
                Ok(Ok(pruned)) => act.pruned(&pruned, limit, took, ctx),
                Ok(Err(e)) => log::warn!("pruning old history failed: {e}"),
                Err(e) => log::warn!("pruning old history failed: {e}"),
            }
            if act.waiters.is_empty() {
                act.schedule(ctx);
            } else {
                act.start_flush(ctx);
            }
        }));
    }

    /// Counts a step, sizes the next, and makes it due when more is left.
    fn pruned(&mut self, pruned: &Pruned, limit: i64, took: Duration, ctx: &mut Context<Self>) {
        if let Some(metrics) = self.metrics() {
            for (table, n) in pruned.by_table() {
                if n > 0 {
                    metrics
                        .store_pruned
                        .with_label_values(&[table])
                        .inc_by(n as u64);
                }
            }
        }
        if pruned.total() > 0 {
            log::debug!("pruned {pruned:?} in {took:?}");
        }
        self.prune_limit = if took > STEP_TARGET {
            (limit / 2).max(MIN_LIMIT)
        } else if took < STEP_TARGET / 4 && pruned.more {
            (limit * 2).min(MAX_LIMIT)
        } else {
            limit
        };
        if pruned.more {
            self.prune_due = true;
            ctx.run_later(BETWEEN_STEPS, |act, ctx| {
                if act.prune_due && !act.in_flight() && act.batch.is_none() {
                    act.prune(ctx);
                }
            });
        }
    }
}
