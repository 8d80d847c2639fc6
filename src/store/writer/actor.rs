//! The writer as an actor: its mailbox, start and stop, and the messages it answers
//! (writes, flushes, health).

use actix::prelude::*;

use super::*;

/// The writer's mailbox capacity (see `started`).
const WRITER_MAILBOX: usize = 1 << 20;

impl Actor for StoreWriter {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        // Large, so `send` from many producers rarely waits; not `usize::MAX`: actix
        // computes `MAX_CAPACITY - capacity` when an `Addr` is cloned, which
        // underflows (a panic in debug builds) above its own limit of `usize::MAX >> 1`.
        ctx.set_mailbox_capacity(WRITER_MAILBOX);
        self.register();
        self.prune(ctx);
        // After a supervisor restart: a batch or waiters left from before go on now.
        if !self.in_flight()
            && (self.batch.is_some() || !self.waiters.is_empty() || self.spill.pending)
        {
            self.start_flush(ctx);
        }
        ctx.run_interval(self.config.prune_every, |act, ctx| act.prune(ctx));
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        let pending = self.pending();
        if pending > 0 {
            log::error!(
                "store writer stopped with {pending} unwritten ops for {} (kept when its \
                 supervisor restarts it; lost if the system stops: send Flush before stopping)",
                self.store.describe()
            );
        }
    }
}

impl Handler<Write> for StoreWriter {
    type Result = ();

    fn handle(&mut self, msg: Write, ctx: &mut Self::Context) {
        guarded(self, ctx, "Write", |act, ctx| act.accept(msg.0, ctx));
    }
}

impl Handler<WriteBatch> for StoreWriter {
    type Result = ();

    fn handle(&mut self, msg: WriteBatch, ctx: &mut Self::Context) {
        guarded(self, ctx, "WriteBatch", |act, ctx| {
            for op in msg.0 {
                act.accept(op, ctx);
            }
        });
    }
}

impl Handler<Flush> for StoreWriter {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _msg: Flush, ctx: &mut Self::Context) -> Self::Result {
        let (tx, rx) = oneshot::channel();
        self.waiters.push((self.buffer.last_slot(), tx));
        self.wake_waiters();
        if !self.in_flight() && !self.waiting_to_retry() {
            self.start_flush(ctx);
        }
        Box::pin(async move {
            // A dropped sender means the writer stopped; there is nothing left to wait for.
            let _ = rx.await;
        })
    }
}

impl Handler<GetStoreHealth> for StoreWriter {
    type Result = MessageResult<GetStoreHealth>;

    fn handle(&mut self, _msg: GetStoreHealth, _ctx: &mut Self::Context) -> Self::Result {
        let stalled = self.stalled();
        MessageResult(StoreHealth {
            state: if self.degraded || stalled {
                StoreState::Degraded
            } else {
                StoreState::Ok
            },
            stalled,
            backend: self.store.backend(),
            pending: self.pending(),
            last_error: self.last_error.clone(),
            last_flush: self.last_flush,
            writes_total: self.writes_total,
            retries: self.retries,
            coalesced: self.buffer.merged(),
            journaled: self.journaled(),
        })
    }
}
