//! The `switchboard` binary: parse the command line, set up logging, run.

use std::process::ExitCode;

use clap::Parser;
use switchboard::cli::{Cli, Command};

/// The service's allocator: jemalloc. Why not glibc's: the pipeline allocates and
/// frees small objects at event rate, many of them freed on another thread than
/// the one that made them, and glibc's consolidation of such frees cost the
/// pipeline thread enough to halve the throughput. Why not mimalloc, as fast: its
/// RSS kept growing through a long soak and its latency tail was longer. Figures:
/// docs/PERFORMANCE.md ("Pipeline", "Soak"). The in-process benchmarks
/// (`benches/e2e/main.rs`, `benches/soak.rs`, `benches/pipeline.rs`) use it too, so
/// they measure what runs.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    switchboard::logging::init();
    match cli.command {
        Command::Parse(args) => switchboard::commands::parse(&args),
        Command::Sim(args) => switchboard::commands::sim(args),
        Command::Serve(args) => switchboard::commands::serve(&args),
        Command::Doctor(args) => switchboard::commands::doctor(&args),
        Command::Demo(args) => switchboard::commands::demo(args),
    }
}
