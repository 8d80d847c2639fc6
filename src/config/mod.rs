//! [`Config`]: every setting, from the environment, a `.env` file, or `--config FILE`.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `DATABASE_URL` | `sqlite://switchboard.db` | SQLite path/URL or `postgres://…` |
//! | `HTTP_BIND` | `127.0.0.1:8080` | where the API, WebSocket and dashboard listen: `IP:PORT`, `[IPv6]:PORT` or `HOST:PORT` (a host name listens on the first address it resolves to); port 0 takes a free port, logged as it is |
//! | `API_TOKEN` | (unset) | when set, every route with PBX data or an action (`/api/*`, `/metrics`, `/ws`) needs `Authorization: Bearer` (`/ws` also `?token=`); `/api/health` then shows only its status without it |
//! | `CALL_TIMEOUT_SECS` | `14400` | a call with no event this long is closed as timed out |
//! | `REFRESH_MAX_SESSIONS` | `4` | concurrent refresh logins; refreshes of more PBXs wait their turn (64 × this many requests may wait per PBX) |
//! | `REFRESH_IDLE_SECS` / `REFRESH_REAP_SECS` | `300` / `120` | idle refresh sessions are closed after / checked every |
//! | `REFRESH_CONCURRENCY` | `64` | ExtensionState actions in flight per refresh |
//! | `REFRESH_QUERY_TIMEOUT_MS` | `10000` | limit on one refresh's reading; extensions unanswered by then are failed results (the names are read after the states within the same limit again; a name unanswered by then stays as it was) |
//! | `RETENTION_DAYS` | `30` | extension transitions kept |
//! | `WS_HISTORY` | `10000` | changes kept for resuming clients |
//! | `WS_QUEUE` | `1024` | messages queued per client before conflation starts |
//! | `HTTP_BODY_LIMIT` | `65536` | largest request body, bytes |
//! | `WS_MAX_CLIENTS` | `10000` | open WebSocket clients at most; more get 503 `TOO_MANY_CLIENTS` |
//! | `METRICS_TOKEN` | (unset) | a token for Prometheus scrapers: `/metrics` then takes it (or `API_TOKEN`) as `Authorization: Bearer`; alone it guards only `/metrics` |
//! | `ALLOWED_ORIGINS` | (unset) | comma list of web origins (`https://wallboard.example:8443`) whose pages may POST and open `/ws`; other origins get 403 `CROSS_ORIGIN`; `*` is refused |
//! | `HTTP_BODY_TIMEOUT` | `10` | seconds a request body may take to arrive; later: 408 `BODY_TIMEOUT` |
//! | `RUST_LOG` / `LOG_LEVEL` | `info` | log filter |
//! | `WS_QUEUE_BYTES` | `33554432` (32 MiB) | bytes of frames queued per client (queue and backlog, the one snapshot on its way aside) before the backlog is conflated, then a 1008 close. As large as the backlog a prompt reader already held during a burst (64 × `WS_QUEUE` changes of about 400 bytes: a quarter second at 250,000 changes/s), so a quick client is not conflated; change frames are shared by every client, so what a client holds alone is its snapshot and its notices |
//! | `WS_CONTROL_RATE` | `20` | messages a second a WebSocket client may send on average (bursts of twice that); more gets `TOO_MANY_MESSAGES` and a 1008 close |
//! | `MAX_EXTENSIONS_PER_PBX` | `20000` | extensions tracked per PBX at most; events of further ones are refused and counted |
//! | `NAMES_FILE` | (unset) | a file of display names the admin provides, one `EXTENSION = Name` (or `PBX/EXTENSION = Name`) per line, `#` comments; it wins over every other source |
//! | `NAMES_ASTDB` | (unset) | an AstDB entry holding each extension's name, `FAMILY/KEY` with `{exten}`, e.g. `AMPUSER/{exten}/cidname` (FreePBX); read with `DBGet` before the endpoint's caller ID |
//! | `QUEUE_SLA_SECS` | `20` | a queue caller answered within this many seconds counts toward the service level |
//! | `ROUTER_MAX_QUEUED_BATCHES` | `64` | socket reads of one PBX in its pipeline (router, call trackers, hub) at most; past it the connection stops reading |
//!
//! The PBXs' AMI settings (`AMI_*`, `AMI_<NAME>_*`) and the codec's limits: see [`pbx`].
//!
//! The store's readers (`STORE_READ_*`): see [`store`].
//!
//! Several instances on one PostgreSQL (`INSTANCE_ID`, `CLUSTER`, `CLUSTER_*`):
//! see [`cluster`].

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use thiserror::Error;

pub mod cluster;
pub mod names;
pub mod origin;
pub mod pbx;
pub mod store;

