//! [`Config`]: every setting, from the environment, a `.env` file, or `--config FILE`.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `AMI_HOST` | `127.0.0.1` | the PBX's AMI host (single-PBX set-up) |
//! | `AMI_PORT` | `5038` | its AMI port |
//! | `AMI_USERNAME` | `admin` | AMI user |
//! | `AMI_SECRET` | (empty) | AMI secret — never logged or returned |
//! | `AMI_AUTH` | `md5` | `md5` (challenge, secret stays off the wire) or `plain` |
//! | `AMI_PBX_NAME` | `default` | the name this PBX carries in the API |
//! | `AMI_PBXS` | (unset) | several PBXs: a comma list of names; each name `N` then reads `AMI_N_HOST`, `AMI_N_PORT`, `AMI_N_USERNAME`, `AMI_N_SECRET`, `AMI_N_AUTH` (`N` upper-cased, other characters as `_`), falling back to the single-PBX variables |
//! | `AMI_CONNECT_TIMEOUT_MS` | `3000` | TCP connect limit |
//! | `AMI_LOGIN_TIMEOUT_MS` | `5000` | banner + login limit |
//! | `AMI_PING_INTERVAL_MS` | `5000` | keep-alive period |
//! | `AMI_PING_TIMEOUT_MS` | `3000` | a Ping unanswered this long means a dead peer |
//! | `AMI_BACKOFF_MIN_MS` / `AMI_BACKOFF_MAX_MS` | `100` / `1000` | reconnect schedule |
//! | `AMI_LOGIN_BACKOFF_MIN_MS` / `AMI_LOGIN_BACKOFF_MAX_MS` | `2000` / `60000` | schedule after a refused login |
//! | `DATABASE_URL` | `sqlite://switchboard.db` | SQLite path/URL or `postgres://…` |
//! | `HTTP_BIND` | `127.0.0.1:8080` | where the API, WebSocket and dashboard listen |
//! | `API_TOKEN` | (unset) | when set, refresh, admin and WebSocket need `Authorization: Bearer` |
//! | `CALL_TIMEOUT_SECS` | `14400` | a call with no event this long is closed as timed out |
//! | `REFRESH_MAX_SESSIONS` | `4` | concurrent refresh logins; refreshes of more PBXs wait their turn (64 × this many requests may wait per PBX) |
//! | `REFRESH_IDLE_SECS` / `REFRESH_REAP_SECS` | `300` / `120` | idle refresh sessions are closed after / checked every |
//! | `REFRESH_CONCURRENCY` | `64` | ExtensionState actions in flight per refresh |
//! | `REFRESH_QUERY_TIMEOUT_MS` | `10000` | limit on one refresh's reading; extensions unanswered by then are failed results |
//! | `RETENTION_DAYS` | `30` | extension transitions kept |
//! | `WS_HISTORY` | `10000` | changes kept for resuming clients |
//! | `WS_QUEUE` | `1024` | messages queued per client before conflation starts |
//! | `HTTP_BODY_LIMIT` | `65536` | largest request body, bytes |
//! | `WS_MAX_CLIENTS` | `10000` | open WebSocket clients at most; more get 503 `TOO_MANY_CLIENTS` |
//! | `RUST_LOG` / `LOG_LEVEL` | `info` | log filter |
//!
//! Several instances on one PostgreSQL (`INSTANCE_ID`, `CLUSTER`, `CLUSTER_*`):
//! see [`crate::cluster::settings`].

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use thiserror::Error;

use crate::actors::login::AuthMethod;
use crate::model::DEFAULT_PBX;
use crate::secret::Secret;

