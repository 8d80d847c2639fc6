//! The database connection: one type for both backends, how a URL picks the
//! backend, per-connection SQLite settings, the pool, and the embedded migrations.
//!
//! diesel's derived `MultiConnection::establish` tries each backend in turn, and
//! SQLite accepts any string as a file name, so a mistyped PostgreSQL URL would
//! silently become a local file. We therefore pick the variant from the URL scheme
//! ourselves ([`Target::parse`]) and establish that backend only.

use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::r2d2::{ManageConnection, Pool, R2D2Connection};
use diesel::{Connection, PgConnection, SqliteConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use serde::{Deserialize, Serialize};

use super::error::{redact_url, StoreError};

/// Migrations for SQLite, compiled into the binary so start-up needs no files.
pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
/// Migrations for PostgreSQL (same names as the SQLite ones).
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// A connection to either backend; every query in the store is written once
/// against this type.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    /// The embedded default: a local file (or memory), no server.
    Sqlite(SqliteConnection),
    /// A PostgreSQL server, for big deployments and shared databases.
    Pg(PgConnection),
}

/// Which database engine a store talks to; shown on the health endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// SQLite (bundled).
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

impl Backend {
    /// The engine a `DATABASE_URL` names (the store's own reading of it), for
    /// settings that depend on the backend, such as `CLUSTER=auto`.
    pub fn of_url(url: &str) -> Self {
        Target::parse(url).backend
    }

    /// Lower-case name for logs and health (`sqlite`, `postgres`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Tuning knobs for [`crate::store::Store::open_with`]; the defaults suit a service.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Most connections kept open at once (forced to 1 for `:memory:`, which is
    /// per connection).
    pub pool_size: u32,
    /// How long to wait for a pooled connection before giving up (so a dead
    /// database turns into an error instead of a hang).
    pub connection_timeout: Duration,
    /// SQLite only: how long a statement waits for another writer's lock.
    pub busy_timeout: Duration,
    /// Reads (the HTTP API's) running at once at most, on connections of their
    /// own; one more answers busy at once (see `read_limit`).
    pub read_pool_size: u32,
    /// Longest one read may run before it is stopped.
    pub read_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            pool_size: 4,
            connection_timeout: Duration::from_secs(5),
            busy_timeout: Duration::from_secs(5),
            read_pool_size: 8,
            read_timeout: Duration::from_secs(5),
        }
    }
}

/// A parsed database URL: the backend plus what that backend's driver expects.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) backend: Backend,
    /// For PostgreSQL the URL as given; for SQLite the file name (or `file:` URI).
    pub(crate) address: String,
}

impl Target {
    /// `postgres://` / `postgresql://` is PostgreSQL; anything else is SQLite:
    /// `sqlite://path`, `sqlite:path`, `file:path` (an SQLite URI), a plain path,
    /// or `:memory:`.
    pub(crate) fn parse(url: &str) -> Self {
        let lower = url.to_ascii_lowercase();
        if crate::config::cluster::names_postgres(url) {
            return Self {
                backend: Backend::Postgres,
                address: url.to_string(),
            };
        }
        let address = if lower.starts_with("sqlite://") {
            &url["sqlite://".len()..]
        } else if lower.starts_with("sqlite:") {
            &url["sqlite:".len()..]
        } else {
            url
        };
        Self {
            backend: Backend::Sqlite,
            address: address.to_string(),
        }
    }

    fn is_memory(&self) -> bool {
        self.backend == Backend::Sqlite
            && (self.address == ":memory:" || self.address.contains("mode=memory"))
    }
}

/// The r2d2 manager: establishes the backend the URL names and applies the
/// SQLite settings to every new connection.
#[derive(Debug, Clone)]
pub(crate) struct Manager {
    target: Target,
    busy_timeout: Duration,
    /// PostgreSQL read connections: their `statement_timeout` (SQLite reads are
    /// stopped by `read_limit`'s progress handler instead).
    statement_timeout: Option<Duration>,
}

impl Manager {
    fn establish(&self) -> Result<DbConnection, diesel::ConnectionError> {
        match self.target.backend {
            Backend::Postgres => {
                let mut conn = PgConnection::establish(&self.target.address)?;
                if let Some(limit) = self.statement_timeout {
                    conn.batch_execute(&format!(
                        "SET statement_timeout = {}",
                        limit.as_millis().max(1)
                    ))
                    .map_err(|e| diesel::ConnectionError::BadConnection(e.to_string()))?;
                }
                Ok(DbConnection::Pg(conn))
            }
            Backend::Sqlite => {
                let mut conn = SqliteConnection::establish(&self.target.address)?;
                // WAL lets readers run beside the writer; busy_timeout makes a
                // second writer wait instead of failing at once. A checkpoint
                // every 8,000 pages (32 MB of WAL) instead of 1,000 copies a page
                // that many batches touch once, not eight times (figures in
                // docs/PERFORMANCE.md, "Store").
                conn.batch_execute(&format!(
                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                     PRAGMA foreign_keys = ON; PRAGMA busy_timeout = {}; \
                     PRAGMA wal_autocheckpoint = 8000;",
                    self.busy_timeout.as_millis()
                ))
                .map_err(|e| diesel::ConnectionError::BadConnection(e.to_string()))?;
                Ok(DbConnection::Sqlite(conn))
            }
        }
    }
}

