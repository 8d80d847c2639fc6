//! The integration tests: one binary, one module per former test file, sharing
//! [`common`]. Run one file's tests with `cargo test --test it FILE::` (for example
//! `cargo test --test it ws_stream::`); the whole binary with `cargo test --test it`.
//!
//! Adding a test file `x.rs` (or moving one in from `tests/x.rs`): put it here as
//! `tests/it/x.rs` (`git mv tests/x.rs tests/it/x.rs`), add `mod x;` below, and
//! write its helper imports as `use crate::common::...` (its `mod common;` line
//! goes away; a poll loop becomes `common::wait::wait_until`). A test that needs
//! a process of its own (`panic = "abort"`, a global allocator, process-wide
//! environment) stays a separate `tests/*.rs`.

mod common;

mod ami_correlator;
mod ami_filter;
mod ami_fixtures;
mod ami_limits;
mod ami_props;
mod ami_skip;
mod ami_wire_facts;
mod calls_csv;
mod calls_live;
mod cluster;
mod contract_seed_api;
mod dashboard_browser;
mod dashboard_history;
mod dashboard_many_pbx;
mod dashboard_queues;
mod demo_cli;
mod doctor;
mod edge_auth;
mod edge_limits;
mod fault_journal;
mod fault_outage;
mod fault_pbx;
mod fault_sigterm;
mod fault_store;
mod golden;
mod history_count;
mod hostile_ami;
mod hostile_http;
mod http_api;
mod http_auth;
mod layers;
mod many_pbx_board;
mod many_pbx_connections;
mod names;
mod parse_cli;
mod pbx_bounds;
mod pipeline_connection;
mod pipeline_filter;
mod pipeline_fixtures;
mod pipeline_queues;
mod pipeline_resync;
mod pipeline_sim;
mod pipeline_threads;
mod queue_props;
mod refresh_board;
mod refresh_sessions;
mod router_queue_batch;
mod router_resync;
mod router_tickets;
mod sim_faults;
mod sim_filter;
mod sim_model;
mod sim_protocol;
mod sim_queues;
mod start_errors;
mod state_call;
mod state_props;
mod store_filters;
mod store_legs_parties;
mod store_query_plans;
mod store_reads;
mod store_retention;
mod store_search_terms;
mod store_suite;
mod store_writer;
mod supervisor_restarts;
mod ws_flood;
mod ws_stream;
