//! What every supervised actor shares, whatever layer it lives in: panic capture
//! ([`guarded`]), the registry behind `/api/admin/actors` ([`Registry`]), and the
//! fault-injection message the supervision tests send ([`InjectPanic`]).
//!
//! It sits below the store and the actors because both run supervised actors (the
//! store writer, the pipeline's actors) and neither may import the other's layer
//! for it.

mod guard;
mod registry;

pub use guard::guarded;
pub use registry::*;

use actix::Message;

/// Test and fault-injection hook: makes the receiving supervised actor panic inside
/// its guarded handler, to prove the supervisor restarts it and the pipeline flows on.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct InjectPanic;