impl ManageConnection for Manager {
    type Connection = DbConnection;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<DbConnection, Self::Error> {
        self.establish()
            .map_err(diesel::r2d2::Error::ConnectionError)
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), Self::Error> {
        conn.ping().map_err(diesel::r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        std::thread::panicking() || conn.is_broken()
    }
}

/// The pool type the store holds.
pub(crate) type DbPool = Pool<Manager>;

/// The writer's pool and the readers' pool (the same one for `:memory:`, which
/// exists only inside its one connection).
pub(crate) struct Pools {
    pub(crate) writes: DbPool,
    pub(crate) reads: DbPool,
    pub(crate) backend: Backend,
    /// The database's `store_identity` id (see `journal`).
    pub(crate) identity: String,
}

/// Connects once (to report a clear connection error), builds the writer's and
/// the readers' pools, runs the pending migrations of the URL's backend and reads
/// the database's identity.
pub(crate) fn open_pools(url: &str, options: &StoreOptions) -> Result<Pools, StoreError> {
    super::read_limit::install_sqlite_interrupt();
    let target = Target::parse(url);
    let memory = target.is_memory();
    let writes = open_pool(url, target.clone(), options.pool_size, options, None)?;
    let reads = if memory {
        writes.clone()
    } else {
        // A read waiting for a lock is not stepping, so the progress handler
        // cannot stop it: its wait is bounded by the read limit instead.
        let read_options = StoreOptions {
            busy_timeout: options.busy_timeout.min(options.read_timeout),
            ..options.clone()
        };
        open_pool(
            url,
            target.clone(),
            options.read_pool_size,
            &read_options,
            Some(options.read_timeout),
        )?
    };
    let mut conn = writes.get()?;
    migrate(&mut conn).map_err(|e| StoreError::Migration {
        url: redact_url(url),
        message: e.to_string(),
    })?;
    // Read on the connection that migrated: no second checkout at open.
    let identity = {
        use super::schema::store_identity;
        use diesel::{QueryDsl, RunQueryDsl};
        store_identity::table
            .select(store_identity::id)
            .first::<String>(&mut *conn)?
    };
    drop(conn);
    Ok(Pools {
        writes,
        reads,
        backend: target.backend,
        identity,
    })
}

/// One pool of `size` connections to `target`.
fn open_pool(
    url: &str,
    target: Target,
    size: u32,
    options: &StoreOptions,
    statement_timeout: Option<Duration>,
) -> Result<DbPool, StoreError> {
    let redacted = redact_url(url);
    let pool_size = if target.is_memory() { 1 } else { size.max(1) };
    let manager = Manager {
        target,
        busy_timeout: options.busy_timeout,
        statement_timeout,
    };
    manager
        .establish()
        .map_err(|source| StoreError::Connection {
            url: redacted.clone(),
            source,
        })?;
    let pool = Pool::builder()
        .max_size(pool_size)
        .min_idle(Some(if pool_size == 1 { 1 } else { 0 }))
        .idle_timeout(if pool_size == 1 {
            None
        } else {
            Some(Duration::from_secs(600))
        })
        .max_lifetime(if pool_size == 1 {
            None
        } else {
            Some(Duration::from_secs(1800))
        })
        .connection_timeout(options.connection_timeout)
        .build(manager)?;
    Ok(pool)
}

/// The advisory lock migrations run under, so instances starting together on one
/// PostgreSQL database take turns instead of racing to create the same tables.
const MIGRATION_LOCK: i64 = 0x5357_4244_4d49_4752; // "SWBDMIGR"

/// Runs the pending migrations, then writes the search terms they queued (see
/// [`super::call_terms::rebuild_pending`]); on PostgreSQL both while holding
/// [`MIGRATION_LOCK`], so two instances never write the same terms.
fn migrate(conn: &mut DbConnection) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let lock = matches!(conn, DbConnection::Pg(_));
    if lock {
        conn.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))?;
    }
    let result = match &mut *conn {
        DbConnection::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(|_| ()),
        DbConnection::Pg(c) => c.run_pending_migrations(POSTGRES_MIGRATIONS).map(|_| ()),
    }
    .and_then(|()| {
        super::call_terms::rebuild_pending(conn)
            .map(|_| ())
            .map_err(Into::into)
    });
    let unlocked = match lock {
        true => conn.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})")),
        false => Ok(()),
    };
    result?;
    unlocked?;
    Ok(())
}

/// Runs `$body` with `$c` bound to the inner connection of whichever backend
/// `$conn` is, for the few statements outside the `MultiConnection` subset
/// (`ON CONFLICT`). The body is type-checked once per backend.
macro_rules! with_backend {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            $crate::store::connection::DbConnection::Sqlite($c) => $body,
            $crate::store::connection::DbConnection::Pg($c) => $body,
        }
    };
}
pub(crate) use with_backend;

#[cfg(test)]
mod tests {
    use super::{Backend, Target};

    #[test]
    fn scheme_picks_the_backend() {
        for url in ["postgres://u@h/d", "postgresql://u@h/d", "POSTGRES://u@h/d"] {
            assert_eq!(Target::parse(url).backend, Backend::Postgres, "{url}");
        }
        for (url, address) in [
            ("sqlite://sb.db", "sb.db"),
            ("sqlite:///var/lib/sb.db", "/var/lib/sb.db"),
            ("sqlite:sb.db", "sb.db"),
            ("file:sb.db?mode=rwc", "file:sb.db?mode=rwc"),
            ("sb.db", "sb.db"),
            (":memory:", ":memory:"),
        ] {
            let target = Target::parse(url);
            assert_eq!(target.backend, Backend::Sqlite, "{url}");
            assert_eq!(target.address, address, "{url}");
        }
    }
}
