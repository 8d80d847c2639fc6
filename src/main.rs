//! The `switchboard` binary: parse the command line, set up logging, run.

use std::process::ExitCode;

use clap::Parser;
use switchboard::cli::{Cli, Command};

/// The service's allocator: jemalloc. Why not glibc's: the pipeline allocates and
/// frees small objects at event rate, many of them freed on another thread than
/// the one that made them. Profiled at 20,000 events/s, glibc's
/// `malloc_consolidate`, chunk unlinking and frees took about 40 % of the pipeline
/// thread, and the highest rate delivered to 10 WebSocket subscribers with nothing
/// lost was 50,000 events/s; with jemalloc it is 100,000 (`cargo bench --bench e2e
/// -- throughput`, both binaries alternated in one session). Why not mimalloc,
/// which was as fast: in the 30-minute soak its RSS grew from 80 to 93 MB and
/// ended at 102 MB, where jemalloc's stayed at 57–59 MB (glibc's: 54–56 MB), and its
/// p99.9 latency at 100 subscribers was worse. The in-process benchmarks
/// (`benches/e2e.rs`, `benches/soak.rs`, `benches/pipeline.rs`) use it too, so
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
        Command::Demo(args) => switchboard::commands::demo(args),
    }
}
