//! [`NameSource`]: where an extension's display name came from, so an admin can tell
//! why the board shows the name it shows.

use serde::{Deserialize, Serialize};

/// The source that supplied an extension's `name`, in the order they are consulted:
/// the first one that answers wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NameSource {
    /// The names file the admin provides (`NAMES_FILE`): an explicit override.
    NamesFile,
    /// An AstDB entry read with `DBGet` (`NAMES_ASTDB`, e.g. FreePBX's `AMPUSER/{exten}/cidname`).
    Astdb,
    /// The caller ID of the hint's PJSIP endpoint (`PJSIPShowEndpoint`).
    PbxEndpoint,
    /// The caller ID of the hint's chan_sip or IAX2 peer (`SIPshowpeer`, `iax2 show peer`).
    SipPeer,
}

impl NameSource {
    /// The word used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NamesFile => "names_file",
            Self::Astdb => "astdb",
            Self::PbxEndpoint => "pbx_endpoint",
            Self::SipPeer => "sip_peer",
        }
    }
}

/// A display name with the source that supplied it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName {
    /// The name as the source has it (trimmed, never empty).
    pub name: String,
    /// Who supplied it.
    pub source: NameSource,
}
