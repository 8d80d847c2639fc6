//! `NAMES_FILE` and `NAMES_ASTDB`: the display-name sources an admin adds to what the
//! PBX's endpoints say (see `state::names` for the order and the file's format).

use std::sync::Arc;

use super::ConfigError;
use crate::state::names::{AstdbTemplate, NameSettings, NamesFile};

/// Reads the names settings; the names file is read and checked here, at start-up,
/// so a typo in it stops the service with its line number instead of silently
/// showing no names.
pub fn names_config(get: &impl Fn(&str) -> Option<String>) -> Result<NameSettings, ConfigError> {
    let astdb =
        match get("NAMES_ASTDB") {
            None => None,
            Some(t) => Some(AstdbTemplate::parse(&t).ok_or_else(|| {
                ConfigError::Invalid {
                    key: "NAMES_ASTDB",
                    message: "expected FAMILY/KEY with {exten} in it, e.g. AMPUSER/{exten}/cidname"
                        .to_string(),
                }
            })?),
        };
    let file = match get("NAMES_FILE") {
        None => None,
        Some(path) => {
            let text = std::fs::read_to_string(path.trim()).map_err(|e| ConfigError::Invalid {
                key: "NAMES_FILE",
                message: format!("cannot read {path:?}: {e}"),
            })?;
            let file = NamesFile::parse(&text).map_err(|e| ConfigError::Invalid {
                key: "NAMES_FILE",
                message: format!("{path}: {e}"),
            })?;
            Some(Arc::new(file))
        }
    };
    Ok(NameSettings { file, astdb })
}
