//! The domain model shared by the actors, the store, the HTTP API and the WebSocket.
//!
//! These are the shapes clients see (serialised camelCase, like the service
//! switchboard replaces), so they live in one place and every layer speaks them.

pub mod connection;
pub mod name;
pub mod queue;
pub mod refresh;

pub use connection::{AmiConnectionState, ConnectionStatus};
pub use name::{DisplayName, NameSource};

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

    /// The broad state used for colours and filters.
    pub fn kind(self) -> ExtensionState {
        match self.0 {
            0 => ExtensionState::Idle,
            s if s < 0 => ExtensionState::Unavailable,
            s if s & 4 != 0 => ExtensionState::Unavailable,
            s if s & 8 != 0 => ExtensionState::Ringing,
            s if s & 16 != 0 => ExtensionState::OnHold,
            s if s & 2 != 0 => ExtensionState::Busy,
            s if s & 1 != 0 => ExtensionState::InUse,
            _ => ExtensionState::Unknown,
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
    /// Display name, when the PBX (or the admin's names file) told us one.
    pub name: Option<String>,
    /// Which source supplied `name`; `None` when there is no name, or the name was
    /// restored from the store before this run read it again (the source is not stored).
    #[serde(default)]
    pub name_source: Option<NameSource>,
    /// Asterisk's numeric hint status.
    pub status: HintStatus,
    /// Asterisk's `StatusText` (e.g. `InUse`), or derived from `status`.
    pub status_text: String,
    /// The broad state for colours and filters (see [`HintStatus::kind`]).
    pub state: ExtensionState,
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
    /// Transfers seen, in order.
    pub transfers: Vec<TransferKind>,
    /// The queue the call went through, if any.
    pub queue: Option<String>,
    /// Seconds it waited in the queue before an agent answered or it gave up.
    #[serde(default)]
    pub queue_wait_secs: Option<u64>,
    /// True when the caller gave up while waiting in the queue.
    #[serde(default)]
    pub queue_abandoned: bool,
    /// How the call ended; `None` while active.
    pub outcome: Option<CallOutcome>,
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
            queue_wait_secs: None,
            queue_abandoned: false,
            outcome: None,
            hangup_cause: None,
            hangup_cause_text: None,
        }
    }

    /// The call as it stands at `now`, for an answer built now (API, WebSocket
    /// snapshot): an active call's `durationSecs` and `talkSecs` run from its start
    /// and its answer up to `now`, because the stored copy only moves when the call
    /// changes and would read 0 for a call that has been talking quietly for an hour.
    /// An ended call keeps its final figures.
    pub fn running_at(&self, now: DateTime<Utc>) -> Self {
        let mut call = self.clone();
        if call.ended_at.is_none() {
            call.duration_secs = seconds_between(call.started_at, now);
            call.talk_secs = call.answered_at.map_or(0.0, |a| seconds_between(a, now));
        }
        call
    }
}

/// Seconds from `from` to `to` to the microsecond, never negative (a PBX clock
/// a little ahead of ours must not give a call a negative age).
pub fn seconds_between(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    ((to - from).num_microseconds().unwrap_or(0).max(0) as f64) / 1e6
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
    pub state: ExtensionState,
    /// Device state name, when known.
    pub device_state: Option<String>,
    /// When the extension entered this state.
    #[serde(serialize_with = "crate::timefmt::utc")]
    pub at: DateTime<Utc>,
}

/// How a call ended. Serialized (API, WebSocket, store, change feed) as the
/// camelCase words clients already match on: `answered`, `noAnswer`, `timedOut`…
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CallOutcome {
    /// Someone answered.
    Answered,
    /// Rang out without an answer (DialEnd NOANSWER, cause 19).
    NoAnswer,
    /// The callee was busy (cause 17).
    Busy,
    /// The caller hung up while it rang (CANCEL, cause 127).
    Cancelled,
    /// The callee declined (cause 21).
    Rejected,
    /// The call could not be placed (unavailable, congestion).
    Failed,
    /// Ended before any dial or answer, for no reason above.
    Abandoned,
    /// Gone from the PBX when switchboard reconnected.
    LostWhileDisconnected,
    /// Closed by the tracker after too long without an event.
    TimedOut,
}

