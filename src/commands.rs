//! What each subcommand does, kept out of `main.rs` so it is reachable from tests.

use std::process::ExitCode;

use crate::ami::Limits;
use crate::cli::{DemoArgs, ParseArgs, ServeArgs, SimArgs};
use crate::config::Config;
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

/// `switchboard serve`: the service, until SIGTERM or Ctrl-C.
pub fn serve(args: &ServeArgs) -> ExitCode {
    let config = match Config::load(args.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            log::error!("switchboard serve: bad configuration: {e}");
            return ExitCode::from(2);
        }
    };
    run_service(config)
}

/// Runs the service in an actix system; logs and fails on start-up errors.
fn run_service(config: Config) -> ExitCode {
    let result = actix_web::rt::System::new().block_on(async move {
        let service = crate::app::start(config).await?;
        crate::app::serve(service).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error!("switchboard: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `switchboard demo`: the service against the built-in simulator on loopback.
pub fn demo(args: DemoArgs) -> ExitCode {
    let secret = format!("demo-{:016x}", rand::random::<u64>());
    let sim_config = SimConfig {
        username: "demo".to_string(),
        secret: secret.clone(),
        seed: args.seed,
        extensions: args.extensions,
        rate: args.rate,
        ..SimConfig::default()
    };
    let listen = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let sim = match Simulator::spawn(listen, sim_config) {
        Ok(sim) => sim,
        Err(e) => {
            log::error!("switchboard demo: cannot start the simulator: {e}");
            return ExitCode::FAILURE;
        }
    };
    let addr = sim.addr();
    log::info!(
        "demo: simulated PBX with {} extensions at {addr}, {} events/s",
        args.extensions,
        args.rate
    );
    let database = args
        .database_url
        .unwrap_or_else(|| "sqlite://switchboard-demo.db".to_string());
    let bind = args.http_bind.to_string();
    let port = addr.port().to_string();
    let config = Config::from_lookup(|k| match k {
        "AMI_HOST" => Some("127.0.0.1".to_string()),
        "AMI_PORT" => Some(port.clone()),
        "AMI_USERNAME" => Some("demo".to_string()),
        "AMI_SECRET" => Some(secret.clone()),
        "DATABASE_URL" => Some(database.clone()),
        "HTTP_BIND" => Some(bind.clone()),
        other => std::env::var(other).ok(),
    });
    let config = match config {
        Ok(c) => c,
        Err(e) => {
            log::error!("switchboard demo: bad configuration: {e}");
            return ExitCode::from(2);
        }
    };
    log::info!("demo: open http://{bind}/ for the dashboard");
    let code = run_service(config);
    sim.stop();
    code
}