/// A setting that could not be used.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// A value of the wrong form.
    #[error("{key}: {message}")]
    Invalid {
        /// The variable.
        key: &'static str,
        /// What is wrong (never the value of a secret).
        message: String,
    },
    /// The config file could not be read.
    #[error("cannot read config file {path}: {source}")]
    File {
        /// The path.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

/// One PBX to monitor.
#[derive(Debug, Clone)]
pub struct PbxConfig {
    /// Its name in the API.
    pub name: String,
    /// AMI host.
    pub host: String,
    /// AMI port.
    pub port: u16,
    /// AMI user.
    pub username: String,
    /// AMI secret.
    pub secret: Secret,
    /// Login method.
    pub auth: AuthMethod,
}

/// Every setting of the service.
#[derive(Debug, Clone)]
pub struct Config {
    /// The PBXs (one for the `AMI_*` variables).
    pub pbxs: Vec<PbxConfig>,
    /// Database URL.
    pub database_url: String,
    /// HTTP listen address.
    pub http_bind: SocketAddr,
    /// API token, when required.
    pub api_token: Option<Secret>,
    /// TCP connect limit.
    pub connect_timeout: Duration,
    /// Banner + login limit.
    pub login_timeout: Duration,
    /// Keep-alive period.
    pub ping_interval: Duration,
    /// Dead-peer limit.
    pub ping_timeout: Duration,
    /// Reconnect schedule.
    pub backoff: (Duration, Duration),
    /// Schedule after a refused login.
    pub login_backoff: (Duration, Duration),
    /// Silent-call timeout.
    pub call_timeout: Duration,
    /// Concurrent refresh logins.
    pub refresh_max_sessions: usize,
    /// Idle refresh session lifetime.
    pub refresh_idle: Duration,
    /// How often idle refresh sessions are looked for.
    pub refresh_reap_every: Duration,
    /// Actions in flight per refresh.
    pub refresh_concurrency: usize,
    /// Limit on one refresh's reading phase.
    pub refresh_query_timeout: Duration,
    /// Transition retention.
    pub retention: Duration,
    /// Changes kept for resume.
    pub ws_history: usize,
    /// Per-client queue before conflation.
    pub ws_queue: usize,
    /// Largest request body.
    pub http_body_limit: usize,
    /// Open WebSocket clients at most (a flood of upgrades cannot grow memory).
    pub ws_max_clients: usize,
    /// Several instances on one PostgreSQL.
    pub cluster: crate::cluster::ClusterConfig,
}

impl Config {
    /// Reads `--config FILE` (if any), then `.env`, then the environment (which wins).
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut vars: HashMap<String, String> = HashMap::new();
        if let Some(path) = file {
            let iter = dotenvy::from_path_iter(path).map_err(|e| ConfigError::File {
                path: path.display().to_string(),
                source: std::io::Error::other(e.to_string()),
            })?;
            for (k, v) in iter.flatten() {
                vars.insert(k, v);
            }
        }
        if let Ok(iter) = dotenvy::from_path_iter(".env") {
            for (k, v) in iter.flatten() {
                vars.insert(k, v);
            }
        }
        vars.extend(std::env::vars());
        Self::from_lookup(|k| vars.get(k).cloned())
    }

    /// Builds the configuration from any lookup (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        let ms = |key: &'static str, default: u64| -> Result<Duration, ConfigError> {
            parse_num(key, get(key), default).map(Duration::from_millis)
        };
        let secs = |key: &'static str, default: u64| -> Result<Duration, ConfigError> {
            parse_num(key, get(key), default).map(Duration::from_secs)
        };
        let pbxs = match get("AMI_PBXS") {
            None => vec![pbx_config(
                &get,
                get("AMI_PBX_NAME").unwrap_or_else(|| DEFAULT_PBX.to_string()),
                None,
            )?],
            Some(list) => {
                let mut pbxs: Vec<PbxConfig> = Vec::new();
                for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                    if pbxs.iter().any(|p| p.name == name) {
                        return Err(ConfigError::Invalid {
                            key: "AMI_PBXS",
                            message: format!("PBX {name:?} is listed twice"),
                        });
                    }
                    let prefix = format!("AMI_{}_", env_name(name));
                    pbxs.push(pbx_config(&get, name.to_string(), Some(&prefix))?);
                }
                if pbxs.is_empty() {
                    return Err(ConfigError::Invalid {
                        key: "AMI_PBXS",
                        message: "names no PBX".to_string(),
                    });
                }
                pbxs
            }
        };
        let bind = get("HTTP_BIND").unwrap_or_else(|| "127.0.0.1:8080".to_string());
        let http_bind = bind.parse().map_err(|e| ConfigError::Invalid {
            key: "HTTP_BIND",
            message: format!("{bind:?} is not an address: {e}"),
        })?;
        let database_url =
            get("DATABASE_URL").unwrap_or_else(|| "sqlite://switchboard.db".to_string());
        let cluster = crate::cluster::ClusterConfig::from_lookup(get, &database_url)?;
        Ok(Self {
            pbxs,
            cluster,
            database_url,
            http_bind,
            api_token: get("API_TOKEN").map(Secret::new),
            connect_timeout: ms("AMI_CONNECT_TIMEOUT_MS", 3000)?,
            login_timeout: ms("AMI_LOGIN_TIMEOUT_MS", 5000)?,
            ping_interval: ms("AMI_PING_INTERVAL_MS", 5000)?,
            ping_timeout: ms("AMI_PING_TIMEOUT_MS", 3000)?,
            backoff: (
                ms("AMI_BACKOFF_MIN_MS", 100)?,
                ms("AMI_BACKOFF_MAX_MS", 1000)?,
            ),
            login_backoff: (
                ms("AMI_LOGIN_BACKOFF_MIN_MS", 2000)?,
                ms("AMI_LOGIN_BACKOFF_MAX_MS", 60_000)?,
            ),
            call_timeout: secs("CALL_TIMEOUT_SECS", 4 * 3600)?,
            refresh_max_sessions: parse_num("REFRESH_MAX_SESSIONS", get("REFRESH_MAX_SESSIONS"), 4)?
                .max(1) as usize,
            refresh_idle: secs("REFRESH_IDLE_SECS", 300)?,
            refresh_reap_every: secs("REFRESH_REAP_SECS", 120)?,
            refresh_concurrency: parse_num("REFRESH_CONCURRENCY", get("REFRESH_CONCURRENCY"), 64)?
                .max(1) as usize,
            refresh_query_timeout: ms("REFRESH_QUERY_TIMEOUT_MS", 10_000)?,
            retention: secs("RETENTION_DAYS", 30)?.saturating_mul(86_400),
            ws_history: parse_num("WS_HISTORY", get("WS_HISTORY"), 10_000)?.max(1) as usize,
            ws_queue: parse_num("WS_QUEUE", get("WS_QUEUE"), 1024)?.max(1) as usize,
            http_body_limit: parse_num("HTTP_BODY_LIMIT", get("HTTP_BODY_LIMIT"), 65_536)? as usize,
            ws_max_clients: parse_num("WS_MAX_CLIENTS", get("WS_MAX_CLIENTS"), 10_000)? as usize,
        })
    }
}

