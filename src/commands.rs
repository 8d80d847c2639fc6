//! What each subcommand does, kept out of `main.rs` so it is reachable from tests.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::ami::Limits;
use crate::cli::{DemoArgs, DoctorArgs, ParseArgs, ServeArgs, SimArgs};
use crate::config::{resolve_bind, Config};
use crate::parse::count_capture;
use crate::sim::{SimConfig, Simulator};
use crate::start_error::StartError;
use crate::store::redact_url;

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

/// `switchboard sim`: the PBX simulator (or `--count` of them) until Ctrl-C or SIGTERM.
pub fn sim(args: SimArgs) -> ExitCode {
    let addrs = match sim_addresses(args.listen, args.count) {
        Ok(a) => a,
        Err(e) => {
            log::error!("switchboard sim: {e}");
            return ExitCode::from(2);
        }
    };
    let mut sims = Vec::with_capacity(addrs.len());
    for (i, addr) in addrs.into_iter().enumerate() {
        let cfg = SimConfig {
            seed: args.seed.wrapping_add(i as u64),
            ..SimConfig::from(&args)
        };
        match Simulator::spawn(addr, cfg) {
            Ok(sim) => sims.push(sim),
            Err(e) => {
                log::error!("switchboard sim: cannot listen on {addr}: {e}");
                for sim in &sims {
                    sim.stop();
                }
                return ExitCode::FAILURE;
            }
        }
    }
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
    for sim in &sims {
        log::info!(
            "switchboard sim: stopping {} (stats: {:?})",
            sim.addr(),
            sim.stats()
        );
        sim.stop();
    }
    ExitCode::SUCCESS
}

/// Where `count` simulators listen: consecutive ports from `listen`'s, or each on
/// a free port when that is 0.
pub fn sim_addresses(listen: SocketAddr, count: u32) -> Result<Vec<SocketAddr>, String> {
    (0..count)
        .map(|i| {
            if listen.port() == 0 {
                return Ok(listen);
            }
            u16::try_from(u32::from(listen.port()) + i)
                .map(|port| SocketAddr::new(listen.ip(), port))
                .map_err(|_| {
                    format!(
                        "{count} simulators from port {} run past port 65535",
                        listen.port()
                    )
                })
        })
        .collect()
}

