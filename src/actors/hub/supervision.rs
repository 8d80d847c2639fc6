//! The hub under its `Supervisor`: what a restart resets, the fault-injection hook,
//! and the periodic repair of connection states (see [`ConnectionWatch`]).
//!
//! [`ConnectionWatch`]: crate::actors::connection_watch::ConnectionWatch

use actix::prelude::*;

use super::Hub;
use crate::actors::connection_watch::RECHECK;
use crate::actors::messages::Publish;
use crate::delivery::Change;
use crate::supervision::guarded;
use crate::supervision::InjectPanic;

impl Hub {
    /// Starts the periodic comparison of the connections' cells with the live view.
    /// Called from `started`, so a restart (which cancels every timer) starts it again.
    pub(super) fn watch_connections(&mut self, ctx: &mut Context<Self>) {
        if self.watch.is_empty() {
            return;
        }
        ctx.run_interval(RECHECK, |act, ctx| {
            guarded(act, ctx, "connection recheck", |act, ctx| {
                act.repair_connections(ctx)
            });
        });
    }

    fn repair_connections(&mut self, ctx: &mut Context<Self>) {
        let repairs = match self.live.read() {
            Ok(live) => self.watch.repairs(&live),
            Err(_) => return,
        };
        for status in repairs {
            log::warn!(
                "pbx {}: the live view missed its connection state {:?}; republishing it",
                status.pbx,
                status.state.as_str()
            );
            self.publish(Publish::new(Change::Connection(status), None), ctx);
        }
    }
}

impl Supervised for Hub {
    /// The restart cancelled the flush that was scheduled (a spawned message), so
    /// the flag that says one is coming is cleared and `started` schedules a new one;
    /// a panic while the live view was locked poisoned the lock, which would make
    /// every later write to it fail silently.
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        if let Some(h) = &self.handle {
            h.restarted();
        }
        self.metrics
            .actor_restarts
            .with_label_values(&["hub"])
            .inc();
        self.flush_scheduled = false;
        self.live.clear_poison();
    }
}

impl Handler<InjectPanic> for Hub {
    type Result = ();

    fn handle(&mut self, _: InjectPanic, ctx: &mut Context<Self>) {
        guarded(self, ctx, "InjectPanic", |_, _| {
            panic!("injected panic (fault test)")
        });
    }
}
