//! Shared helpers of the integration tests. Each helper lives in its own file;
//! this file only lists them.

pub mod ami;
pub mod backends;
pub mod browser;
pub mod child;
pub mod cluster;
pub mod health_recorder;
pub mod live_truth;
pub mod mangle;
pub mod pipeline;
pub mod raw;
pub mod replay;
pub mod service;
pub mod service_proc;
pub mod sim_client;
pub mod store;
pub mod truth;
pub mod wait;
pub mod ws_recorder;
