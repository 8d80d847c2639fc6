//! switchboard: live monitoring of Asterisk PBXs over AMI.
//!
//! Layout (the contract between the parts and the layer order, lowest first, are in
//! `docs/ARCHITECTURE.md`; `tests/it/layers.rs` keeps every arrow pointing down):
//! - [`ami`]: the protocol as plain code (framing, messages, actions, correlation).
//! - [`state`]: event-to-state logic (calls, extensions, routing) as plain code.
//! - [`delivery`]: what the hub and its subscribers and the store exchange (changes,
//!   envelopes, filters, subscription messages), below all three.
//! - [`actors`]: the moving parts — connection, router, trackers, hub, refresh.
//! - [`store`]: diesel persistence (SQLite or PostgreSQL) and its batching writer.
//! - [`cluster`]: several instances on one PostgreSQL (PBX leases, change feed).
//! - [`http`], [`ws`]: the API, WebSocket subscribers and the dashboard.
//! - [`model`]: the domain shapes every layer and client speaks.
//! - [`sim`]: the PBX simulator (a real AMI server) behind `switchboard sim`, tests and benchmarks.
//! - [`config`], [`metrics`], [`secret`], [`logging`]: the service's surroundings.
//! - [`supervision`]: panic capture and the actor registry every supervised actor
//!   uses, the store writer's as much as the pipeline's.
//! - [`parse`], [`cli`], [`commands`]: the binary's front.

pub mod actors;
pub mod ami;
pub mod app;
pub mod cli;
pub mod cluster;
pub mod commands;
pub mod config;
pub mod delivery;
pub mod doctor;
pub mod fastmap;
pub mod http;
pub mod logging;
pub mod metrics;
pub mod model;
pub mod parse;
pub mod secret;
pub mod sim;
pub mod start_error;
pub mod state;
pub mod store;
pub mod supervision;
pub mod timefmt;
pub mod ws;
