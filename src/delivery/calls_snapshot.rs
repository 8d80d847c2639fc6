//! [`CallsSnapshot`]: a PBX's calls as the store holds them when an instance takes
//! the PBX over, fed to every instance so their live views agree again.
//!
//! Why it is needed: a holder that loses its lease has applied its last changes to
//! its own live view, but the feed does not take them (see `feed::check_leases`:
//! only a holder feeds, and nobody overwrites a new holder). Its own live view then
//! knows things the other instances never heard — a call that got bridged, or one
//! that ended — and the others may hold rows it could not correct. The
//! login's resync after a take-over only publishes what differs from the *new
//! holder's* belief; when that belief already matched the PBX (the old holder
//! re-taking its PBX) nothing was published, and the others kept the stale state
//! for as long as the call lasted. So the new holder, before it logs in, publishes
//! the store's picture as one snapshot: every live call in full, and the recent
//! finished ones. Each instance turns that into the changes its own view lacks
//! ([`CallsSnapshot::changes`]), and the resync's corrections follow in order.

use std::collections::HashMap;
use std::sync::Arc;

use actix::prelude::*;
use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::change::Change;
use crate::model::{Call, CallOutcome};
use crate::state::call::CallModel;

/// How many of a PBX's most recent finished calls a snapshot carries, to give a
/// call that ended unheard its real final record.
pub const RECENT_ENDED: i64 = 200;

/// The outcome given to a call an instance still shows but the snapshot neither
/// lists live nor as recently finished.
const LOST: CallOutcome = CallOutcome::LostWhileDisconnected;

/// One PBX's calls as the store holds them at a take-over.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallsSnapshot {
    /// The PBX.
    pub pbx: String,
    /// Every call the store has live, in full.
    pub live: Vec<Arc<Call>>,
    /// The most recent finished calls (newest first), for ending calls the snapshot
    /// no longer lists with their real record.
    pub ended: Vec<Arc<Call>>,
}

/// Asks the hub to make its view of a PBX's calls match a snapshot, publishing the
/// changes that takes; `feed` also hands the snapshot itself to the store writer
/// (the new holder does, so the other instances get it through the feed).
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct SyncCalls {
    /// The snapshot.
    pub snapshot: Arc<CallsSnapshot>,
    /// Whether to pass the snapshot on to the store (and so to the feed).
    pub feed: bool,
}

impl CallsSnapshot {
    /// The changes that turn `current` — this instance's live calls of the PBX —
    /// into the snapshot: calls it lacks start, calls that differ are updated, and
    /// calls the snapshot no longer lists end (with their finished record when the
    /// snapshot has it, else closed as lost while the feed was cut).
    pub fn changes(&self, current: &[Arc<Call>]) -> Vec<Change> {
        let mut mine: HashMap<&str, &Arc<Call>> =
            current.iter().map(|c| (c.id.as_str(), c)).collect();
        let mut out = Vec::new();
        for call in &self.live {
            match mine.remove(call.id.as_str()) {
                None => out.push(Change::CallStarted(call.clone())),
                Some(have) if have != call => out.push(Change::CallUpdated(call.clone())),
                Some(_) => {}
            }
        }
        let mut gone: Vec<&Arc<Call>> = mine.into_values().collect();
        gone.sort_by(|a, b| a.started_at.cmp(&b.started_at).then(a.id.cmp(&b.id)));
        for call in gone {
            let record = self
                .ended
                .iter()
                .find(|e| e.id == call.id)
                .cloned()
                .unwrap_or_else(|| Arc::new(closed_as_lost(call)));
            out.push(Change::CallEnded(record));
        }
        out
    }
}

/// `call` ended now, for want of its real record: closed the way a tracker closes a
/// call lost while disconnected ([`CallModel::close`]).
fn closed_as_lost(call: &Call) -> Call {
    CallModel::from_call(call.clone()).close(LOST, Utc::now())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CallState, Direction};

    fn call(id: &str, state: CallState) -> Arc<Call> {
        Arc::new(Call {
            direction: Direction::Internal,
            state,
            // The API's precision, which the JSON of a snapshot carries.
            ..Call::new(
                "north",
                id,
                chrono::SubsecRound::trunc_subsecs(Utc::now(), 3) - chrono::Duration::seconds(30),
            )
        })
    }

    fn kinds(changes: &[Change]) -> Vec<(&'static str, String, CallState)> {
        changes
            .iter()
            .map(|c| match c {
                Change::CallStarted(x) | Change::CallUpdated(x) | Change::CallEnded(x) => {
                    (c.kind(), x.id.clone(), x.state)
                }
                other => panic!("not a call change: {other:?}"),
            })
            .collect()
    }

    #[test]
    fn a_view_that_matches_needs_no_change() {
        let a = call("a", CallState::Bridged);
        let snap = CallsSnapshot {
            pbx: "north".into(),
            live: vec![a.clone()],
            ended: Vec::new(),
        };
        assert!(snap.changes(&[a]).is_empty());
    }

    #[test]
    fn missing_calls_start_stale_ones_update_and_unlisted_ones_end() {
        let mut finished = (*call("gone", CallState::Ended)).clone();
        finished.outcome = Some(CallOutcome::Answered);
        finished.hangup_cause = Some(16);
        let snap = CallsSnapshot {
            pbx: "north".into(),
            live: vec![
                call("new", CallState::Ringing),
                call("moved", CallState::Bridged),
            ],
            ended: vec![Arc::new(finished)],
        };
        let current = vec![
            call("moved", CallState::Ringing),
            call("gone", CallState::Bridged),
            call("ghost", CallState::Ringing),
        ];
        let changes = snap.changes(&current);
        let mut got = kinds(&changes);
        got.sort_by(|a, b| a.1.cmp(&b.1));
        assert_eq!(
            got,
            vec![
                ("call.ended", "ghost".to_string(), CallState::Ended),
                ("call.ended", "gone".to_string(), CallState::Ended),
                ("call.updated", "moved".to_string(), CallState::Bridged),
                ("call.started", "new".to_string(), CallState::Ringing),
            ]
        );
        for c in &changes {
            if let Change::CallEnded(x) = c {
                if x.id == "gone" {
                    assert_eq!(x.hangup_cause, Some(16), "the real record is used");
                    assert_eq!(x.outcome, Some(CallOutcome::Answered));
                } else {
                    assert_eq!(x.outcome, Some(LOST));
                    assert!(x.ended_at.is_some());
                    assert!(x.duration_secs >= 29.0, "{}", x.duration_secs);
                }
            }
        }
    }

    #[test]
    fn snapshots_round_trip_as_json() {
        let snap = CallsSnapshot {
            pbx: "south".into(),
            live: vec![call("x", CallState::OnHold)],
            ended: vec![call("y", CallState::Ended)],
        };
        let text = serde_json::to_string(&snap).expect("encodes");
        let back: CallsSnapshot = serde_json::from_str(&text).expect("decodes");
        assert_eq!(back, snap);
    }
}
