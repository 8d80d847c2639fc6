//! What each subcommand does, kept out of `main.rs` so it is reachable from tests.

use std::process::ExitCode;

use crate::ami::Limits;
use crate::cli::{DemoArgs, ParseArgs, ServeArgs, SimArgs};
use crate::parse::count_capture;

/// `switchboard parse FILE`: prints the counts as one JSON object; fails only when the
/// file cannot be read.
pub fn parse(args: &ParseArgs) -> ExitCode {
    let bytes = match std::fs::read(&args.file) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("switchboard parse: cannot read {}: {e}", args.file.display());
            return ExitCode::from(2);
        }
    };
    let counts = count_capture(&bytes, Limits::default());
    match serde_json::to_string(&counts) {
        Ok(json) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("switchboard parse: cannot print the result: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `switchboard sim`: the PBX simulator until interrupted.
pub fn sim(_args: SimArgs) -> ExitCode {
    eprintln!("switchboard sim: the simulator is being built");
    ExitCode::FAILURE
}

/// `switchboard serve`: the service.
pub fn serve(_args: &ServeArgs) -> ExitCode {
    eprintln!("switchboard serve: the service is being built");
    ExitCode::FAILURE
}

/// `switchboard demo`: the service against the simulator.
pub fn demo(_args: DemoArgs) -> ExitCode {
    eprintln!("switchboard demo: the service is being built");
    ExitCode::FAILURE
}