pub use cluster::ClusterConfig;
pub use origin::Origin;
use pbx::{ami_limits, env_name, pbx_config};
pub use pbx::{AmiThreads, PbxConfig};
pub use store::{StoreSettings, DEFAULT_HISTORY_COUNT_LIMIT};

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
    pub cluster: ClusterConfig,
    /// The readers' share of the database.
    pub store: StoreSettings,
    /// The scrapers' token for `/metrics`.
    pub metrics_token: Option<Secret>,
    /// Origins of other sites whose pages may POST and open `/ws`.
    pub allowed_origins: Vec<Origin>,
    /// How long a request body may take to arrive.
    pub http_body_timeout: Duration,
    /// Bytes queued per WebSocket client before conflation and a close.
    pub ws_queue_bytes: usize,
    /// Messages a second a WebSocket client may send.
    pub ws_control_rate: u32,
    /// What one AMI message may be (live connections and refresh sessions alike).
    pub ami_limits: crate::ami::Limits,
    /// The events asked of each PBX after login.
    pub ami_event_filter: crate::ami::EventFilter,
    /// Where the connections read: the pipeline's thread or their own.
    pub ami_threads: AmiThreads,
    /// Extension actors per PBX at most (a PBX inventing numbers cannot grow memory).
    pub max_extensions_per_pbx: usize,
    /// Socket reads per PBX queued for its router at most (backpressure, not loss).
    pub router_max_queued_batches: usize,
    /// Where extensions' display names come from besides the PBX's endpoints.
    pub names: crate::state::names::NameSettings,
    /// Queue callers answered within this many seconds meet the service level.
    pub queue_sla_secs: u64,
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
        let http_bind = resolve_bind(&bind)?;
        let database_url =
            get("DATABASE_URL").unwrap_or_else(|| "sqlite://switchboard.db".to_string());
        let cluster = ClusterConfig::from_lookup(get, &database_url)?;
        let ami_limits = ami_limits(&get)?;
        let ami_threads =
            get("AMI_THREADS").map_or(Ok(AmiThreads::Auto), |v| AmiThreads::parse(&v))?;
        let ami_event_filter = match get("AMI_EVENT_FILTER") {
            None => crate::ami::EventFilter::default(),
            Some(v) => crate::ami::EventFilter::parse(&v).map_err(|e| ConfigError::Invalid {
                key: "AMI_EVENT_FILTER",
                message: e.to_string(),
            })?,
        };
        Ok(Self {
            names: names::names_config(&get)?,
            ami_limits,
            queue_sla_secs: parse_num("QUEUE_SLA_SECS", get("QUEUE_SLA_SECS"), 20)?,
            ami_event_filter,
            ami_threads,
            max_extensions_per_pbx: parse_num(
                "MAX_EXTENSIONS_PER_PBX",
                get("MAX_EXTENSIONS_PER_PBX"),
                20_000,
            )?
            .max(1) as usize,
            router_max_queued_batches: parse_num(
                "ROUTER_MAX_QUEUED_BATCHES",
                get("ROUTER_MAX_QUEUED_BATCHES"),
                64,
            )?
            .max(1) as usize,
            pbxs,
            cluster,
            store: StoreSettings::from_lookup(get)?,
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
            metrics_token: get("METRICS_TOKEN").map(Secret::new),
            allowed_origins: allowed_origins(get("ALLOWED_ORIGINS"))?,
            http_body_timeout: secs("HTTP_BODY_TIMEOUT", 10)?.max(Duration::from_secs(1)),
            ws_queue_bytes: parse_num("WS_QUEUE_BYTES", get("WS_QUEUE_BYTES"), 32 << 20)?.max(1024)
                as usize,
            ws_control_rate: u32::try_from(
                parse_num("WS_CONTROL_RATE", get("WS_CONTROL_RATE"), 20)?.max(1),
            )
            .map_err(|_| ConfigError::Invalid {
                key: "WS_CONTROL_RATE",
                message: "at most 4294967295 messages a second".to_string(),
            })?,
        })
    }
}

/// `ALLOWED_ORIGINS`: each entry a `scheme://host[:port]` origin. `*` is refused:
/// it would let any web page the user opens drive the API with their access.
fn allowed_origins(list: Option<String>) -> Result<Vec<Origin>, ConfigError> {
    let Some(list) = list else {
        return Ok(Vec::new());
    };
    list.split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .map(|o| {
            if o == "*" {
                return Err(ConfigError::Invalid {
                    key: "ALLOWED_ORIGINS",
                    message: "`*` would let every web site's pages use the API; list origins"
                        .to_string(),
                });
            }
            Origin::parse(o).ok_or_else(|| ConfigError::Invalid {
                key: "ALLOWED_ORIGINS",
                message: format!("{o:?} is not an origin like https://host:port"),
            })
        })
        .collect()
}

