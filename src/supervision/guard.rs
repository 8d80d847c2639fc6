//! Panic containment for supervised actors.
//!
//! actix restarts a supervised actor when it stops, not when it panics (a panic
//! would unwind through the arbiter thread and take every actor on it down). Each
//! handler of a supervised actor runs inside [`guarded`]: a panic is caught, logged
//! once with what was being handled, and turned into `ctx.stop()`, so the
//! `Supervisor` restarts the actor with its address and mailbox intact. Only the
//! message being handled is lost.

use std::panic::{catch_unwind, AssertUnwindSafe};

use actix::{Actor, ActorContext, Context};

/// Runs `f`; on panic logs it, stops the actor (so its supervisor restarts it) and returns `None`.
pub fn guarded<A, R>(
    actor: &mut A,
    ctx: &mut Context<A>,
    what: &str,
    f: impl FnOnce(&mut A, &mut Context<A>) -> R,
) -> Option<R>
where
    A: Actor<Context = Context<A>>,
{
    match catch_unwind(AssertUnwindSafe(|| f(actor, ctx))) {
        Ok(r) => Some(r),
        Err(payload) => {
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            log::error!("actor panicked while handling {what}: {msg}; restarting it");
            ctx.stop();
            None
        }
    }
}
