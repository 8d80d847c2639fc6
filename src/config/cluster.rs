//! [`ClusterConfig`]: the settings of running several instances on one PostgreSQL.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `INSTANCE_ID` | `<hostname>-<pid>` | this instance's name in `heldBy` and `pg_stat_activity` |
//! | `CLUSTER` | `auto` | `auto` (on for PostgreSQL, off for SQLite), `on` or `off` |
//! | `CLUSTER_LEASE_MS` | `250` | how often free PBX leases are tried and held ones checked |
//! | `CLUSTER_FEED_POLL_MS` | `2` | how often the notification socket is polled |
//! | `CLUSTER_FLUSH_MS` | `5` | the store writer's batch interval in cluster mode (feed latency) |
//! | `CLUSTER_FEED_RETENTION_SECS` | `3600` | change-feed rows older than this are deleted |

use std::time::Duration;

use super::ConfigError;

/// How instances share the PBXs through PostgreSQL.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// Whether leases and the change feed are used (PostgreSQL only).
    pub enabled: bool,
    /// This instance's name.
    pub instance_id: String,
    /// Lease attempt and check period.
    pub lease_every: Duration,
    /// Notification poll period.
    pub feed_poll: Duration,
    /// Store writer batch interval while clustered.
    pub flush: Duration,
    /// Change-feed retention.
    pub feed_retention: Duration,
}

/// True when `DATABASE_URL` names PostgreSQL (`postgres://` or `postgresql://`, any case).
/// The one reading of the scheme: `CLUSTER=auto` and the store's own connection both use it.
pub fn names_postgres(database_url: &str) -> bool {
    let lower = database_url.to_ascii_lowercase();
    lower.starts_with("postgres://") || lower.starts_with("postgresql://")
}

fn default_instance_id() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "switchboard".to_string());
    format!("{host}-{}", std::process::id())
}

fn ms(
    get: &impl Fn(&str) -> Option<String>,
    key: &'static str,
    default: u64,
) -> Result<Duration, ConfigError> {
    super::parse_num(key, get(key), default).map(|n| Duration::from_millis(n.max(1)))
}

impl ClusterConfig {
    /// Reads the cluster variables; `database_url` decides `CLUSTER=auto`.
    pub fn from_lookup(
        get: impl Fn(&str) -> Option<String>,
        database_url: &str,
    ) -> Result<Self, ConfigError> {
        let postgres = names_postgres(database_url);
        let enabled = match get("CLUSTER")
            .map(|v| v.trim().to_ascii_lowercase())
            .as_deref()
        {
            None | Some("auto") => postgres,
            Some("on" | "true" | "1") => {
                if !postgres {
                    return Err(ConfigError::Invalid {
                        key: "CLUSTER",
                        message: "on needs a postgres:// DATABASE_URL (SQLite serves one instance)"
                            .to_string(),
                    });
                }
                true
            }
            Some("off" | "false" | "0") => false,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    key: "CLUSTER",
                    message: format!("expected auto, on or off, got {other:?}"),
                })
            }
        };
        let instance_id = get("INSTANCE_ID")
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(default_instance_id);
        if instance_id.len() > 40 || instance_id.chars().any(|c| c.is_control() || c == '\'') {
            return Err(ConfigError::Invalid {
                key: "INSTANCE_ID",
                message: "at most 40 printable characters, no quote".to_string(),
            });
        }
        Ok(Self {
            enabled,
            instance_id,
            lease_every: ms(&get, "CLUSTER_LEASE_MS", 250)?,
            feed_poll: ms(&get, "CLUSTER_FEED_POLL_MS", 2)?,
            flush: ms(&get, "CLUSTER_FLUSH_MS", 5)?,
            feed_retention: ms(&get, "CLUSTER_FEED_RETENTION_SECS", 3600)?.saturating_mul(1000),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_follows_the_backend() {
        let c = ClusterConfig::from_lookup(|_| None, "sqlite://x.db").expect("valid");
        assert!(!c.enabled);
        let c = ClusterConfig::from_lookup(|_| None, "postgres://h/db").expect("valid");
        assert!(c.enabled);
        assert_eq!(c.lease_every, Duration::from_millis(250));
        assert_eq!(c.feed_retention, Duration::from_secs(3600));
        let off = ClusterConfig::from_lookup(
            |k| (k == "CLUSTER").then(|| "off".into()),
            "postgres://h/db",
        )
        .expect("valid");
        assert!(!off.enabled);
        let bad =
            ClusterConfig::from_lookup(|k| (k == "CLUSTER").then(|| "on".into()), "sqlite://x");
        assert!(bad.is_err(), "SQLite cannot be shared by instances");
    }

    #[test]
    fn instance_id_is_named_or_derived() {
        let c = ClusterConfig::from_lookup(
            |k| (k == "INSTANCE_ID").then(|| "a1".into()),
            "postgres://h/d",
        )
        .expect("valid");
        assert_eq!(c.instance_id, "a1");
        let c = ClusterConfig::from_lookup(|_| None, "postgres://h/d").expect("valid");
        assert!(c.instance_id.ends_with(&format!("-{}", std::process::id())));
    }
}