/// `branch-1` → `BRANCH_1`: the part of a per-PBX variable name.
fn env_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// One PBX's settings from `AMI_<prefix>…` variables, falling back to the plain `AMI_…` ones.
fn pbx_config(
    get: &impl Fn(&str) -> Option<String>,
    name: String,
    prefix: Option<&str>,
) -> Result<PbxConfig, ConfigError> {
    let var = |suffix: &str| {
        prefix
            .and_then(|p| get(&format!("{p}{suffix}")))
            .or_else(|| get(&format!("AMI_{suffix}")))
    };
    let auth = match var("AUTH")
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("md5") => AuthMethod::Md5,
        Some("plain") => AuthMethod::Plain,
        Some(other) => {
            return Err(ConfigError::Invalid {
                key: "AMI_AUTH",
                message: format!("PBX {name}: expected md5 or plain, got {other:?}"),
            })
        }
    };
    let port = parse_num("AMI_PORT", var("PORT"), 5038)?;
    let port = u16::try_from(port)
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| ConfigError::Invalid {
            key: "AMI_PORT",
            message: format!("PBX {name}: {port} is not a TCP port"),
        })?;
    Ok(PbxConfig {
        host: var("HOST").unwrap_or_else(|| "127.0.0.1".to_string()),
        port,
        username: var("USERNAME").unwrap_or_else(|| "admin".to_string()),
        secret: Secret::new(var("SECRET").unwrap_or_default()),
        auth,
        name,
    })
}

/// A whole-number setting: `default` when unset, a clear error naming `key` otherwise.
pub(crate) fn parse_num(
    key: &'static str,
    value: Option<String>,
    default: u64,
) -> Result<u64, ConfigError> {
    match value {
        None => Ok(default),
        Some(v) => v.trim().parse::<u64>().map_err(|_| ConfigError::Invalid {
            key,
            message: format!("expected a whole number, got {v:?}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        let c = Config::from_lookup(|_| None).expect("defaults are valid");
        assert_eq!(c.pbxs[0].port, 5038);
        assert_eq!(c.http_bind.to_string(), "127.0.0.1:8080");
        assert_eq!(c.refresh_max_sessions, 4);
        let c = Config::from_lookup(|k| match k {
            "AMI_PORT" => Some("6000".into()),
            "AMI_SECRET" => Some("s3cret".into()),
            _ => None,
        })
        .expect("valid");
        assert_eq!(c.pbxs[0].port, 6000);
        assert!(
            !format!("{c:?}").contains("s3cret"),
            "secrets never appear in Debug"
        );
    }

    #[test]
    fn several_pbxs() {
        let c = Config::from_lookup(|k| match k {
            "AMI_PBXS" => Some("north, south-2".into()),
            "AMI_NORTH_PORT" => Some("5001".into()),
            "AMI_SOUTH_2_HOST" => Some("10.0.0.2".into()),
            "AMI_SECRET" => Some("shared".into()),
            _ => None,
        })
        .expect("valid");
        assert_eq!(c.pbxs.len(), 2);
        assert_eq!((c.pbxs[0].name.as_str(), c.pbxs[0].port), ("north", 5001));
        assert_eq!(
            (c.pbxs[1].name.as_str(), c.pbxs[1].host.as_str()),
            ("south-2", "10.0.0.2")
        );
        assert_eq!(c.pbxs[1].secret.expose(), "shared");
        let dup = Config::from_lookup(|k| (k == "AMI_PBXS").then(|| "a,a".to_string()));
        assert!(dup.is_err());
    }

    #[test]
    fn bad_values_are_named() {
        let err = Config::from_lookup(|k| (k == "AMI_PORT").then(|| "99999".to_string()))
            .expect_err("port out of range");
        assert!(err.to_string().contains("AMI_PORT"));
        let err = Config::from_lookup(|k| (k == "AMI_AUTH").then(|| "kerberos".to_string()))
            .expect_err("unknown auth");
        assert!(err.to_string().contains("AMI_AUTH"));
    }
}