impl CallOutcome {
    /// The word as clients and the store see it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Answered => "answered",
            Self::NoAnswer => "noAnswer",
            Self::Busy => "busy",
            Self::Cancelled => "cancelled",
            Self::Rejected => "rejected",
            Self::Failed => "failed",
            Self::Abandoned => "abandoned",
            Self::LostWhileDisconnected => "lostWhileDisconnected",
            Self::TimedOut => "timedOut",
        }
    }

    /// Every outcome, for parsing and tests.
    pub const ALL: [Self; 9] = [
        Self::Answered,
        Self::NoAnswer,
        Self::Busy,
        Self::Cancelled,
        Self::Rejected,
        Self::Failed,
        Self::Abandoned,
        Self::LostWhileDisconnected,
        Self::TimedOut,
    ];

    /// The outcome a stored word names; `None` for a word this version does not know.
    pub fn parse(word: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == word)
    }
}

impl std::fmt::Display for CallOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A transfer seen on a call, serialized as `blind` or `attended`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum TransferKind {
    /// `BlindTransfer`.
    Blind,
    /// `AttendedTransfer`.
    Attended,
}

impl TransferKind {
    /// The word as clients and the store see it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Blind => "blind",
            Self::Attended => "attended",
        }
    }
}

#[cfg(test)]
mod outcome_tests {
    use super::*;

    #[test]
    fn outcomes_and_transfers_serialize_as_the_words_clients_match() {
        for outcome in CallOutcome::ALL {
            assert_eq!(
                serde_json::to_value(outcome).expect("serializes"),
                serde_json::json!(outcome.as_str())
            );
            assert_eq!(CallOutcome::parse(outcome.as_str()), Some(outcome));
        }
        assert_eq!(CallOutcome::TimedOut.as_str(), "timedOut");
        assert_eq!(CallOutcome::NoAnswer.as_str(), "noAnswer");
        assert_eq!(CallOutcome::parse("gone"), None);
        assert_eq!(
            serde_json::to_string(&[TransferKind::Blind, TransferKind::Attended]).expect("ok"),
            r#"["blind","attended"]"#
        );
        assert_eq!(TransferKind::Attended.as_str(), "attended");
    }
}

/// An extension's broad state, for colours and filters: what [`HintStatus::kind`]
/// makes of Asterisk's numeric status, or `removed` once the PBX dropped the hint.
/// Serialized (API, WebSocket, store, change feed) as the words clients filter on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ExtensionState {
    /// Nobody on it (`NOT_INUSE`).
    Idle,
    /// Ringing.
    Ringing,
    /// On a call.
    InUse,
    /// Busy.
    Busy,
    /// On hold.
    OnHold,
    /// No registered device, or the hint is deactivated.
    Unavailable,
    /// The PBX removed the hint or the extension (`Status: -1`/`-2` live).
    Removed,
    /// A status Asterisk does not document.
    Unknown,
}

impl ExtensionState {
    /// Every state, for parsing and tests.
    pub const ALL: [Self; 8] = [
        Self::Idle,
        Self::Ringing,
        Self::InUse,
        Self::Busy,
        Self::OnHold,
        Self::Unavailable,
        Self::Removed,
        Self::Unknown,
    ];

    /// The word as clients and the store see it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Ringing => "ringing",
            Self::InUse => "inUse",
            Self::Busy => "busy",
            Self::OnHold => "onHold",
            Self::Unavailable => "unavailable",
            Self::Removed => "removed",
            Self::Unknown => "unknown",
        }
    }

    /// The state a word names (`?state=`, stored rows), if any.
    pub fn parse(word: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == word)
    }
}

impl std::fmt::Display for ExtensionState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod extension_state_tests {
    use super::ExtensionState;

    #[test]
    fn states_serialize_as_the_words_clients_filter_on() {
        for state in ExtensionState::ALL {
            let json = serde_json::to_string(&state).expect("serializes");
            assert_eq!(json, format!("\"{}\"", state.as_str()));
            assert_eq!(ExtensionState::parse(state.as_str()), Some(state));
        }
        assert_eq!(ExtensionState::parse("in use"), None);
    }
}
