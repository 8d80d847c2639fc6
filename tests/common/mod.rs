//! Shared helpers of the integration tests. Each helper lives in its own file;
//! this file only lists them.

#![allow(dead_code)]

pub mod cluster;
pub mod health_recorder;
pub mod live_truth;
pub mod mangle;
pub mod pipeline;
pub mod raw;
pub mod replay;
pub mod service;
pub mod store;
pub mod truth;
pub mod ws_recorder;
