//! Shared helpers of the integration tests. Each helper lives in its own file;
//! this file only lists them.

#![allow(dead_code)]

pub mod cluster;
pub mod pipeline;
pub mod replay;
pub mod service;
pub mod store;
