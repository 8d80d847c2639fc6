//! [`PbxConfig`]: one PBX's settings (`AMI_…` and `AMI_<NAME>_…`), and the AMI codec's limits.
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
//! | `AMI_MAX_MESSAGE_BYTES` | `1048576` | largest AMI message accepted; a bigger one is skipped and counted as malformed |
//! | `AMI_MAX_LINE_BYTES` | `AMI_MAX_MESSAGE_BYTES` | longest AMI line (one header with its value); at most the message limit |
//! | `AMI_MAX_HEADERS` | `4096` | most header lines in one AMI message |
//! | `AMI_THREADS` | `auto` | where each PBX's connection reads and decodes: `per-pbx` (a thread of its own, decoding in parallel on a large machine), `shared` (the pipeline's thread, beside the routers and the hub: one hand-off between threads fewer per event), `auto` (`shared` when the process may use two cores or fewer) |
//! | `AMI_EVENT_FILTER` | `auto` | which events the PBX is asked for after login: `auto` (exactly the events the service reads), `off` (everything), or a comma list of event names; a PBX that refuses the filter is used without one |

use super::{parse_num, ConfigError};
use crate::ami::AuthMethod;
use crate::secret::Secret;

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

/// The AMI codec's limits; the line limit defaults to (and may not exceed) the
/// message limit, because a real PBX's one long value is a long line.
pub(super) fn ami_limits(
    get: &impl Fn(&str) -> Option<String>,
) -> Result<crate::ami::Limits, ConfigError> {
    use crate::ami::Limits;
    let max_message = parse_num(
        "AMI_MAX_MESSAGE_BYTES",
        get("AMI_MAX_MESSAGE_BYTES"),
        Limits::DEFAULT_MAX_MESSAGE as u64,
    )?;
    if max_message < 1024 {
        return Err(ConfigError::Invalid {
            key: "AMI_MAX_MESSAGE_BYTES",
            message: format!("{max_message} is below 1024, too small for any real message"),
        });
    }
    let max_line = parse_num("AMI_MAX_LINE_BYTES", get("AMI_MAX_LINE_BYTES"), max_message)?;
    if max_line == 0 || max_line > max_message {
        return Err(ConfigError::Invalid {
            key: "AMI_MAX_LINE_BYTES",
            message: format!(
                "{max_line} must be between 1 and AMI_MAX_MESSAGE_BYTES ({max_message})"
            ),
        });
    }
    let max_headers = parse_num(
        "AMI_MAX_HEADERS",
        get("AMI_MAX_HEADERS"),
        Limits::DEFAULT_MAX_HEADERS as u64,
    )?
    .max(1);
    let size = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
    Ok(Limits {
        max_line: size(max_line),
        max_headers: size(max_headers),
        max_message: size(max_message),
    })
}

/// `branch-1` → `BRANCH_1`: the part of a per-PBX variable name.
pub(super) fn env_name(name: &str) -> String {
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
pub(super) fn pbx_config(
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

/// Where each PBX's AMI connection reads and decodes (`AMI_THREADS`).
///
/// A connection hands every read to its router on the pipeline's thread. On a
/// machine with few cores that hand-off often waits for a core behind another of
/// the service's threads, which is where much of the event-to-subscriber tail
/// went on two cores (docs/PERFORMANCE.md, "Latency"); a thread per connection
/// only pays off where there are cores to decode several PBXs at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AmiThreads {
    /// [`AmiThreads::Shared`] when the process may use two cores or fewer, else
    /// [`AmiThreads::PerPbx`].
    #[default]
    Auto,
    /// Every connection on the pipeline's thread.
    Shared,
    /// Each connection on a thread of its own.
    PerPbx,
}

impl AmiThreads {
    /// Reads `auto`, `shared` or `per-pbx` (any case).
    pub fn parse(value: &str) -> Result<Self, ConfigError> {
        match value.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "shared" => Ok(Self::Shared),
            "per-pbx" => Ok(Self::PerPbx),
            other => Err(ConfigError::Invalid {
                key: "AMI_THREADS",
                message: format!("expected auto, shared or per-pbx, got {other:?}"),
            }),
        }
    }

    /// Whether the connections run on the pipeline's thread, for a process that
    /// may use `cores` cores.
    pub fn shares_pipeline_thread(self, cores: usize) -> bool {
        match self {
            Self::Auto => cores <= 2,
            Self::Shared => true,
            Self::PerPbx => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ami_threads_reads_its_three_values_and_refuses_others() {
        assert_eq!(AmiThreads::parse("auto").ok(), Some(AmiThreads::Auto));
        assert_eq!(AmiThreads::parse(" Shared ").ok(), Some(AmiThreads::Shared));
        assert_eq!(AmiThreads::parse("PER-PBX").ok(), Some(AmiThreads::PerPbx));
        let err = AmiThreads::parse("two").expect_err("not a value");
        assert!(err.to_string().contains("AMI_THREADS"), "{err}");
        assert!(err.to_string().contains("per-pbx"), "{err}");
    }

    #[test]
    fn auto_shares_the_pipeline_thread_only_on_two_cores_or_fewer() {
        for (cores, shared) in [(1, true), (2, true), (3, false), (16, false)] {
            assert_eq!(
                AmiThreads::Auto.shares_pipeline_thread(cores),
                shared,
                "{cores}"
            );
            assert!(AmiThreads::Shared.shares_pipeline_thread(cores));
            assert!(!AmiThreads::PerPbx.shares_pipeline_thread(cores));
        }
    }
}
