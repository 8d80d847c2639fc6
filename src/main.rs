//! The `switchboard` binary: parse the command line, set up logging, run.

use std::process::ExitCode;

use clap::Parser;
use switchboard::cli::{Cli, Command};

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
