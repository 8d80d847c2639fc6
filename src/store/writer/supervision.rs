//! The store writer under its `Supervisor`: restart counting, what a restart
//! resets, and the fault-injection hook.

use std::sync::Arc;

use actix::prelude::*;

use super::StoreWriter;
use crate::metrics::Metrics;
use crate::supervision::guarded;
use crate::supervision::InjectPanic;
use crate::supervision::{ActorHandle, Registry};

/// Where a supervised writer reports itself and its restarts.
pub(super) struct Supervision {
    registry: Registry,
    metrics: Arc<Metrics>,
    handle: Option<ActorHandle>,
}

impl StoreWriter {
    /// Registers the writer (kind `storeWriter`) in `registry` and counts its
    /// supervisor restarts there and in `metrics`; start it with
    /// `Supervisor::start`.
    pub fn supervised_by(mut self, registry: Registry, metrics: Arc<Metrics>) -> Self {
        self.supervision = Some(Supervision {
            registry,
            metrics,
            handle: None,
        });
        self
    }

    /// The service's metrics, when the writer runs supervised.
    pub(super) fn metrics(&self) -> Option<&Metrics> {
        self.supervision.as_ref().map(|s| s.metrics.as_ref())
    }

    /// Called from `started`: the first start registers the writer, a restart keeps its row.
    pub(super) fn register(&mut self) {
        if let Some(s) = &mut self.supervision {
            if s.handle.is_none() {
                s.handle = Some(s.registry.register("storeWriter", "store"));
            }
        }
    }
}

impl Supervised for StoreWriter {
    /// A restart cancels every future the writer had spawned: the batch attempt in
    /// flight, the flush timer, a prune. Their markers are cleared, or the writer
    /// would wait for them forever; the batch itself is kept and written again
    /// (`started` prunes, then schedules it), so a restart loses no write — a batch
    /// whose lost attempt had committed is written twice rather than not at all.
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        if let Some(s) = &self.supervision {
            if let Some(h) = &s.handle {
                h.restarted();
            }
            s.metrics
                .actor_restarts
                .with_label_values(&["storeWriter"])
                .inc();
        }
        self.attempt_started = None;
        self.flush_timer = None;
        self.pruning = false;
        self.prune_due = false;
    }
}

impl Handler<InjectPanic> for StoreWriter {
    type Result = ();

    fn handle(&mut self, _: InjectPanic, ctx: &mut Context<Self>) {
        guarded(self, ctx, "InjectPanic", |_, _| {
            panic!("injected panic (fault test)")
        });
    }
}
