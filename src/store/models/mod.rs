//! Rows as the database holds them: `New*` structs to insert (borrowing from the
//! domain value, no copies) and `*Row` structs to load, with the conversions to
//! and from [`crate::model`].
//!
//! Timestamps are stored as UTC `Timestamp` (the type both backends share under
//! `MultiConnection`), truncated to microseconds so SQLite and PostgreSQL give back
//! exactly the same instant.

mod calls;
mod db_time;
mod extensions;
mod refresh;
mod search_terms;

pub use db_time::DbTime;

pub use calls::{
    direction_text, ActiveCallRow, CallRow, LegRow, NewActiveCall, NewCall, NewLeg, NewParty,
};
pub use extensions::{ExtensionRow, NewExtension, NewTransition, TransitionRow};
pub use refresh::{NewRefreshRun, RefreshRunRow};
pub use search_terms::{search_key, NewSearchTerm, TermSource, MAX_TERM_CHARS};

use chrono::{DateTime, NaiveDateTime, SubsecRound, Utc};

/// A domain instant as stored: naive UTC, microsecond precision.
pub fn to_db_time(at: DateTime<Utc>) -> NaiveDateTime {
    at.trunc_subsecs(6).naive_utc()
}

/// A stored instant back in the domain's type.
pub fn from_db_time(at: NaiveDateTime) -> DateTime<Utc> {
    at.and_utc()
}

/// [`to_db_time`] as a row to insert holds it.
pub fn db_time(at: DateTime<Utc>) -> DbTime {
    DbTime(to_db_time(at))
}

/// Optional variant of [`db_time`].
pub fn db_time_opt(at: Option<DateTime<Utc>>) -> Option<DbTime> {
    at.map(db_time)
}

/// Optional variant of [`from_db_time`].
pub fn from_db_time_opt(at: Option<NaiveDateTime>) -> Option<DateTime<Utc>> {
    at.map(from_db_time)
}
