//! The HTTP reads' side of the store: a bounded pool that answers "busy" at once
//! instead of queueing, and a time limit on each read.
//!
//! Reads used to share the writer's pool: a dozen slow history readers took every
//! connection and the writer's batches failed with "no database connection
//! available". Now the writer keeps its own pool, and readers go through a
//! [`ReadGate`]: at most `read_pool_size` at once, the next one gets
//! [`StoreError::Busy`] without waiting (HTTP answers 503 `STORE_BUSY`).
//!
//! The time limit is the database's own where it has one (PostgreSQL
//! `statement_timeout`, set on each read connection by the pool's manager). SQLite
//! has none, so every SQLite connection of this process gets a progress handler
//! (through `sqlite3_auto_extension`, the one hook that sees diesel's raw handle)
//! which interrupts the statement once the calling thread's read deadline has
//! passed. Only a thread holding a [`ReadPermit`] has a deadline; the writer's
//! threads never do, so their statements are never interrupted.

use std::cell::Cell;
use std::os::raw::{c_char, c_int, c_void};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

use super::error::StoreError;

/// SQLite virtual-machine steps between two looks at the deadline: frequent
/// enough to stop within a millisecond or so, rare enough to cost nothing.
const STEPS_BETWEEN_CHECKS: c_int = 4000;

thread_local! {
    /// When the read running on this thread must give up (`None`: no limit).
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// Installs the progress handler on every SQLite connection opened from now on
/// (idempotent; called before the store opens its first connection).
pub(crate) fn install_sqlite_interrupt() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: `register` matches the entry-point signature SQLite expects and
        // only installs a handler whose callback touches no pointer.
        let rc = unsafe { libsqlite3_sys::sqlite3_auto_extension(Some(register)) };
        if rc != libsqlite3_sys::SQLITE_OK {
            log::warn!("SQLite read time limit unavailable (sqlite3_auto_extension: {rc})");
        }
    });
}

/// Called by SQLite for each new connection.
unsafe extern "C" fn register(
    db: *mut libsqlite3_sys::sqlite3,
    _err: *mut *mut c_char,
    _api: *const libsqlite3_sys::sqlite3_api_routines,
) -> c_int {
    // SAFETY: `db` is the connection SQLite is opening; the handler keeps no state.
    unsafe {
        libsqlite3_sys::sqlite3_progress_handler(
            db,
            STEPS_BETWEEN_CHECKS,
            Some(past_deadline),
            std::ptr::null_mut(),
        );
    }
    libsqlite3_sys::SQLITE_OK
}

/// Non-zero (interrupt) when this thread's read deadline has passed.
unsafe extern "C" fn past_deadline(_arg: *mut c_void) -> c_int {
    let late = DEADLINE
        .try_with(|d| d.get().is_some_and(|t| Instant::now() >= t))
        .unwrap_or(false);
    c_int::from(late)
}

/// True when a query error is the read time limit stopping it (SQLite interrupt,
/// PostgreSQL statement timeout).
pub(crate) fn is_time_limit(error: &diesel::result::Error) -> bool {
    let diesel::result::Error::DatabaseError(_, info) = error else {
        return false;
    };
    let message = info.message();
    message == "interrupted" || message.contains("statement timeout")
}

/// Counts the reads in progress and refuses one past the bound.
#[derive(Debug, Clone)]
pub(crate) struct ReadGate {
    in_use: Arc<AtomicUsize>,
    capacity: usize,
    limit: Duration,
}

impl ReadGate {
    /// At most `capacity` reads at once, each limited to `limit`.
    pub(crate) fn new(capacity: usize, limit: Duration) -> Self {
        Self {
            in_use: Arc::new(AtomicUsize::new(0)),
            capacity: capacity.max(1),
            limit,
        }
    }

    /// A permit for one read, or [`StoreError::Busy`] at once when every slot is taken.
    /// The permit also arms this thread's SQLite deadline until it is dropped.
    pub(crate) fn enter(&self) -> Result<ReadPermit, StoreError> {
        let taken = self
            .in_use
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.capacity).then_some(n + 1)
            });
        if taken.is_err() {
            return Err(StoreError::Busy {
                readers: self.capacity,
            });
        }
        let before = DEADLINE.with(|d| d.replace(Some(Instant::now() + self.limit)));
        Ok(ReadPermit {
            in_use: Arc::clone(&self.in_use),
            before,
        })
    }

    /// The time limit of one read.
    pub(crate) fn limit(&self) -> Duration {
        self.limit
    }

    /// Reads in progress now.
    pub(crate) fn in_use(&self) -> usize {
        self.in_use.load(Ordering::Acquire)
    }
}

/// One read in progress: frees its slot and disarms the deadline when dropped.
#[derive(Debug)]
pub(crate) struct ReadPermit {
    in_use: Arc<AtomicUsize>,
    before: Option<Instant>,
}

impl Drop for ReadPermit {
    fn drop(&mut self) {
        DEADLINE.with(|d| d.set(self.before));
        self.in_use.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gate_refuses_past_its_capacity_and_frees_on_drop() {
        let gate = ReadGate::new(2, Duration::from_secs(1));
        let a = gate.enter().expect("first");
        let _b = gate.enter().expect("second");
        assert!(matches!(gate.enter(), Err(StoreError::Busy { readers: 2 })));
        drop(a);
        assert_eq!(gate.in_use(), 1);
        let _c = gate.enter().expect("a slot was freed");
    }

    #[test]
    fn a_sqlite_read_past_its_limit_is_interrupted_and_the_writer_never_is() {
        use diesel::connection::SimpleConnection;
        let dir = tempfile::tempdir().expect("temp dir");
        let url = dir.path().join("limit.db").display().to_string();
        let options = crate::store::StoreOptions {
            read_timeout: Duration::from_millis(100),
            ..crate::store::StoreOptions::default()
        };
        let store = crate::store::Store::open_with(&url, &options).expect("open");
        let endless = "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) \
                       SELECT count(*) FROM n";
        let stopped = store.for_readers().read(|c| c.batch_execute(endless));
        assert!(
            matches!(stopped, Err(StoreError::ReadTimedOut { limit_ms: 100 })),
            "{stopped:?}"
        );
        // Far longer than the readers' limit, on the same thread: the writer's
        // handle has no deadline, and the reader's was disarmed.
        let long = "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n \
                    WHERE x < 5000000) SELECT count(*) FROM n";
        let started = Instant::now();
        store
            .read(|c| c.batch_execute(long))
            .expect("the writer's statement runs to its end");
        assert!(
            started.elapsed() > Duration::from_millis(100),
            "the statement outlasted the limit"
        );
    }

    #[test]
    fn a_permit_arms_and_disarms_the_thread_deadline() {
        let gate = ReadGate::new(1, Duration::from_secs(60));
        assert_eq!(DEADLINE.with(Cell::get), None);
        let permit = gate.enter().expect("permit");
        assert!(DEADLINE.with(Cell::get).is_some());
        drop(permit);
        assert_eq!(DEADLINE.with(Cell::get), None);
    }
}
