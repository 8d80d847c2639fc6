//! The state of one PBX's AMI connection as clients see it (health, metrics, the
//! `ami.connection` WebSocket message and the cluster feed).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where one PBX's AMI connection is, as health, metrics and the WebSocket show it.
///
/// Serialized as the words clients have always compared (`connected`,
/// `backingOff`, …), so the wire is unchanged while the code compares variants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum AmiConnectionState {
    /// No socket: before the first attempt, or after a graceful shutdown.
    Disconnected,
    /// Opening the socket and logging in.
    Connecting,
    /// Logging in on an open socket. The login is reported as `connecting`
    /// throughout; the variant exists so the `ami_state` metric keeps its label.
    Authenticating,
    /// Logged in and reading events.
    Connected,
    /// Lost or unreachable; the next attempt is scheduled (`nextAttempt`).
    BackingOff,
    /// The PBX refused the login; the next attempt is scheduled, more slowly.
    LoginRefused,
    /// Cluster mode: another instance holds this PBX, so there is no socket here.
    Standby,
}

impl AmiConnectionState {
    /// The states the `ami_state` metric has a label for (standby has none: the
    /// instance holding the PBX reports it).
    pub const METRIC_LABELS: [Self; 6] = [
        Self::Disconnected,
        Self::Connecting,
        Self::Authenticating,
        Self::Connected,
        Self::BackingOff,
        Self::LoginRefused,
    ];

    /// The wire word (the same as its JSON form).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Disconnected => "disconnected",
            Self::Connecting => "connecting",
            Self::Authenticating => "authenticating",
            Self::Connected => "connected",
            Self::BackingOff => "backingOff",
            Self::LoginRefused => "loginRefused",
            Self::Standby => "standby",
        }
    }

    /// True while a reconnect is scheduled (the status shows `nextAttempt`).
    pub fn awaits_retry(self) -> bool {
        matches!(self, Self::BackingOff | Self::LoginRefused)
    }
}

impl std::fmt::Display for AmiConnectionState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The state of one AMI connection, as health and the WebSocket show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionStatus {
    /// The PBX.
    pub pbx: String,
    /// Where the connection is in its life (see [`AmiConnectionState`]).
    pub state: AmiConnectionState,
    /// Since when it is in that state.
    #[serde(serialize_with = "crate::timefmt::utc")]
    pub since: DateTime<Utc>,
    /// When the last event arrived.
    #[serde(serialize_with = "crate::timefmt::utc_opt")]
    pub last_event: Option<DateTime<Utc>>,
    /// Reconnections since start.
    pub reconnects: u64,
    /// When the next attempt is due while backing off.
    #[serde(serialize_with = "crate::timefmt::utc_opt")]
    pub next_attempt: Option<DateTime<Utc>>,
    /// The last error, in words (never a secret).
    pub last_error: Option<String>,
    /// The banner of the PBX (`Asterisk Call Manager/x.y.z`).
    pub banner: Option<String>,
    /// Uptime reported by the PBX at the last login (`FullyBooted`), in seconds.
    pub pbx_uptime_secs: Option<u64>,
    /// True when the last login found a restarted PBX (not just a reconnect).
    pub pbx_restarted: bool,
}

#[cfg(test)]
mod tests {
    #[test]
    fn connection_states_keep_the_words_clients_compare() {
        use super::AmiConnectionState as S;
        let all = [
            (S::Disconnected, "disconnected"),
            (S::Connecting, "connecting"),
            (S::Authenticating, "authenticating"),
            (S::Connected, "connected"),
            (S::BackingOff, "backingOff"),
            (S::LoginRefused, "loginRefused"),
            (S::Standby, "standby"),
        ];
        for (state, word) in all {
            assert_eq!(serde_json::to_value(state).expect("json"), word);
            assert_eq!(state.as_str(), word);
            let back: S = serde_json::from_value(word.into()).expect("parse");
            assert_eq!(back, state);
        }
        assert!(!S::METRIC_LABELS.contains(&S::Standby));
        assert!(S::BackingOff.awaits_retry() && S::LoginRefused.awaits_retry());
        assert!(!S::Connected.awaits_retry());
    }
}
