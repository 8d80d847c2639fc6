//! The domain model shared by the actors, the store, the HTTP API and the WebSocket.
//!
//! These are the shapes clients see (serialised camelCase, like the service
//! switchboard replaces), so they live in one place and every layer speaks them.

pub mod refresh;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The name given to the PBX configured through the single-PBX `AMI_*` variables.
pub const DEFAULT_PBX: &str = "default";

/// An extension's hint state as Asterisk reports it in `ExtensionStatus` (`Status:`),
/// a bit set: 1 in use, 2 busy, 4 unavailable, 8 ringing, 16 on hold; 0 idle; -1
/// hint removed; -2 extension removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct HintStatus(pub i32);

impl HintStatus {
    /// Idle (`NOT_INUSE`).
    pub const IDLE: Self = Self(0);
    /// In use.
    pub const IN_USE: Self = Self(1);
    /// Busy.
    pub const BUSY: Self = Self(2);
    /// Unavailable (no registered device).
    pub const UNAVAILABLE: Self = Self(4);
    /// Ringing.
    pub const RINGING: Self = Self(8);
    /// On hold.
    pub const ON_HOLD: Self = Self(16);

    /// The word a supervisor reads: idle, ringing, in use, busy, on hold, unavailable,
    /// or a combination such as "in use, ringing".
    pub fn label(self) -> &'static str {
        match self.0 {
            -2 => "removed",
            -1 => "deactivated",
            0 => "idle",
            1 => "in use",
            2 => "busy",
            4 => "unavailable",
            8 => "ringing",
            9 => "in use, ringing",
            16 => "on hold",
            17 => "in use, on hold",
            _ if self.0 & 4 != 0 => "unavailable",
            _ if self.0 & 2 != 0 => "busy",
            _ if self.0 & 8 != 0 => "ringing",
            _ if self.0 & 16 != 0 => "on hold",
            _ if self.0 & 1 != 0 => "in use",
            _ => "unknown",
        }
    }

    /// The broad state used for colours and filters: one of
    /// `idle`, `ringing`, `inUse`, `busy`, `onHold`, `unavailable`, `unknown`.
    pub fn kind(self) -> &'static str {
        match self.0 {
            0 => "idle",
            s if s < 0 => "unavailable",
            s if s & 4 != 0 => "unavailable",
            s if s & 8 != 0 => "ringing",
            s if s & 16 != 0 => "onHold",
            s if s & 2 != 0 => "busy",
            s if s & 1 != 0 => "inUse",
            _ => "unknown",
        }
    }

    /// Maps a device state name (`DeviceStateChange` `State:`) to the hint status it implies.
    pub fn from_device_state(state: &str) -> Option<Self> {
        Some(Self(match state {
            "NOT_INUSE" => 0,
            "INUSE" => 1,
            "BUSY" => 2,
            "UNAVAILABLE" | "INVALID" => 4,
            "RINGING" => 8,
            "RINGINUSE" => 9,
            "ONHOLD" => 16,
            _ => return None,
        }))
    }
}

/// One extension's live state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Extension {
    /// The PBX it belongs to.
    pub pbx: String,
    /// The extension number, e.g. `1001`.
    pub extension: String,
    /// Dialplan context of its hint.
    pub context: String,
    /// The hint (e.g. `PJSIP/1001`), when known.
    pub hint: Option<String>,
    /// Display name, when the PBX told us one.
    pub name: Option<String>,
    /// Asterisk's numeric hint status.
    pub status: HintStatus,
    /// Asterisk's `StatusText` (e.g. `InUse`), or derived from `status`.
    pub status_text: String,
    /// The broad state for colours and filters (see [`HintStatus::kind`]).
    pub state: String,
    /// The device state name (e.g. `NOT_INUSE`) from `DeviceStateChange`, when seen.
    pub device_state: Option<String>,
    /// When the state last really changed.
    #[serde(serialize_with = "crate::timefmt::utc")]
    pub last_change: DateTime<Utc>,
    /// When the PBX last confirmed this state (a resync or refresh read it).
    #[serde(serialize_with = "crate::timefmt::utc_opt")]
    pub last_confirmed: Option<DateTime<Utc>>,
}

/// Direction of a call relative to the PBX's own extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Direction {
    /// Between two local extensions.
    Internal,
    /// From outside to an extension.
    Inbound,
    /// From an extension to outside.
    Outbound,
    /// Not yet known (e.g. an Originate before its first leg).
    Unknown,
}

/// Where a call is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CallState {
    /// Channels exist, nobody is ringing yet (dialplan, IVR, queue).
    Dialing,
    /// A callee is being rung.
    Ringing,
    /// Answered, not (yet) bridged.
    Answered,
    /// Parties are bridged and talking.
    Bridged,
    /// A party is on hold.
    OnHold,
    /// Finished.
    Ended,
}

