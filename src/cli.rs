//! The command line: `serve`, `doctor`, `demo`, `sim`, `parse` (see docs/ARCHITECTURE.md, "Interfaces").

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Live monitoring for Asterisk PBXs over AMI.
#[derive(Debug, Parser)]
#[command(name = "switchboard", version, about)]
pub struct Cli {
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service (configuration from the environment, `.env` or --config).
    Serve(ServeArgs),
    /// Check the configuration `serve` would use: each PBX (reach, login, the
    /// account's permissions, hints, timestamps), the database, the HTTP address
    /// and the tokens; one line per check with the fix, exit 1 when a problem
    /// would stop the service from working.
    Doctor(DoctorArgs),
    /// Run the service against the built-in PBX simulator on loopback, with live traffic.
    Demo(DemoArgs),
    /// Run the PBX simulator alone: a real AMI server on TCP.
    Sim(SimArgs),
    /// Decode an AMI capture (raw bytes a PBX sent) and print message counts as JSON.
    Parse(ParseArgs),
}

/// Options of `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// A TOML-free `KEY=VALUE` file read like `.env` (values in the environment win).
    #[arg(long)]
    pub config: Option<PathBuf>,
}

/// Options of `doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// The same `KEY=VALUE` file `serve --config` takes (values in the environment win).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Print one JSON object instead of lines (for scripts).
    #[arg(long)]
    pub json: bool,
    /// How long to listen to each PBX's events, in milliseconds, to see which
    /// event classes reach the account and whether they carry `Timestamp:`.
    #[arg(long, default_value_t = 3000, value_parser = clap::value_parser!(u64).range(0..=60_000))]
    pub listen_ms: u64,
}

/// Options of `demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where the dashboard and API listen: `IP:PORT`, `[IPv6]:PORT` or `HOST:PORT`
    /// (the first address the host resolves to).
    #[arg(long, env = "HTTP_BIND", default_value = "127.0.0.1:8080")]
    pub http_bind: String,
    /// How many simulated extensions.
    #[arg(long, default_value_t = 50)]
    pub extensions: u32,
    /// Simulated events per second.
    #[arg(long, default_value_t = 20.0)]
    pub rate: f64,
    /// Queues on each simulated PBX, with members and generated callers.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(0..=50))]
    pub queues: u32,
    /// Seed of the simulation.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Database URL, only from the command line (default: `demo.db` in a
    /// `switchboard-demo` directory under the system's temporary directory;
    /// `DATABASE_URL` is ignored so a demo never writes into a deployment's database).
    #[arg(long)]
    pub database_url: Option<String>,
    /// How many simulated PBXs, each on its own loopback port; more than one are
    /// named `p01`, `p02`, … (one keeps the single-PBX name `default`).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=999))]
    pub pbxs: u32,
}

/// Options of `sim`.
#[derive(Debug, Clone, Args)]
pub struct SimArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:5038")]
    pub listen: SocketAddr,
    /// AMI user name accepted.
    #[arg(long, default_value = "admin")]
    pub username: String,
    /// AMI secret accepted (plain or MD5 challenge).
    #[arg(
        long,
        env = "SIM_SECRET",
        default_value = "amisecret",
        hide_env_values = true
    )]
    pub secret: String,
    /// Seed: the same seed gives the same calls and state changes.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Number of extensions with hints.
    #[arg(long, default_value_t = 50)]
    pub extensions: u32,
    /// First extension number.
    #[arg(long, default_value_t = 1001)]
    pub first_extension: u32,
    /// Events per second to generate (0 = only what actions cause).
    #[arg(long, default_value_t = 20.0)]
    pub rate: f64,
    /// Queues with members and generated callers (0: none).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=50))]
    pub queues: u32,
    /// How many simulators: on consecutive ports from --listen's (each on a free
    /// port when that is 0), seeds counting up from --seed.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub count: u32,
    /// The user's `read =` classes, as manager.conf writes them (`call,system`):
    /// events of other classes never reach it.
    #[arg(long, default_value = "all")]
    pub read: crate::sim::Classes,
    /// The user's `write =` classes: actions that need others answer `Permission denied`.
    #[arg(long, default_value = "all")]
    pub write: crate::sim::Classes,
    /// Events without `Timestamp:` (manager.conf `timestampevents = no`).
    #[arg(long)]
    pub no_timestamps: bool,
}

/// Options of `parse`.
#[derive(Debug, Args)]
pub struct ParseArgs {
    /// The capture file.
    pub file: PathBuf,
}

/// The `sim` subcommand's arguments as simulator settings (the rest default).
impl From<&SimArgs> for crate::sim::SimConfig {
    fn from(args: &SimArgs) -> Self {
        Self {
            username: args.username.clone(),
            secret: args.secret.clone(),
            seed: args.seed,
            extensions: args.extensions,
            first_extension: args.first_extension,
            rate: args.rate,
            read: args.read,
            write: args.write,
            timestamps: !args.no_timestamps,
            queues: args.queues,
            ..Self::default()
        }
    }
}
