//! The `switchboard` binary: parse the command line, set up logging, run.

use std::process::ExitCode;

use clap::Parser;
use switchboard::cli::{Cli, Command};

/// The service's allocator. Why not glibc's: the pipeline allocates and frees small
/// objects at event rate, many of them freed on another thread than the one that
/// made them. Profiled at 20,000 events/s, glibc's `malloc_consolidate`, chunk
/// unlinking and frees took about 40 % of the pipeline thread; with mimalloc the
/// pipeline thread needs ~40 % fewer samples for the same load, and the highest
/// rate delivered to 10 WebSocket subscribers with nothing lost doubled (50,000 →
/// 100,000 events/s, `cargo bench --bench e2e -- throughput`). The in-process
/// benchmarks (`benches/e2e.rs`, `benches/soak.rs`, `benches/pipeline.rs`) use it
/// too, so they measure what runs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
