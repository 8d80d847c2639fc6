//! [`inspect`]: what `switchboard doctor` asks of a database without changing it —
//! does it answer, which embedded migrations are still to apply, and may this
//! user write (a table created inside a transaction that is rolled back). A
//! SQLite file that does not exist yet is not created: `serve` makes it.

use std::path::Path;

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection, SqliteConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness};

use super::connection::{Backend, Target, POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS};
use super::error::redact_url;

/// What the database answered.
#[derive(Debug, Clone)]
pub struct DatabaseProbe {
    /// The engine the URL names.
    pub backend: Backend,
    /// The URL without its password.
    pub url: String,
    /// How the connection went.
    pub reach: Reach,
    /// Names of the migrations `serve` would still apply (only when reached).
    pub pending: Result<Vec<String>, String>,
    /// Whether a write went through (only when reached).
    pub writable: Result<(), String>,
}

/// How connecting to the database went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    /// Connected.
    Reached,
    /// A SQLite file that does not exist yet, in a directory that does: `serve`
    /// creates it (and its tables) at start.
    NewFile {
        /// The file.
        path: String,
    },
    /// SQLite in memory: it works, and nothing survives a restart.
    Memory,
    /// The connection failed (the driver's words, no password).
    Failed(String),
}

/// Asks the database `url` names (see the module docs).
pub fn inspect(url: &str) -> DatabaseProbe {
    let target = Target::parse(url);
    let mut probe = DatabaseProbe {
        backend: target.backend,
        url: redact_url(url),
        reach: Reach::Reached,
        pending: Err("not asked: the database was not reached".to_string()),
        writable: Err("not asked: the database was not reached".to_string()),
    };
    match target.backend {
        Backend::Postgres => match PgConnection::establish(&bounded(&target.address)) {
            Ok(mut c) => ask(&mut c, POSTGRES_MIGRATIONS, &mut probe),
            Err(e) => probe.reach = Reach::Failed(e.to_string()),
        },
        Backend::Sqlite => {
            let address = target.address.as_str();
            if address == ":memory:" || address.contains("mode=memory") {
                probe.reach = Reach::Memory;
                return probe;
            }
            let file = Path::new(address);
            let plain_path = !address.starts_with("file:");
            if plain_path && !file.exists() {
                let dir = file
                    .parent()
                    .filter(|d| !d.as_os_str().is_empty())
                    .unwrap_or(Path::new("."));
                probe.reach = if dir.is_dir() {
                    Reach::NewFile {
                        path: address.to_string(),
                    }
                } else {
                    Reach::Failed(format!(
                        "the directory {} of {address} does not exist",
                        dir.display()
                    ))
                };
                return probe;
            }
            match SqliteConnection::establish(address) {
                Ok(mut c) => {
                    let _ = c.batch_execute("PRAGMA busy_timeout = 2000;");
                    ask(&mut c, SQLITE_MIGRATIONS, &mut probe)
                }
                Err(e) => probe.reach = Reach::Failed(e.to_string()),
            }
        }
    }
    probe
}

/// A PostgreSQL URL with a connect limit (`connect_timeout=5` unless it names
/// one), so a host that drops packets fails in seconds instead of minutes.
fn bounded(url: &str) -> String {
    if url.contains("connect_timeout") {
        return url.to_string();
    }
    let joint = if url.contains('?') { '&' } else { '?' };
    format!("{url}{joint}connect_timeout=5")
}

/// The pending migrations and the write test on an open connection.
fn ask<C>(conn: &mut C, migrations: EmbeddedMigrations, probe: &mut DatabaseProbe)
where
    C: MigrationHarness<C::Backend> + Connection + SimpleConnection,
{
    probe.pending = conn
        .pending_migrations(migrations)
        .map(|list| list.iter().map(|m| m.name().to_string()).collect())
        .map_err(|e| e.to_string());
    probe.writable = (|| {
        conn.batch_execute("BEGIN")?;
        let created = conn.batch_execute("CREATE TABLE switchboard_doctor_probe (x INTEGER)");
        conn.batch_execute("ROLLBACK")?;
        created
    })()
    .map_err(|e| e.to_string());
}
