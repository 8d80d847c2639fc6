//! switchboard: live monitoring of Asterisk PBXs over AMI.
//!
//! Layout (see `../shared/DESIGN.md` for the contract between the parts):
//! - [`ami`]: the protocol as plain code (framing, messages, actions, correlation).
//! - [`model`]: the domain shapes every layer and client speaks.
//! - [`parse`]: capture counting behind `switchboard parse`.
//! - [`sim`]: the PBX simulator (a real AMI server) behind `switchboard sim`, tests and benchmarks.
//! - [`cli`], [`commands`], [`logging`]: the binary's front.

pub mod ami;
pub mod cli;
pub mod commands;
pub mod logging;
pub mod model;
pub mod parse;
pub mod sim;
