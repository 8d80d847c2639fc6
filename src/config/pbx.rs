//! [`PbxConfig`]: one PBX's settings (`AMI_…` and `AMI_<NAME>_…`), and the AMI codec's limits.

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