/// A party of a call.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Party {
    /// Caller ID number or extension.
    pub number: Option<String>,
    /// Caller ID name.
    pub name: Option<String>,
}

/// One channel (leg) of a call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Leg {
    /// Channel Uniqueid.
    pub uniqueid: String,
    /// Channel name, e.g. `PJSIP/1001-00000007`.
    pub channel: String,
    /// Caller ID number of the channel.
    pub number: Option<String>,
    /// The extension this channel belongs to, when it is a local device.
    pub extension: Option<String>,
    /// Channel state text (`Ring`, `Ringing`, `Up`, `Busy`…).
    pub state: String,
    /// When the channel appeared.
    #[serde(serialize_with = "crate::timefmt::utc")]
    pub started_at: DateTime<Utc>,
    /// When it was answered (state `Up`).
    #[serde(serialize_with = "crate::timefmt::utc_opt")]
    pub answered_at: Option<DateTime<Utc>>,
    /// When it hung up.
    #[serde(serialize_with = "crate::timefmt::utc_opt")]
    pub ended_at: Option<DateTime<Utc>>,
    /// Hangup cause code, once hung up.
    pub hangup_cause: Option<i32>,
    /// Hangup cause text.
    pub hangup_cause_text: Option<String>,
}

/// A call from start to finish, keyed by the Linkedid of its channels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Call {
    /// The call's id: the Linkedid shared by its channels.
    pub id: String,
    /// The PBX it happened on.
    pub pbx: String,
    /// Internal, inbound or outbound.
    pub direction: Direction,
    /// Where the call is.
    pub state: CallState,
    /// Who called.
    pub caller: Party,
    /// Who was called.
    pub callee: Party,
    /// Every channel the call had (Local channel pairs included, as one call).
    /// Shared: the tracker copies its call on every change (the last copy is still
    /// out with the hub and the store), and most changes touch one leg at most, so
    /// the copy shares the legs it did not change instead of cloning their strings.
    pub legs: Vec<Arc<Leg>>,
    /// When the first channel appeared (PBX time where it told us).
    #[serde(serialize_with = "crate::timefmt::utc")]
    pub started_at: DateTime<Utc>,
    /// When the call was first answered by a callee or bridged.
    #[serde(serialize_with = "crate::timefmt::utc_opt")]
    pub answered_at: Option<DateTime<Utc>>,
    /// When the last channel hung up.
    #[serde(serialize_with = "crate::timefmt::utc_opt")]
    pub ended_at: Option<DateTime<Utc>>,
    /// Seconds from start to end (or to now while active).
    pub duration_secs: f64,
    /// Seconds from answer to end.
    pub talk_secs: f64,
    /// True when someone is on hold right now.
    pub on_hold: bool,
    /// Transfers seen: `blind` or `attended`.
    pub transfers: Vec<String>,
    /// The queue the call went through, if any.
    pub queue: Option<String>,
    /// The outcome: `answered`, `noAnswer`, `busy`, `cancelled`, `failed`,
    /// `lostWhileDisconnected`, `timedOut`; `None` while active.
    pub outcome: Option<String>,
    /// Hangup cause code of the call's end (the caller side's final Hangup).
    pub hangup_cause: Option<i32>,
    /// Hangup cause text.
    pub hangup_cause_text: Option<String>,
}

impl Call {
    /// A call just seen: its id, PBX and start, nothing else known yet. The one
    /// place a blank call is spelled out, for the tracker that fills it in and
    /// for tests that need a call of a given shape.
    pub fn new(pbx: &str, id: &str, started_at: DateTime<Utc>) -> Self {
        Self {
            id: id.to_string(),
            pbx: pbx.to_string(),
            direction: Direction::Unknown,
            state: CallState::Dialing,
            caller: Party::default(),
            callee: Party::default(),
            legs: Vec::with_capacity(2),
            started_at,
            answered_at: None,
            ended_at: None,
            duration_secs: 0.0,
            talk_secs: 0.0,
            on_hold: false,
            transfers: Vec::new(),
            queue: None,
            outcome: None,
            hangup_cause: None,
            hangup_cause_text: None,
        }
    }
}

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

/// One recorded state of an extension: what it was from `at` until the next transition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExtensionTransition {
    /// The PBX.
    pub pbx: String,
    /// The extension number.
    pub extension: String,
    /// Asterisk's numeric hint status entered.
    pub status: HintStatus,
    /// Asterisk's status text.
    pub status_text: String,
    /// Broad state (see [`HintStatus::kind`]).
    pub state: String,
    /// Device state name, when known.
    pub device_state: Option<String>,
    /// When the extension entered this state.
    #[serde(serialize_with = "crate::timefmt::utc")]
    pub at: DateTime<Utc>,
}

#[cfg(test)]
mod connection_state_tests {
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
