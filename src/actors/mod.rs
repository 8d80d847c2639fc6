//! The actors: the moving parts of the pipeline (see DESIGN.md, "Shape").
//!
//! ConnectionActor → EventRouterActor → CallTrackerActors / ExtensionActors → Hub
//! → WebSocket sessions, with the store writer behind the hub. State logic lives in
//! [`crate::state`]; these actors only move events and state between threads.

pub mod backoff;
pub mod backpressure;
pub mod call_tracker;
pub mod connection;
pub mod connection_watch;
pub mod extension;
pub mod hub;
pub mod live;
pub mod login;
pub mod messages;
pub mod persist;
pub mod refresh;
pub mod refresh_manager;
pub mod refresh_read;
pub mod router;
