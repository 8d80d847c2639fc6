//! A call queue as a supervisor sees it: the callers waiting in order, the members
//! (agents) and what each is doing, and today's figures.
//!
//! Serialised camelCase like the rest of the model; the same shape goes out in
//! `GET /api/queues`, the WebSocket `queue.updated` message and the cluster feed.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// Seconds a caller may wait and still count as answered within the service level
/// when `QUEUE_SLA_SECS` is not set.
pub const DEFAULT_SLA_SECS: u64 = 20;

/// What a member is doing, as a supervisor reads it. Asterisk reports a device
/// state number and a paused flag separately; this folds them into one answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "camelCase")]
pub enum MemberState {
    /// Logged in, not paused, its device idle: the next caller may go to it.
    Free,
    /// Its device rings (a queue caller or any other call).
    Ringing,
    /// Its device is on a call.
    OnCall,
    /// Paused by the agent or a supervisor; takes no queue calls.
    Paused {
        /// The reason given with the pause (`PausedReason`), when there was one.
        #[serde(rename = "pausedReason")]
        reason: Option<String>,
    },
    /// Its device is not reachable (not registered, invalid).
    Unavailable,
}

impl MemberState {
    /// A short label, also the metric label (`free`, `ringing`, `onCall`, `paused`,
    /// `unavailable`).
    pub fn label(&self) -> &'static str {
        match self {
            Self::Free => "free",
            Self::Ringing => "ringing",
            Self::OnCall => "onCall",
            Self::Paused { .. } => "paused",
            Self::Unavailable => "unavailable",
        }
    }

    /// Every label, in display order (for metrics that must also report zeros).
    pub const LABELS: [&'static str; 5] = ["free", "ringing", "onCall", "paused", "unavailable"];
}

/// One member (agent) of a queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueMember {
    /// The interface the queue rings (`PJSIP/1011`, `Local/8001@agents/n`); the key.
    pub interface: String,
    /// The member's name as configured (`MemberName`), or the interface.
    pub name: String,
    /// What it is doing.
    #[serde(flatten)]
    pub state: MemberState,
    /// Queue calls it has taken (Asterisk's count, since the member was added).
    pub calls_taken: u64,
    /// When its last queue call ended.
    #[serde(serialize_with = "crate::timefmt::utc_opt")]
    pub last_call: Option<DateTime<Utc>>,
    /// Added at run time (`QueueAdd`) rather than configured.
    pub dynamic: bool,
}

/// One caller waiting in a queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueCaller {
    /// 1 for the caller answered next.
    pub position: u32,
    /// The caller's channel Uniqueid (the key).
    pub uniqueid: String,
    /// The caller's channel.
    pub channel: String,
    /// Caller ID number.
    pub caller_number: Option<String>,
    /// Caller ID name.
    pub caller_name: Option<String>,
    /// When it joined the queue.
    #[serde(serialize_with = "crate::timefmt::utc")]
    pub joined_at: DateTime<Utc>,
    /// Seconds waited so far, as of the answer or message carrying it.
    pub wait_secs: u64,
}

/// Today's figures of one queue (a day is a UTC day; they start again at midnight
/// and at a service restart).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueDay {
    /// The day the figures are for.
    pub date: NaiveDate,
    /// Callers who joined the queue.
    pub offered: u64,
    /// Callers an agent answered.
    pub answered: u64,
    /// Callers who hung up while waiting.
    pub abandoned: u64,
    /// Answered within `slaSecs` of joining.
    pub answered_within_sla: u64,
    /// The service-level threshold (`QUEUE_SLA_SECS`).
    pub sla_secs: u64,
    /// `answeredWithinSla` as a percentage of the callers whose wait ended
    /// (answered + abandoned); `null` before the first.
    pub service_level: Option<f64>,
    /// Average wait of the answered callers, in seconds.
    pub average_wait_secs: Option<f64>,
    /// Longest wait of a caller whose wait ended today (answered or abandoned).
    pub longest_wait_secs: u64,
    /// Average wait of the callers who gave up, in seconds.
    pub average_abandon_secs: Option<f64>,
    /// Longest wait of a caller who gave up.
    pub longest_abandon_secs: u64,
    /// Sum of the answered callers' waits (what the average is made from).
    pub total_wait_secs: u64,
    /// Sum of the abandoned callers' waits.
    pub total_abandon_secs: u64,
    /// Most callers waiting at once in each minute of the day that had any change,
    /// as `[minuteOfDay, waiting]` pairs, oldest first (the dashboard's sparkline).
    pub waiting_by_minute: Vec<(u16, u32)>,
}

impl QueueDay {
    /// Empty figures for `date`.
    pub fn new(date: NaiveDate, sla_secs: u64) -> Self {
        Self {
            date,
            offered: 0,
            answered: 0,
            abandoned: 0,
            answered_within_sla: 0,
            sla_secs,
            service_level: None,
            average_wait_secs: None,
            longest_wait_secs: 0,
            average_abandon_secs: None,
            longest_abandon_secs: 0,
            total_wait_secs: 0,
            total_abandon_secs: 0,
            waiting_by_minute: Vec::new(),
        }
    }
}

/// One queue of one PBX.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Queue {
    /// The PBX it belongs to.
    pub pbx: String,
    /// The queue's name (`support`).
    pub name: String,
    /// Its ring strategy (`ringall`, `leastrecent`, …), when the PBX said.
    pub strategy: Option<String>,
    /// Callers waiting, position 1 first.
    pub callers: Vec<QueueCaller>,
    /// Members, in the order the PBX listed or added them.
    pub members: Vec<QueueMember>,
    /// Today's figures.
    pub today: QueueDay,
    /// When this picture was taken (waits are as of this time).
    #[serde(serialize_with = "crate::timefmt::utc")]
    pub updated_at: DateTime<Utc>,
    /// The PBX no longer has this queue (a resync did not list it); sent once.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub removed: bool,
}

impl Queue {
    /// The same queue with every caller's wait counted up to `now` (an HTTP answer
    /// is read later than the change that made it).
    pub fn as_of(&self, now: DateTime<Utc>) -> Self {
        let mut q = self.clone();
        for c in &mut q.callers {
            c.wait_secs = (now - c.joined_at).num_seconds().max(0) as u64;
        }
        q.updated_at = now;
        q
    }

    /// The longest current wait, in seconds, as of `now`.
    pub fn longest_waiting_secs(&self, now: DateTime<Utc>) -> u64 {
        self.callers
            .iter()
            .map(|c| (now - c.joined_at).num_seconds().max(0) as u64)
            .max()
            .unwrap_or(0)
    }

    /// How many members are in state `label` (see [`MemberState::label`]).
    pub fn members_in(&self, label: &str) -> usize {
        self.members
            .iter()
            .filter(|m| m.state.label() == label)
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_paused_member_carries_its_reason_next_to_its_state() {
        let m = QueueMember {
            interface: "Local/8002@queue-agents/n".into(),
            name: "Agent 8002".into(),
            state: MemberState::Paused {
                reason: Some("lunch".into()),
            },
            calls_taken: 0,
            last_call: None,
            dynamic: false,
        };
        let v = serde_json::to_value(&m).expect("serialises");
        assert_eq!(v["state"], "paused");
        assert_eq!(v["pausedReason"], "lunch");
        let back: QueueMember = serde_json::from_value(v).expect("reads back");
        assert_eq!(back, m);
        let free = serde_json::to_value(MemberState::OnCall).expect("serialises");
        assert_eq!(free["state"], "onCall");
    }
}
