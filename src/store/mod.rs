//! The store: extensions, their history, live and finished calls, and refresh
//! runs, in SQLite or PostgreSQL behind one interface.
//!
//! - [`Store`]: blocking methods over a connection pool. Callers run them off the
//!   event loop (`web::block`, `spawn_blocking`), never on an actor's thread.
//! - [`StoreWriter`]: the actor the rest of the service writes through; it batches
//!   writes, applies each batch in one transaction, and retries while the database
//!   is away, never dropping a write.
//! - The backend follows `DATABASE_URL`: `postgres://` or `postgresql://` is
//!   PostgreSQL, anything else (`sqlite://path`, `sqlite:path`, `file:path`, a
//!   plain path, `:memory:`) is SQLite. Migrations are embedded and run by
//!   [`Store::open`].
//!
//! Layout: `connection` (backend, pool, migrations), `schema` (diesel), `models`
//! (rows), `extensions` / `calls` / `refresh` (queries: `fn(&mut DbConnection, ..)
//! -> QueryResult`), `ops` (batched writes), `writer` (the actor), `error`.

mod bounded_count;
mod call_terms;
mod calls;
mod connection;
mod error;
mod explain;
mod extensions;
pub mod feed;
pub mod feed_op;
mod history;
mod history_cursor;
pub mod inspect;
pub mod journal;
pub mod lease_key;
mod models;
mod ops;
mod read_limit;
mod refresh;
pub mod retention;
pub mod schema;
pub mod writer;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use diesel::r2d2::{PooledConnection, R2D2Connection};
use diesel::Connection;

pub use calls::QueueWait;
pub use connection::{Backend, DbConnection, StoreOptions};
pub use error::{redact_url, StoreError};
pub use feed::FeedRow;
pub use history::CallHistoryQuery;
pub use history_cursor::HistoryCursor;
/// The longest `?q=` the history answers (the longest search term stored).
pub use models::MAX_TERM_CHARS as MAX_SEARCH_CHARS;
pub use ops::{RowKey, WriteOp};
pub use refresh::RefreshRecord;
pub use writer::{
    CloseIfDrained, Flush, GetStoreHealth, SpillAnswer, SpillPending, StoreHealth, StoreState,
    StoreWriter, Write, WriteBatch, WriterConfig,
};

use crate::model::{Call, Extension, ExtensionTransition};
use connection::{DbPool, Manager};
use read_limit::{ReadGate, ReadPermit};

/// Handle to the database: cheap to clone, shareable across threads.
///
/// Writes use the writer's pool. Reads use it too, unless the handle came from
/// [`Store::for_readers`]: then they run on the readers' own bounded pool, each
/// under a time limit, and answer [`StoreError::Busy`] at once when all its
/// connections are taken, so readers never take a connection the writer needs.
#[derive(Clone)]
pub struct Store {
    pool: DbPool,
    reads: DbPool,
    gate: ReadGate,
    /// True on the readers' handle.
    limited: bool,
    backend: Backend,
    described: Arc<str>,
    /// This database's `store_identity` id, read once at open: the journal
    /// names it, and replay refuses a journal written for another database.
    identity: Arc<str>,
}

/// A page of the call history.
#[derive(Debug, Clone)]
pub struct CallHistory {
    /// The calls, newest first.
    pub calls: Vec<Call>,
    /// How many calls match in all, up to the query's `count_limit` (`None`
    /// when not counted: cursor pages).
    pub total: Option<i64>,
    /// Whether `total` is every match: false when the count stopped at the
    /// limit (there are at least that many).
    pub total_exact: bool,
    /// The cursor of the next page, when this one is full.
    pub next: Option<HistoryCursor>,
}

/// What a journal replay did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplayReport {
    /// Ops applied now.
    pub applied: usize,
    /// Ops an earlier, interrupted replay had already applied.
    pub skipped: usize,
}

impl std::fmt::Display for ReplayReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ops applied, {} already in",
            self.applied, self.skipped
        )
    }
}

/// A read's connection: from the readers' pool with its permit, or the writer's.
struct ReadConn {
    conn: PooledConnection<Manager>,
    /// Dropped after the connection is back in its pool.
    _permit: Option<ReadPermit>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .field("url", &self.described)
            .finish()
    }
}

fn decode_error(what: &'static str) -> impl Fn(String) -> StoreError {
    move |message| StoreError::Decode { what, message }
}

impl Store {
    /// Opens the database `url` names with default options and brings its schema
    /// up to date.
    pub fn open(url: &str) -> Result<Self, StoreError> {
        Self::open_with(url, &StoreOptions::default())
    }

    /// [`Store::open`] with explicit pool and timeout settings.
    pub fn open_with(url: &str, options: &StoreOptions) -> Result<Self, StoreError> {
        let pools = connection::open_pools(url, options)?;
        Ok(Self {
            pool: pools.writes,
            reads: pools.reads,
            gate: ReadGate::new(options.read_pool_size as usize, options.read_timeout),
            limited: false,
            backend: pools.backend,
            described: Arc::from(redact_url(url)),
            identity: Arc::from(pools.identity.as_str()),
        })
    }

