//! The PBX simulator: a real AMI server on TCP that speaks like Asterisk 22 and runs
//! a deterministic, seeded PBX behind it.
//!
//! Used by `switchboard sim`, `switchboard demo`, the integration tests and the
//! benchmarks. It never uses actors (plain tokio on its own thread) and reuses
//! [`crate::ami`] for framing what clients send.
//!
//! # Library API
//!
//! ```no_run
//! use switchboard::sim::{SimConfig, Simulator};
//!
//! let cfg = SimConfig { rate: 0.0, ..SimConfig::default() };
//! let sim = Simulator::spawn("127.0.0.1:0".parse().unwrap(), cfg).unwrap();
//! let addr = sim.addr();                       // where to connect (port 0 resolved)
//! let id = sim.place_call("1001", "1002");     // scripted call, rings 1002, returns Linkedid
//! sim.answer_call(&id);                        // DialEnd ANSWER + bridge
//! assert_eq!(sim.snapshot().extensions["1002"], 1); // ground truth: 1002 in use
//! sim.hangup_call(&id);
//! sim.set_rate(5_000.0);                       // generated traffic, events per second
//! sim.burst(100_000);                          // or as fast as the clients read
//! sim.stop();                                  // port freed; spawn again on `addr` works
//! ```
//!
//! Faults for tests: [`SimHandle::drop_connections`], [`SimHandle::freeze`],
//! [`SimHandle::send_garbage`], [`SimHandle::refuse_logins`], [`SimHandle::restart`],
//! [`SimHandle::fail_extensions`] (chosen extensions answer Error),
//! [`SimHandle::silence_extensions`] (or not at all), [`SimHandle::delay_lists`]
//! (a slow `ExtensionStateList`).
//! Counters: [`SimHandle::stats`].
//!
//! # What it speaks
//!
//! Banner `Asterisk Call Manager/11.0.0`; `Login` (plain or after `Challenge`
//! AuthType MD5), `Logoff`, `Ping`, `Events`, `ExtensionState`, `ExtensionStateList`,
//! `DeviceStateList`, `CoreShowChannels`, `Status`, `QueueStatus`, `QueueSummary`,
//! `QueuePause`, `Originate`, `Hangup`,
//! `UserEvent`, `Command` (`core show version`, `core show uptime`,
//! `core show channels`, `core restart now`), `ListCommands`, `QueueStatus` (no
//! queues), `PJSIPShowEndpoint`, `Filter` (answered, not applied); anything else gets
//! Asterisk's `Invalid/unknown command` error. A failed login is answered and the
//! socket closed; actions before login get `Permission denied`. Every logged-in
//! session receives every event (one broadcast of pre-encoded bytes); one that falls
//! too far behind is dropped, as Asterisk drops slow clients.
//!
//! Decisions: Security events (`SuccessfulAuth`…), `VarSet` noise, `Cdr` and RTCP
//! events are not simulated; the one user has `read = all`, `write = all` and
//! timestamps on unless [`SimConfig`] restricts it (`permissions.rs`: `Permission
//! denied` per action, events outside `read =` withheld, `timestampevents = no`); Originate rings the
//! callee at once and answers `OriginateResponse` Success (Reason 4) right after
//! the reply; outside numbers go over a `PJSIP/trunk-…` channel.
//!
//! # Layout
//! [`wire`] writes messages; [`model`] holds the state ([`queue_model`] its queues);
//! `calls.rs`, `transfer.rs`, `queue.rs` and `generator.rs` change it; [`truth`] exposes it; `server.rs`, `session.rs`,
//! `actions.rs`, `control.rs` serve AMI; `handle.rs` is the public handle.

mod actions;
mod calls;
mod channel;
mod client;
mod control;
mod filter;
mod generator;
mod handle;
pub mod model;
mod names;
mod permissions;
mod queue;
mod queue_actions;
pub mod queue_model;
mod server;
mod service_queries;
mod session;
pub mod settings;
mod shared;
mod transfer;
pub mod truth;
pub mod wire;

pub use handle::{SimHandle, Simulator};
pub use settings::{Class, Classes, SimConfig};
pub use truth::{PbxSnapshot, SimCall, SimMemberTruth, SimQueueTruth, SimStats};
