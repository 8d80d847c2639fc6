//! WebSocket subscribers: the protocol, the bounded transport and one session actor
//! per client.
//!
//! actix-web-actors is deprecated upstream; its types stay inside this module.

pub mod backlog;
pub mod frame;
pub mod protocol;
pub mod rate;
pub mod relay;
pub mod session;
pub mod slots;
pub mod transport;