    /// The handle the HTTP API reads through: its reads use the readers' pool,
    /// bounded and time-limited (see [`Store`]).
    pub fn for_readers(&self) -> Self {
        Self {
            limited: true,
            ..self.clone()
        }
    }

    /// Reads in progress on the readers' pool now.
    pub fn reads_in_progress(&self) -> usize {
        self.gate.in_use()
    }

    /// Runs a read on the connection this handle reads with, turning a stopped
    /// statement into [`StoreError::ReadTimedOut`].
    fn read<T>(
        &self,
        f: impl FnOnce(&mut DbConnection) -> diesel::QueryResult<T>,
    ) -> Result<T, StoreError> {
        let mut conn = if self.limited {
            let permit = self.gate.enter()?;
            ReadConn {
                conn: self.reads.get()?,
                _permit: Some(permit),
            }
        } else {
            ReadConn {
                conn: self.conn()?,
                _permit: None,
            }
        };
        f(&mut conn.conn).map_err(|e| {
            if self.limited && read_limit::is_time_limit(&e) {
                StoreError::ReadTimedOut {
                    limit_ms: self.gate.limit().as_millis(),
                }
            } else {
                StoreError::Query(e)
            }
        })
    }

    /// Which engine this store uses.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// This database's identity (see `store_identity`): the same for every
    /// service on it, different for every other database.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// The database URL with its password redacted, for logs and health.
    pub fn describe(&self) -> &str {
        &self.described
    }

    fn conn(&self) -> Result<PooledConnection<Manager>, StoreError> {
        Ok(self.pool.get()?)
    }

    /// Checks the database answers (health checks).
    pub fn ping(&self) -> Result<(), StoreError> {
        self.conn()?.ping()?;
        Ok(())
    }

    /// Applies a batch of mixed writes in one transaction, in order: all of them
    /// or none. The [`StoreWriter`] writes through this.
    pub fn apply(&self, ops: &[WriteOp]) -> Result<(), StoreError> {
        if ops.is_empty() {
            return Ok(());
        }
        let mut conn = self.conn()?;
        ops::apply_in_transaction(&mut conn, ops, Utc::now())?;
        Ok(())
    }

