//! The checks on this machine's side: the database `DATABASE_URL` names
//! (reachable, migrations, writable — [`crate::store::inspect`]), the HTTP
//! address (free to listen on) and the token settings.

use std::net::TcpListener;

use super::report::Check;
use crate::config::Config;
use crate::secret::Secret;
use crate::store::inspect::{inspect, Reach};

/// Shorter tokens are easy to guess over a network.
const SHORT_TOKEN: usize = 16;

/// The database lines: reach, migrations, writable.
pub fn database(config: &Config) -> Vec<Check> {
    let scope = "database";
    let probe = inspect(&config.database_url);
    let url = &probe.url;
    let mut out = Vec::new();
    match &probe.reach {
        Reach::Failed(reason) => {
            out.push(Check::problem(
                scope,
                "reach",
                format!("{} at {url} cannot be opened: {reason}", probe.backend),
                "start the database, or set DATABASE_URL to one that is reachable (sqlite://FILE needs a directory the service may write in)",
            ));
            return out;
        }
        Reach::NewFile { path } => {
            out.push(Check::ok(
                scope,
                "reach",
                format!("sqlite file {path} does not exist yet: serve creates it with its tables"),
            ));
            return out;
        }
        Reach::Memory => {
            out.push(Check::warning(
                scope,
                "reach",
                format!("{url} is in memory: history is lost at every stop"),
                "set DATABASE_URL to sqlite://FILE or postgres://… to keep history",
            ));
            return out;
        }
        Reach::Reached => out.push(Check::ok(
            scope,
            "reach",
            format!("{} at {url} answers", probe.backend),
        )),
    }
    out.push(match &probe.pending {
        Ok(pending) if pending.is_empty() => Check::ok(scope, "migrations", "every migration is applied"),
        Ok(pending) => Check::ok(
            scope,
            "migrations",
            format!("{} to apply ({}): serve applies them at start", pending.len(), pending.join(", ")),
        ),
        Err(e) => Check::problem(
            scope,
            "migrations",
            format!("the applied migrations cannot be read: {e}"),
            "give the user of DATABASE_URL read access to __diesel_schema_migrations, or point DATABASE_URL at switchboard's own database",
        ),
    });
    out.push(match &probe.writable {
        Ok(()) => Check::ok(scope, "writable", "a test table was created and rolled back"),
        Err(e) => Check::problem(
            scope,
            "writable",
            format!("the service cannot write: {e}"),
            "give the service's user write access (the SQLite file and its directory; GRANT CREATE, INSERT, UPDATE, DELETE on PostgreSQL)",
        ),
    });
    out
}

/// The HTTP line: whether `HTTP_BIND` can be listened on now.
pub fn http(config: &Config) -> Check {
    let bind = config.http_bind;
    match TcpListener::bind(bind) {
        Ok(listener) => {
            let got = listener.local_addr().map_or(bind, |a| a);
            drop(listener);
            Check::ok("http", "bind", format!("HTTP_BIND {bind} is free (listened on {got})"))
        }
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => Check::problem(
            "http",
            "bind",
            format!("HTTP_BIND {bind} is in use by another process (a switchboard already running there is one)"),
            "stop that process (`ss -ltnp` names it) or set HTTP_BIND to a free address",
        ),
        Err(e) => Check::problem(
            "http",
            "bind",
            format!("HTTP_BIND {bind} cannot be listened on: {e}"),
            "set HTTP_BIND to an address of this machine",
        ),
    }
}

/// A token that is set: ok, or a warning when it is short. Never prints it.
fn token_check(name: &str, token: &Secret, purpose: &str) -> Check {
    let len = token.expose().chars().count();
    if len < SHORT_TOKEN {
        Check::warning(
            "tokens",
            name,
            format!("{name} is set but only {len} characters long: easy to guess"),
            format!("set {name} to at least 32 random characters (`openssl rand -hex 32`)"),
        )
    } else {
        Check::ok(
            "tokens",
            name,
            format!("{name} is set ({len} characters): {purpose}"),
        )
    }
}

/// The token lines: `API_TOKEN` against where the service listens, `METRICS_TOKEN`.
pub fn tokens(config: &Config) -> Vec<Check> {
    let bind = config.http_bind;
    let mut out = Vec::new();
    out.push(match &config.api_token {
        Some(t) => token_check("API_TOKEN", t, "the API, /ws and /metrics need it"),
        None if bind.ip().is_loopback() => Check::ok(
            "tokens",
            "API_TOKEN",
            format!("API_TOKEN is not set; HTTP_BIND {bind} is loopback, so only this machine reads the API"),
        ),
        None => Check::warning(
            "tokens",
            "API_TOKEN",
            crate::app::open_to_network_warning(config).unwrap_or_else(|| {
                format!("API_TOKEN is not set and HTTP_BIND {bind} is not loopback")
            }),
            "set API_TOKEN to a long random value (`openssl rand -hex 32`)",
        ),
    });
    if let Some(t) = &config.metrics_token {
        out.push(token_check(
            "METRICS_TOKEN",
            t,
            "Prometheus scrapes /metrics with it",
        ));
    }
    out
}
