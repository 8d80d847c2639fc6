//! Ground truth a test reads from the simulator: what the PBX itself believes.
//!
//! A test drives switchboard against the simulator and then compares switchboard's
//! view of extensions and calls with these values, so they use the crate's own
//! vocabulary ([`CallState`], [`Direction`], the outcome names of
//! [`crate::model::Call::outcome`]).

use std::collections::BTreeMap;

use serde::Serialize;

use super::model::{Party, Pbx};
use super::queue_model::SimQueue;
use crate::model::queue::MemberState;
use crate::model::{CallState, Direction};

/// One queue member as the PBX sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SimMemberTruth {
    /// `PJSIP/1001`.
    pub interface: String,
    /// Its name in the queue.
    pub name: String,
    /// What it does, in the service's words.
    pub state: MemberState,
    /// Queue calls completed.
    pub calls_taken: u64,
}

/// One queue as the PBX sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SimQueueTruth {
    /// `support`.
    pub name: String,
    /// Uniqueids of the callers waiting, position 1 first.
    pub waiting: Vec<String>,
    /// Members in configuration order.
    pub members: Vec<SimMemberTruth>,
    /// Callers who joined since the PBX started.
    pub offered: u64,
    /// Callers an agent answered.
    pub answered: u64,
    /// Callers who gave up.
    pub abandoned: u64,
}

/// One live call as the PBX sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SimCall {
    /// The Linkedid shared by the call's channels (switchboard's call id).
    pub linkedid: String,
    /// Caller: an extension number or an outside number.
    pub caller: String,
    /// Callee now (after a transfer: the transfer target).
    pub callee: String,
    /// Internal, inbound or outbound.
    pub direction: Direction,
    /// `Ringing`, `Bridged`, `OnHold`, or `Dialing` while failing to an unavailable device.
    pub state: CallState,
    /// Blind and attended transfers done.
    pub transfers: u32,
}

/// Everything the PBX knows at one instant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PbxSnapshot {
    /// Extension number -> hint status code (0 idle, 1 in use, 4 unavailable, 8 ringing, 16 on hold).
    pub extensions: BTreeMap<String, i32>,
    /// Calls in progress.
    pub calls: Vec<SimCall>,
    /// Finished calls by outcome: `answered`, `noAnswer`, `busy`, `cancelled`, `failed`.
    pub finished: BTreeMap<String, u64>,
    /// All finished calls.
    pub finished_total: u64,
    /// Seconds since the PBX (re)started.
    pub uptime_secs: u64,
    /// Its queues.
    pub queues: Vec<SimQueueTruth>,
}

/// Counters of the AMI server, for tests and benchmarks to wait on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SimStats {
    /// TCP connections accepted.
    pub connections: u64,
    /// Sessions connected right now.
    pub sessions: u64,
    /// Successful logins.
    pub logins_ok: u64,
    /// Refused logins.
    pub logins_failed: u64,
    /// `Logoff` actions received (a polite client sends one per connection when it stops).
    pub logoffs: u64,
    /// Actions answered (logins included).
    pub actions: u64,
    /// Async events emitted to the session fan-out.
    pub events: u64,
    /// Sessions dropped for reading too slowly.
    pub lagged_drops: u64,
    /// Events of requested bursts not yet generated (0 once a burst is done; a
    /// burst may overshoot by the rest of its last call step).
    pub burst_pending: u64,
}

impl Pbx {
    /// The ground truth as plain data.
    pub fn snapshot(&self) -> PbxSnapshot {
        let party = |p: &Party| match p {
            Party::Ext(i) => self.exts[*i].number.clone(),
            Party::Outside(n) => n.clone(),
        };
        PbxSnapshot {
            extensions: self
                .exts
                .iter()
                .map(|e| (e.number.clone(), e.status))
                .collect(),
            calls: self
                .calls
                .iter()
                .map(|c| SimCall {
                    linkedid: c.linkedid.clone(),
                    caller: party(&c.caller),
                    callee: party(&c.callee),
                    direction: c.direction,
                    state: c.state,
                    transfers: c.transfers,
                })
                .collect(),
            finished: self.finished.clone(),
            finished_total: self.finished.values().sum(),
            uptime_secs: self.started.elapsed().as_secs(),
            queues: self.queues.iter().map(|q| self.queue_truth(q)).collect(),
        }
    }

    fn queue_truth(&self, q: &SimQueue) -> SimQueueTruth {
        let members = q
            .members
            .iter()
            .map(|m| {
                let status = self.exts[m.ext].status;
                let state = match (&m.paused, status) {
                    (_, 4) => MemberState::Unavailable,
                    (Some(reason), _) => MemberState::Paused {
                        reason: Some(reason.clone()).filter(|r| !r.is_empty()),
                    },
                    (None, 0) if m.in_call.is_none() => MemberState::Free,
                    (None, 8) => MemberState::Ringing,
                    _ => MemberState::OnCall,
                };
                SimMemberTruth {
                    interface: m.interface.clone(),
                    name: m.name.clone(),
                    state,
                    calls_taken: m.calls_taken,
                }
            })
            .collect();
        SimQueueTruth {
            name: q.name.clone(),
            waiting: q.callers.iter().map(|c| c.a.uniqueid.clone()).collect(),
            members,
            offered: q.offered,
            answered: q.answered,
            abandoned: q.abandoned,
        }
    }
}
