//! [`StoreSettings`]: how the store shares the database between its writer and
//! the HTTP API's readers.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `STORE_READ_CONNECTIONS` | `8` | history and other API reads running at once, on connections of their own (the writer keeps its own); one more answers 503 `STORE_BUSY` at once |
//! | `STORE_READ_TIMEOUT_MS` | `5000` | longest one API read may run; then it is stopped (PostgreSQL `statement_timeout`, an SQLite interrupt) and answers 503 `STORE_BUSY` |
//! | `SHUTDOWN_GRACE` | `30` | seconds a stopping service keeps trying to write what it holds; what is still unwritten then goes to the journal |
//! | `JOURNAL_DIR` | (the SQLite file's directory; the working directory for PostgreSQL) | where the journal `switchboard.journal` lives |
//! | `STORE_MAX_BACKLOG` | `200000` | unwritten ops kept in memory while the database is away; past it they move to the journal |
//! | `HISTORY_COUNT_LIMIT` | `10000` | matches a numbered history page counts at most: below it `pagination.total` is exact, at or past it `total` is this limit with `"totalExact": false` (counting costs about what reading that many calls does; `1`–`1000000`) |
//! | `CALL_RETENTION_DAYS` | `90` | finished calls (with their legs) kept |
//! | `REFRESH_RETENTION_DAYS` | `90` | refresh runs kept |

use std::path::PathBuf;
use std::time::Duration;

use super::{parse_num, ConfigError};

/// `HISTORY_COUNT_LIMIT`'s default: 200 pages of 50, more than anyone pages
/// through by number, and a count that stays a few milliseconds on either
/// backend (see docs/PERFORMANCE.md) where an exact one grows with the history.
pub const DEFAULT_HISTORY_COUNT_LIMIT: i64 = 10_000;

/// The readers' share of the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreSettings {
    /// Reads at once at most.
    pub read_connections: u32,
    /// Longest one read may run.
    pub read_timeout: Duration,
    /// How long a stopping service keeps flushing before it journals the rest.
    pub shutdown_grace: Duration,
    /// Where the journal lives (`None`: next to the store).
    pub journal_dir: Option<PathBuf>,
    /// Unwritten ops kept in memory during an outage.
    pub max_backlog: usize,
    /// Matches a numbered history page counts at most.
    pub history_count_limit: i64,
    /// Finished calls kept.
    pub call_retention: Duration,
    /// Refresh runs kept.
    pub refresh_retention: Duration,
}

impl StoreSettings {
    /// Reads the store variables.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let read_connections =
            parse_num("STORE_READ_CONNECTIONS", get("STORE_READ_CONNECTIONS"), 8)?;
        let read_connections =
            u32::try_from(read_connections.clamp(1, 1024)).map_err(|_| ConfigError::Invalid {
                key: "STORE_READ_CONNECTIONS",
                message: "at most 1024".to_string(),
            })?;
        let read_timeout = Duration::from_millis(
            parse_num("STORE_READ_TIMEOUT_MS", get("STORE_READ_TIMEOUT_MS"), 5000)?.max(1),
        );
        let days = |key: &'static str, default: u64| -> Result<Duration, ConfigError> {
            Ok(Duration::from_secs(
                parse_num(key, get(key), default)?.saturating_mul(86_400),
            ))
        };
        Ok(Self {
            read_connections,
            read_timeout,
            shutdown_grace: Duration::from_secs(parse_num(
                "SHUTDOWN_GRACE",
                get("SHUTDOWN_GRACE"),
                30,
            )?),
            journal_dir: get("JOURNAL_DIR").map(PathBuf::from),
            max_backlog: parse_num("STORE_MAX_BACKLOG", get("STORE_MAX_BACKLOG"), 200_000)?.max(1)
                as usize,
            history_count_limit: parse_num(
                "HISTORY_COUNT_LIMIT",
                get("HISTORY_COUNT_LIMIT"),
                DEFAULT_HISTORY_COUNT_LIMIT as u64,
            )?
            .clamp(1, 1_000_000) as i64,
            call_retention: days("CALL_RETENTION_DAYS", 90)?,
            refresh_retention: days("REFRESH_RETENTION_DAYS", 90)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        let s = StoreSettings::from_lookup(|_| None).expect("defaults");
        assert_eq!(s.read_connections, 8);
        assert_eq!(s.read_timeout, Duration::from_secs(5));
        assert_eq!(s.shutdown_grace, Duration::from_secs(30));
        assert_eq!(s.journal_dir, None);
        assert_eq!(s.call_retention, Duration::from_secs(90 * 86_400));
        assert_eq!(s.history_count_limit, 10_000);
        let s = StoreSettings::from_lookup(|k| match k {
            "STORE_READ_CONNECTIONS" => Some("2".into()),
            "STORE_READ_TIMEOUT_MS" => Some("250".into()),
            "HISTORY_COUNT_LIMIT" => Some("0".into()),
            _ => None,
        })
        .expect("set");
        assert_eq!(s.read_connections, 2);
        assert_eq!(s.read_timeout, Duration::from_millis(250));
        assert_eq!(s.history_count_limit, 1, "a limit of at least one");
        assert!(StoreSettings::from_lookup(
            |k| (k == "STORE_READ_TIMEOUT_MS").then(|| "soon".to_string())
        )
        .is_err());
    }
}
