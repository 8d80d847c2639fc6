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

mod calls;
mod connection;
mod error;
mod extensions;
pub mod feed;
pub mod feed_op;
pub mod inspect;
pub mod lease_key;
mod models;
mod ops;
mod refresh;
pub mod schema;
pub mod writer;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use diesel::r2d2::{PooledConnection, R2D2Connection};
use diesel::Connection;

pub use calls::{CallHistoryQuery, QueueWait};
pub use connection::{Backend, DbConnection, StoreOptions};
pub use error::{redact_url, StoreError};
pub use feed::FeedRow;
pub use ops::{RowKey, WriteOp};
pub use refresh::RefreshRecord;
pub use writer::{
    Flush, GetStoreHealth, StoreHealth, StoreState, StoreWriter, Write, WriteBatch, WriterConfig,
};

use crate::model::{Call, Extension, ExtensionTransition};
use connection::{DbPool, Manager};

/// Handle to the database: cheap to clone, shareable across threads.
#[derive(Clone)]
pub struct Store {
    pool: DbPool,
    backend: Backend,
    described: Arc<str>,
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
        let (pool, backend) = connection::open_pool(url, options)?;
        Ok(Self {
            pool,
            backend,
            described: Arc::from(redact_url(url)),
        })
    }

    /// Which engine this store uses.
    pub fn backend(&self) -> Backend {
        self.backend
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
        let rows = extensions::list(&mut *self.conn()?, pbx)?;
        Ok(rows.into_iter().map(Extension::from).collect())
    }

    /// One stored extension.
    pub fn get_extension(&self, pbx: &str, exten: &str) -> Result<Option<Extension>, StoreError> {
        Ok(extensions::get(&mut *self.conn()?, pbx, exten)?.map(Extension::from))
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
        let rows = extensions::history(&mut *self.conn()?, pbx, exten, from, to, limit)?;
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
        let row = extensions::state_at(&mut *self.conn()?, pbx, exten, at)?;
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
        let rows = calls::list_active(&mut *self.conn()?, pbx)?;
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

    /// A page of finished calls, newest first, and how many match in all.
    pub fn call_history(&self, q: &CallHistoryQuery) -> Result<(Vec<Call>, i64), StoreError> {
        let (rows, total) = calls::history(&mut *self.conn()?, q)?;
        let list = rows
            .into_iter()
            .map(|(row, legs)| {
                row.decode(legs.into_iter().map(Into::into).collect())
                    .map_err(decode_error("call"))
            })
            .collect::<Result<Vec<Call>, StoreError>>()?;
        Ok((list, total))
    }

    /// A call by id: the live one if it is still going, else the finished one.
    pub fn get_call(&self, pbx: Option<&str>, id: &str) -> Result<Option<Call>, StoreError> {
        let mut conn = self.conn()?;
        if let Some(row) = calls::get_active(&mut conn, pbx, id)? {
            return row.decode().map(Some).map_err(decode_error("active call"));
        }
        match calls::get_finished(&mut conn, pbx, id)? {
            Some((row, legs)) => row
                .decode(legs.into_iter().map(Into::into).collect())
                .map(Some)
                .map_err(decode_error("call")),
            None => Ok(None),
        }
    }

    /// Records a finished refresh run.
    pub fn record_refresh(&self, record: &RefreshRecord) -> Result<(), StoreError> {
        refresh::insert(&mut *self.conn()?, record)?;
        Ok(())
    }

    /// The latest refresh runs, newest first.
    pub fn recent_refreshes(&self, limit: i64) -> Result<Vec<RefreshRecord>, StoreError> {
        let rows = refresh::recent(&mut *self.conn()?, limit)?;
        rows.into_iter()
            .map(|r| r.decode().map_err(decode_error("refresh run")))
            .collect()
    }

    /// Deletes history older than `older_than` (keeping each extension's last
    /// transition before it, so [`Store::state_at`] stays right); returns how
    /// many rows went.
    pub fn prune_transitions(&self, older_than: DateTime<Utc>) -> Result<usize, StoreError> {
        Ok(extensions::prune(&mut *self.conn()?, older_than)?)
    }
}
