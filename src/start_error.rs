//! Why the service could not start, as one line on stderr and an exit code per kind.
//!
//! Exit codes (also in README's "Troubleshoot" table):
//!
//! | code | kind | example |
//! |---|---|---|
//! | 1 | anything else that stopped the start | the metrics registry refused a metric |
//! | 2 | a bad setting | `AMI_PORT=99999` |
//! | 3 | the `--config` file cannot be read | a missing file |
//! | 4 | the database cannot be opened or its stored state read | PostgreSQL not running, a table damaged |
//! | 5 | the HTTP address is in use or cannot be listened on | another process on `HTTP_BIND` |
//!
//! Each kind names the setting, its value (never a secret: database URLs are shown
//! without their password) and what to do, so an operator needs no backtrace.

use std::net::SocketAddr;
use std::process::ExitCode;

use thiserror::Error;

use crate::config::ConfigError;

/// A failure to start.
#[derive(Debug, Error)]
pub enum StartError {
    /// A setting has a value the service cannot use.
    #[error("bad setting {0}; fix it in the environment, .env or the --config file")]
    BadSetting(ConfigError),
    /// The `--config` file could not be read.
    #[error("{0}; check the path given to --config")]
    ConfigFile(ConfigError),
    /// The database did not open.
    #[error(
        "DATABASE_URL {url} cannot be used: {reason}; start the database or set DATABASE_URL to one that is reachable (`switchboard doctor` checks it)"
    )]
    Database {
        /// The URL without its password.
        url: String,
        /// Why (the driver's words, on one line).
        reason: String,
    },
    /// Another process holds the HTTP address.
    #[error(
        "HTTP_BIND {0} is already in use by another process; stop it or set HTTP_BIND to a free address"
    )]
    AddressInUse(SocketAddr),
    /// The HTTP address cannot be listened on for another reason.
    #[error("HTTP_BIND {addr} cannot be listened on: {reason}; set HTTP_BIND to an address of this machine")]
    CannotListen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        reason: String,
    },
    /// Anything else.
    #[error("cannot start: {0}")]
    Other(String),
}

impl StartError {
    /// The process's exit code for this kind (see the module docs).
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Other(_) => 1,
            Self::BadSetting(_) => 2,
            Self::ConfigFile(_) => 3,
            Self::Database { .. } => 4,
            Self::AddressInUse(_) | Self::CannotListen { .. } => 5,
        }
    }

    /// A configuration error sorted into its kind.
    pub fn from_config(e: ConfigError) -> Self {
        match e {
            ConfigError::File { .. } => Self::ConfigFile(e),
            ConfigError::Invalid { .. } => Self::BadSetting(e),
        }
    }

    /// A failure to listen on `addr`.
    pub fn from_listen(addr: SocketAddr, e: &std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::AddrInUse {
            Self::AddressInUse(addr)
        } else {
            Self::CannotListen {
                addr,
                reason: e.to_string(),
            }
        }
    }

    /// Prints the one line on stderr and gives the exit code.
    pub fn report(&self) -> ExitCode {
        let line = self.to_string().replace(['\n', '\r'], " ");
        eprintln!("error: {line}");
        ExitCode::from(self.exit_code())
    }
}

/// The store could not be opened or read at start: carried through `anyhow` from
/// `app::start` so the command can tell it from other failures.
#[derive(Debug, Error)]
#[error("DATABASE_URL {url} cannot be used: {reason}")]
pub struct StoreUnavailable {
    /// The URL without its password.
    pub url: String,
    /// Why.
    pub reason: String,
}

impl From<anyhow::Error> for StartError {
    fn from(e: anyhow::Error) -> Self {
        match e.downcast::<StoreUnavailable>() {
            Ok(s) => Self::Database {
                url: s.url,
                reason: s.reason,
            },
            Err(e) => Self::Other(format!("{e:#}")),
        }
    }
}
