//! What each subcommand does, kept out of `main.rs` so it is reachable from tests.

use std::process::ExitCode;

use crate::ami::Limits;
use crate::cli::{DemoArgs, ParseArgs, ServeArgs, SimArgs};
use crate::parse::count_capture;
use crate::sim::{SimConfig, Simulator};

/// `switchboard parse FILE`: prints the counts as one JSON object; fails only when the
/// file cannot be read.
pub fn parse(args: &ParseArgs) -> ExitCode {
    let bytes = match std::fs::read(&args.file) {
        Ok(b) => b,
        Err(e) => {
            eprintln!(
                "switchboard parse: cannot read {}: {e}",
                args.file.display()
            );
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

/// `switchboard sim`: the PBX simulator until Ctrl-C or SIGTERM.
pub fn sim(args: SimArgs) -> ExitCode {
    let cfg = SimConfig::from(&args);
    let sim = match Simulator::spawn(args.listen, cfg) {
        Ok(sim) => sim,
        Err(e) => {
            log::error!("switchboard sim: cannot listen on {}: {e}", args.listen);
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            log::error!("switchboard sim: cannot start a runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(wait_for_shutdown());
    log::info!("switchboard sim: stopping (stats: {:?})", sim.stats());
    sim.stop();
    ExitCode::SUCCESS
}

/// Resolves on Ctrl-C or (on Unix) SIGTERM.
async fn wait_for_shutdown() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
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
