//! How a call ended and how it was transferred: the enums clients match on by word.

use serde::{Deserialize, Serialize};

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