/// The names of `count` demo PBXs: `default` for one, else `p01`, `p02`, … (zero
/// padded to the width of the largest, at least two digits).
pub fn demo_pbx_names(count: u32) -> Vec<String> {
    if count <= 1 {
        return vec![crate::model::DEFAULT_PBX.to_string()];
    }
    let width = count.to_string().len().max(2);
    (1..=count).map(|i| format!("p{i:0width$}")).collect()
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

/// `switchboard serve`: the service, until SIGTERM or Ctrl-C. A failure to start
/// is one line on stderr and an exit code per kind ([`StartError`]).
pub fn serve(args: &ServeArgs) -> ExitCode {
    let config = match Config::load(args.config.as_deref()) {
        Ok(c) => c,
        Err(e) => return StartError::from_config(e).report(),
    };
    end_process(run_service(config, |_| {}))
}

/// `switchboard doctor`: the configuration `serve` would read (a bad one is the
/// same one line and exit code as for `serve`), checked; the report on stdout, exit
/// 1 when a check is a problem.
pub fn doctor(args: &DoctorArgs) -> ExitCode {
    let config = match Config::load(args.config.as_deref()) {
        Ok(c) => c,
        Err(e) => return StartError::from_config(e).report(),
    };
    let options = crate::doctor::DoctorOptions {
        listen: std::time::Duration::from_millis(args.listen_ms),
    };
    let report = crate::doctor::run(&config, options);
    if args.json {
        println!("{}", report.json());
    } else {
        print!("{}", report.text());
    }
    ExitCode::from(report.exit_code())
}

/// Listens on `HTTP_BIND`, then runs the service in an actix system. The socket is
/// bound before anything starts: a busy port then stops the start with no actor
/// running (an actor still running when the system's runtime is dropped panics
/// with "there is no reactor running"). `listening` is told the bound address.
/// Returns the exit code for [`end_process`].
fn run_service(config: Config, listening: impl FnOnce(std::net::SocketAddr)) -> u8 {
    let bind = config.http_bind;
    let failed = |e: StartError| {
        e.report();
        e.exit_code()
    };
    let listener = match std::net::TcpListener::bind(bind) {
        Ok(l) => l,
        Err(e) => return failed(StartError::from_listen(bind, &e)),
    };
    match listener.local_addr() {
        Ok(addr) => listening(addr),
        Err(e) => return failed(StartError::from_listen(bind, &e)),
    }
    let result = actix_web::rt::System::new().block_on(async move {
        let service = crate::app::start(config).await?;
        crate::app::serve(service, listener).await
    });
    match result {
        Ok(()) => 0,
        Err(e) => failed(StartError::from(e)),
    }
}

/// Ends the process with `code` at once, without the C library's exit handlers.
///
/// Why: when the service has stopped, every write is committed or journaled (and
/// fsynced) and every log line written, but threads the service does not own — the
/// connection pool's builders, the cluster thread in a libpq call — may still be
/// using libpq's TLS while OpenSSL's exit handler frees its state. After a
/// PostgreSQL outage had left the pool reconnecting, that crashed a clean stop with
/// SIGSEGV (`fault_outage::postgres_…`), turning its exit 0 into a signal.
pub fn end_process(code: u8) -> ! {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    // SAFETY: `_exit` only ends the process; no Rust code runs after it, and
    // nothing the service wrote is left in a user-space buffer (flushed above;
    // the store's files are synced by the store itself).
    unsafe { libc::_exit(i32::from(code)) }
}

/// The demo's database when `--database-url` is not given: `switchboard-demo/demo.db`
/// under the system's temporary directory, never the working directory's settings.
pub fn demo_database_url() -> std::io::Result<(PathBuf, String)> {
    let dir = std::env::temp_dir().join("switchboard-demo");
    std::fs::create_dir_all(&dir)?;
    let url = format!("sqlite://{}", dir.join("demo.db").display());
    Ok((dir, url))
}

/// Whether the demo takes `key` from the environment: not the PBX, database or
/// cluster settings, so a demo started beside a deployment cannot write into it.
fn demo_reads_from_environment(key: &str) -> bool {
    !(key.starts_with("AMI_")
        || key == "DATABASE_URL"
        || key == "INSTANCE_ID"
        || key.starts_with("CLUSTER"))
}

/// `switchboard demo`: the service against built-in simulators on loopback (one
/// per `--pbxs`, each on its own free port). It reads no `.env` and ignores
/// `DATABASE_URL` and `AMI_*`: its database is `--database-url` or its own file.
pub fn demo(args: DemoArgs) -> ExitCode {
    let http_bind = match resolve_bind(&args.http_bind) {
        Ok(b) => b,
        Err(e) => return StartError::from_config(e).report(),
    };
    let database = match args.database_url.clone() {
        Some(url) => {
            log::info!("demo: database {} (--database-url)", redact_url(&url));
            url
        }
        None => match demo_database_url() {
            Ok((dir, url)) => {
                log::info!("demo: database in {} ({url})", dir.display());
                url
            }
            Err(e) => {
                return StartError::Other(format!(
                    "the demo database directory under {} cannot be made: {e}; pass --database-url",
                    std::env::temp_dir().display()
                ))
                .report()
            }
        },
    };
    let secret = format!("demo-{:016x}", rand::random::<u64>());
    let names = demo_pbx_names(args.pbxs);
    let mut sims = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        let sim_config = SimConfig {
            username: "demo".to_string(),
            secret: secret.clone(),
            seed: args.seed.wrapping_add(i as u64),
            extensions: args.extensions,
            rate: args.rate,
            queues: args.queues,
            system_name: if names.len() > 1 {
                name.clone()
            } else {
                SimConfig::default().system_name
            },
            ..SimConfig::default()
        };
        let listen = SocketAddr::from(([127, 0, 0, 1], 0));
        match Simulator::spawn(listen, sim_config) {
            Ok(sim) => sims.push(sim),
            Err(e) => {
                log::error!("switchboard demo: cannot start the simulator for {name}: {e}");
                for sim in &sims {
                    sim.stop();
                }
                return ExitCode::FAILURE;
            }
        }
    }
    log::info!(
        "demo: {} simulated PBX(s) with {} extensions each at {}, {} events/s each",
        sims.len(),
        args.extensions,
        sims.iter()
            .map(|s| s.addr().to_string())
            .collect::<Vec<_>>()
            .join(", "),
        args.rate
    );
    let bind = http_bind.to_string();
    let mut vars: HashMap<String, String> = HashMap::from([
        ("AMI_HOST".to_string(), "127.0.0.1".to_string()),
        ("AMI_USERNAME".to_string(), "demo".to_string()),
        ("AMI_SECRET".to_string(), secret),
        ("DATABASE_URL".to_string(), database),
        ("HTTP_BIND".to_string(), bind.clone()),
    ]);
    if names.len() > 1 {
        vars.insert("AMI_PBXS".to_string(), names.join(","));
        for (name, sim) in names.iter().zip(&sims) {
            vars.insert(
                format!("AMI_{}_PORT", name.to_uppercase()),
                sim.addr().port().to_string(),
            );
        }
    } else if let Some(sim) = sims.first() {
        vars.insert("AMI_PORT".to_string(), sim.addr().port().to_string());
    }
    let config = Config::from_lookup(|k| {
        vars.get(k).cloned().or_else(|| {
            demo_reads_from_environment(k)
                .then(|| std::env::var(k).ok())
                .flatten()
        })
    });
    let config = match config {
        Ok(c) => c,
        Err(e) => {
            for sim in &sims {
                sim.stop();
            }
            return StartError::from_config(e).report();
        }
    };
    let code = run_service(config, |addr| {
        log::info!("demo: open http://{addr}/ for the dashboard");
    });
    for sim in &sims {
        sim.stop();
    }
    end_process(code)
}