/// A whole-number setting: `default` when unset, a clear error naming `key` otherwise.
/// `HTTP_BIND` as the address to listen on: `IP:PORT` (`[::1]:8080` for IPv6) or
/// `HOST:PORT`, resolved here once; a host name that resolves to several
/// addresses listens on the FIRST of them only (the resolver's order, on most
/// systems `/etc/hosts`'), so `localhost` is one socket, not one per family.
pub fn resolve_bind(bind: &str) -> Result<SocketAddr, ConfigError> {
    use std::net::ToSocketAddrs as _;
    let invalid = |why: String| ConfigError::Invalid {
        key: "HTTP_BIND",
        message: format!("{bind:?} {why}; expected IP:PORT, [IPv6]:PORT or HOST:PORT"),
    };
    if let Ok(addr) = bind.trim().parse::<SocketAddr>() {
        return Ok(addr);
    }
    let mut addrs = bind
        .trim()
        .to_socket_addrs()
        .map_err(|e| invalid(format!("is not an address: {e}")))?;
    addrs
        .next()
        .ok_or_else(|| invalid("resolves to no address".to_string()))
}

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
    fn http_bind_takes_ipv4_ipv6_and_host_names() {
        assert_eq!(
            resolve_bind("[::1]:8080").expect("IPv6").to_string(),
            "[::1]:8080"
        );
        assert_eq!(
            resolve_bind("127.0.0.1:0").expect("IPv4").to_string(),
            "127.0.0.1:0"
        );
        let local = resolve_bind("localhost:8080").expect("a host name");
        assert!(local.ip().is_loopback(), "{local}");
        assert_eq!(local.port(), 8080);
        let err = resolve_bind("localhost").expect_err("no port");
        assert!(
            err.to_string().starts_with("HTTP_BIND: \"localhost\""),
            "{err}"
        );
    }

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
    fn websocket_bounds() {
        let c = Config::from_lookup(|_| None).expect("defaults");
        assert_eq!((c.ws_queue_bytes, c.ws_control_rate), (32 << 20, 20));
        let c = Config::from_lookup(|k| match k {
            "WS_QUEUE_BYTES" => Some("262144".into()),
            "WS_CONTROL_RATE" => Some("5".into()),
            _ => None,
        })
        .expect("valid");
        assert_eq!((c.ws_queue_bytes, c.ws_control_rate), (262_144, 5));
        let err = Config::from_lookup(|k| (k == "WS_CONTROL_RATE").then(|| "99999999999".into()))
            .expect_err("over u32");
        assert!(err.to_string().contains("WS_CONTROL_RATE"));
        let err = Config::from_lookup(|k| (k == "WS_QUEUE_BYTES").then(|| "8 MiB".into()))
            .expect_err("not a number");
        assert!(err.to_string().contains("WS_QUEUE_BYTES"));
    }

    #[test]
    fn ami_limits_default_to_a_line_as_long_as_the_message() {
        let c = Config::from_lookup(|_| None).expect("defaults are valid");
        assert_eq!(c.ami_limits, crate::ami::Limits::default());
        assert_eq!(c.ami_limits.max_line, c.ami_limits.max_message);
        assert!(c.ami_limits.max_line > 70 * 1024, "a 70 KiB value fits");
        let c = Config::from_lookup(|k| (k == "AMI_MAX_MESSAGE_BYTES").then(|| "200000".into()))
            .expect("valid");
        assert_eq!(
            (c.ami_limits.max_message, c.ami_limits.max_line),
            (200_000, 200_000)
        );
        let err = Config::from_lookup(|k| match k {
            "AMI_MAX_MESSAGE_BYTES" => Some("100000".into()),
            "AMI_MAX_LINE_BYTES" => Some("200000".into()),
            _ => None,
        })
        .expect_err("a line longer than the message");
        assert!(err.to_string().contains("AMI_MAX_LINE_BYTES"), "{err}");
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

    #[test]
    fn edge_settings() {
        let c = Config::from_lookup(|_| None).expect("defaults are valid");
        assert_eq!(c.http_body_timeout, Duration::from_secs(10));
        assert!(c.allowed_origins.is_empty() && c.metrics_token.is_none());
        let c = Config::from_lookup(|k| match k {
            "ALLOWED_ORIGINS" => Some("https://wall.example, http://10.0.0.9:8080/".into()),
            "HTTP_BODY_TIMEOUT" => Some("3".into()),
            "METRICS_TOKEN" => Some("scrape-me".into()),
            _ => None,
        })
        .expect("valid");
        let origins: Vec<String> = c.allowed_origins.iter().map(|o| o.text()).collect();
        assert_eq!(
            origins,
            ["https://wall.example:443", "http://10.0.0.9:8080"]
        );
        assert_eq!(c.http_body_timeout, Duration::from_secs(3));
        assert!(!format!("{c:?}").contains("scrape-me"));
        for bad in ["*", "http://a, *", "wall.example", "null"] {
            let err = Config::from_lookup(|k| (k == "ALLOWED_ORIGINS").then(|| bad.to_string()))
                .expect_err(bad);
            assert!(err.to_string().contains("ALLOWED_ORIGINS"), "{err}");
        }
    }
}
