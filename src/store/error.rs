//! `StoreError`, the one error type callers of the store see, and URL redaction.
//!
//! Every message is safe to log or show: database URLs appear only with their
//! password replaced by `***` (see [`redact_url`]).

use thiserror::Error;

/// What went wrong in the store, by layer, so callers can tell "database down"
/// (retry later) from "bad data" (do not retry).
#[derive(Debug, Error)]
pub enum StoreError {
    /// The database could not be reached or refused the login.
    #[error("cannot connect to the database at {url}: {source}")]
    Connection {
        /// The database URL, password redacted.
        url: String,
        /// diesel's reason.
        #[source]
        source: diesel::ConnectionError,
    },
    /// The embedded migrations did not apply.
    #[error("database migrations failed on {url}: {message}")]
    Migration {
        /// The database URL, password redacted.
        url: String,
        /// The migration harness's reason.
        message: String,
    },
    /// A statement failed (including a failed transaction commit).
    #[error("database query failed: {0}")]
    Query(#[from] diesel::result::Error),
    /// No pooled connection became available in time (usually: database down).
    #[error("no database connection available: {0}")]
    Pool(#[from] diesel::r2d2::PoolError),
    /// Every read connection is in use: the caller should try again shortly
    /// (HTTP answers 503 `STORE_BUSY`) rather than queue behind the others.
    #[error("the store is busy: all {readers} read connections are in use")]
    Busy {
        /// How many reads may run at once.
        readers: usize,
    },
    /// A read ran past its time limit and was stopped.
    #[error("the read took longer than its limit of {limit_ms} ms and was stopped")]
    ReadTimedOut {
        /// The limit, in milliseconds.
        limit_ms: u128,
    },
    /// The journal could not be written or read.
    #[error(transparent)]
    Journal(#[from] super::journal::JournalError),
    /// A stored row could not be turned back into a domain value.
    #[error("stored {what} could not be decoded: {message}")]
    Decode {
        /// Which kind of row (e.g. `active call`).
        what: &'static str,
        /// Why.
        message: String,
    },
}

/// The URL with any password replaced by `***`, for logs and error messages.
///
/// Handles `scheme://user:password@host/...` and a `password=` query parameter;
/// anything else (SQLite paths) is returned as is.
pub fn redact_url(url: &str) -> String {
    let mut out = match url.find("://") {
        Some(scheme_end) => {
            let rest_start = scheme_end + 3;
            let rest = &url[rest_start..];
            let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
            let authority = &rest[..authority_end];
            match authority.rfind('@') {
                Some(at) => {
                    let userinfo = &authority[..at];
                    let user = userinfo.split(':').next().unwrap_or_default();
                    let masked = if userinfo.contains(':') {
                        format!("{user}:***")
                    } else {
                        user.to_string()
                    };
                    format!("{}{}{}", &url[..rest_start], masked, &rest[at..])
                }
                None => url.to_string(),
            }
        }
        None => url.to_string(),
    };
    if let Some(query_start) = out.find('?') {
        let (head, query) = out.split_at(query_start + 1);
        let redacted: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
                _ => pair.to_string(),
            })
            .collect();
        out = format!("{head}{}", redacted.join("&"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn password_in_userinfo_is_masked() {
        assert_eq!(
            redact_url("postgres://sb:s3cret@db.example:5432/switchboard"),
            "postgres://sb:***@db.example:5432/switchboard"
        );
    }

    #[test]
    fn password_with_at_sign_is_masked() {
        assert_eq!(
            redact_url("postgresql://sb:p@ss@db/x?sslmode=require"),
            "postgresql://sb:***@db/x?sslmode=require"
        );
    }

    #[test]
    fn password_query_parameter_is_masked() {
        assert_eq!(
            redact_url("postgres://db/x?user=sb&password=hunter2"),
            "postgres://db/x?user=sb&password=***"
        );
    }

    #[test]
    fn urls_without_secrets_are_unchanged() {
        assert_eq!(redact_url("postgres://sb@db/x"), "postgres://sb@db/x");
        assert_eq!(
            redact_url("sqlite://switchboard.db"),
            "sqlite://switchboard.db"
        );
        assert_eq!(redact_url(":memory:"), ":memory:");
    }
}