    /// Inserts or overwrites extensions' current state.
    pub fn upsert_extensions(&self, list: &[Extension]) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        let list = ops::latest_by_key(list, |e| (e.pbx.clone(), e.extension.clone()));
        conn.transaction(|c| extensions::upsert_many(c, &list))?;
        Ok(())
    }

    /// Appends state changes to extensions' history.
    pub fn record_transitions(&self, list: &[ExtensionTransition]) -> Result<(), StoreError> {
        let refs: Vec<&ExtensionTransition> = list.iter().collect();
        let mut conn = self.conn()?;
        conn.transaction(|c| extensions::insert_transitions(c, &refs))?;
        Ok(())
    }

    /// Stored extensions (of one PBX, or all), by PBX then number: what the
    /// service starts from after a restart.
    pub fn list_extensions(&self, pbx: Option<&str>) -> Result<Vec<Extension>, StoreError> {
        let rows = self.read(|c| extensions::list(c, pbx))?;
        Ok(rows.into_iter().map(Extension::from).collect())
    }

    /// One stored extension.
    pub fn get_extension(&self, pbx: &str, exten: &str) -> Result<Option<Extension>, StoreError> {
        Ok(self
            .read(|c| extensions::get(c, pbx, exten))?
            .map(Extension::from))
    }

    /// An extension's transitions with `at` in `[from, to]`, newest first.
    pub fn extension_history(
        &self,
        pbx: &str,
        exten: &str,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        limit: i64,
    ) -> Result<Vec<ExtensionTransition>, StoreError> {
        let rows = self.read(|c| extensions::history(c, pbx, exten, from, to, limit))?;
        Ok(rows.into_iter().map(ExtensionTransition::from).collect())
    }

    /// What the extension's state was at `at` ("what was it at 10:32?"): the
    /// last transition at or before it, if any is retained.
    pub fn state_at(
        &self,
        pbx: &str,
        exten: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<ExtensionTransition>, StoreError> {
        let row = self.read(|c| extensions::state_at(c, pbx, exten, at))?;
        Ok(row.map(ExtensionTransition::from))
    }

    /// Records that the PBX confirmed these extensions' state at `at` (a resync
    /// or refresh read them). Unknown extensions are ignored.
    pub fn mark_confirmed(
        &self,
        pbx: &str,
        extens: &[String],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        extensions::mark_confirmed(&mut *self.conn()?, pbx, extens, at)?;
        Ok(())
    }

    /// Inserts or overwrites live calls.
    pub fn upsert_active_calls(&self, list: &[Call]) -> Result<(), StoreError> {
        let now = Utc::now();
        let mut conn = self.conn()?;
        let list = ops::latest_by_key(list, |c| (c.pbx.clone(), c.id.clone()));
        conn.transaction(|c| calls::upsert_active_many(c, &list, now))?;
        Ok(())
    }

    /// Live calls (of one PBX, or all), oldest first.
    pub fn list_active_calls(&self, pbx: Option<&str>) -> Result<Vec<Call>, StoreError> {
        let rows = self.read(|c| calls::list_active(c, pbx))?;
        rows.iter()
            .map(|r| r.decode().map_err(decode_error("active call")))
            .collect()
    }

    /// Moves ended calls into history (with their legs) and out of the live
    /// calls, in one transaction. Finishing a call again replaces its history.
    pub fn finish_calls(&self, list: &[Call]) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        let list = ops::latest_by_key(list, |c| (c.pbx.clone(), c.id.clone()));
        conn.transaction(|c| calls::finish_many(c, &list))?;
        Ok(())
    }

    /// How the queue calls that started at or after `from` left their queue (to
    /// count today's queue figures again after a restart).
    pub fn queue_waits_since(&self, from: DateTime<Utc>) -> Result<Vec<QueueWait>, StoreError> {
        Ok(calls::queue_waits_since(&mut *self.conn()?, from)?)
    }

    /// A page of finished calls, newest first.
    pub fn call_history(&self, q: &CallHistoryQuery) -> Result<CallHistory, StoreError> {
        let page = self.read(|c| history::history(c, q))?;
        let calls = page
            .calls
            .into_iter()
            .map(|(row, legs)| {
                row.decode(legs.into_iter().map(Into::into).collect())
                    .map_err(decode_error("call"))
            })
            .collect::<Result<Vec<Call>, StoreError>>()?;
        Ok(CallHistory {
            calls,
            total: page.total,
            total_exact: page.total_exact,
            next: page.next,
        })
    }

    /// The plans the database uses for a history query's count and page, one
    /// line per step (query-plan tests and the benchmark read them).
    pub fn history_plan(&self, q: &CallHistoryQuery) -> Result<Vec<String>, StoreError> {
        self.read(|c| history::plan(c, q))
    }

    /// A call by id: the live one if it is still going, else the finished one.
    pub fn get_call(&self, pbx: Option<&str>, id: &str) -> Result<Option<Call>, StoreError> {
        let (active, finished) = self.read(|c| {
            if let Some(row) = calls::get_active(c, pbx, id)? {
                return Ok((Some(row), None));
            }
            Ok((None, calls::get_finished(c, pbx, id)?))
        })?;
        if let Some(row) = active {
            return row.decode().map(Some).map_err(decode_error("active call"));
        }
        match finished {
            Some((row, legs)) => row
                .decode(legs.into_iter().map(Into::into).collect())
                .map(Some)
                .map_err(decode_error("call")),
            None => Ok(None),
        }
    }

    /// Applies the journal at `path` (see [`journal`]) chunk by chunk, skipping
    /// chunks an earlier, interrupted replay already applied, then removes it.
    pub fn replay_journal(&self, path: &std::path::Path) -> Result<ReplayReport, StoreError> {
        let Some(journal) = journal::read(path)? else {
            return Ok(ReplayReport::default());
        };
        journal.check_database(path, &self.identity)?;
        let chunks = journal.chunks;
        let mut report = ReplayReport::default();
        let mut conn = self.conn()?;
        for chunk in &chunks {
            if journal::apply_chunk(&mut conn, chunk, Utc::now())? {
                report.applied += chunk.ops.len();
            } else {
                report.skipped += chunk.ops.len();
            }
        }
        drop(conn);
        journal::remove(path)?;
        Ok(report)
    }

    /// Records a finished refresh run.
    pub fn record_refresh(&self, record: &RefreshRecord) -> Result<(), StoreError> {
        refresh::insert(&mut *self.conn()?, record)?;
        Ok(())
    }

    /// The latest refresh runs, newest first.
    pub fn recent_refreshes(&self, limit: i64) -> Result<Vec<RefreshRecord>, StoreError> {
        let rows = self.read(|c| refresh::recent(c, limit))?;
        rows.into_iter()
            .map(|r| r.decode().map_err(decode_error("refresh run")))
            .collect()
    }

    /// One retention step: at most `limit` rows of each table past its cutoff
    /// (see [`retention`]).
    pub fn prune_step(
        &self,
        cutoffs: &retention::Cutoffs,
        limit: i64,
    ) -> Result<retention::Pruned, StoreError> {
        Ok(retention::prune_step(&mut *self.conn()?, cutoffs, limit)?)
    }

    /// Deletes history older than `older_than` (keeping each extension's last
    /// transition before it, so [`Store::state_at`] stays right); returns how
    /// many rows went.
    pub fn prune_transitions(&self, older_than: DateTime<Utc>) -> Result<usize, StoreError> {
        Ok(extensions::prune(&mut *self.conn()?, older_than)?)
    }
}
