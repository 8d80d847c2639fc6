//! [`CallModel`]: one call from its first channel to its last hangup.
//!
//! A call is every channel sharing one Linkedid (Asterisk gives a call's Local
//! channel pairs, transfer targets and dialled legs the Linkedid of the oldest
//! channel). The first channel is the caller; the answerer is the callee. The rules
//! follow what the real captures show (see `tests/fixtures/*.md`): only the `Hangup`
//! event's `Cause` is an outcome (`HangupRequest`/`SoftHangupRequest` are not), a
//! 603 decline ends as DialEnd NOANSWER with cause 21, a `Busy()` before answer has
//! no Dial events and cause 17, a caller's CANCEL gives cause 127, an unregistered
//! endpoint gives no callee channel and cause 3.

mod events;
mod lifecycle;

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::event_time;
use super::route::channel_extension;
use crate::ami::Event;
use crate::model::{Call, CallOutcome, CallState, Direction, Leg, Party, TransferKind};

/// What applying an event did to the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallEffect {
    /// Nothing a client would see.
    None,
    /// Something visible changed (publish an update).
    Updated,
    /// The last channel hung up: the call is over.
    Ended,
}

/// The state of one call, built from its events.
#[derive(Debug, Clone)]
pub struct CallModel {
    /// Shared with the live view and the published changes until the next write
    /// (copy on write), so an idle call is held once, not once per holder.
    call: Arc<Call>,
    live: usize,
    dial_status: Option<String>,
    dialed: Option<String>,
    bridged: Vec<String>,
    holds: Vec<String>,
    /// The first channel's own caller ID (before an Originate's `CallerID` replaces it).
    origin: Party,
    /// True when the first channel was dialled by an Originate (its Dial events have
    /// no caller `Channel`): that device is the caller, whatever caller ID it shows.
    originated: bool,
    /// The party answering a consultation call (attended transfer) while the
    /// transferee waits on hold: the callee only once the transfer completes.
    consulted: Option<Party>,
    /// Fingerprints of the transfer events counted, so a duplicated one (the same
    /// bytes again) is not counted twice; transfers are the one non-idempotent event.
    transfer_prints: Vec<u64>,
}

fn party(number: Option<&str>, name: Option<&str>) -> Party {
    let clean = |v: Option<&str>| {
        v.map(str::trim)
            .filter(|s| !s.is_empty() && *s != "<unknown>")
            .map(str::to_string)
    };
    Party {
        number: clean(number),
        name: clean(name),
    }
}

fn known(v: Option<&str>) -> Option<&str> {
    v.filter(|s| !s.is_empty() && *s != "<unknown>")
}

impl CallModel {
    /// A call first seen at `at`, keyed by `id` (its Linkedid) on `pbx`.
    pub fn new(pbx: &str, id: &str, at: DateTime<Utc>) -> Self {
        Self::from_call(Call::new(pbx, id, at))
    }

    /// Rebuilds a call that was active when the service stopped (from the store), so
    /// the first resync after login can keep it or close it as lost.
    pub fn from_call(call: Call) -> Self {
        let live = call.legs.iter().filter(|l| l.ended_at.is_none()).count();
        Self {
            call: Arc::new(call),
            live,
            dial_status: None,
            dialed: None,
            bridged: Vec::new(),
            holds: Vec::new(),
            origin: Party::default(),
            originated: false,
            consulted: None,
            transfer_prints: Vec::new(),
        }
    }

    /// The call as clients see it, with durations up to `now` while it is active.
    pub fn snapshot(&self, now: DateTime<Utc>) -> Call {
        self.call.running_at(now)
    }

    /// The call without copying (durations as of the last change).
    pub fn call(&self) -> &Call {
        &self.call
    }

    /// The call as a shared handle: publishing it costs a reference count, and the
    /// next change copies it only then (`Arc::make_mut`).
    pub fn shared(&self) -> Arc<Call> {
        Arc::clone(&self.call)
    }

    fn call_mut(&mut self) -> &mut Call {
        Arc::make_mut(&mut self.call)
    }

    /// Leg `i`, to change: copies the call and that leg only if they are shared.
    fn leg_mut(&mut self, i: usize) -> &mut Leg {
        Arc::make_mut(&mut self.call_mut().legs[i])
    }

    /// True once every channel has hung up.
    pub fn is_ended(&self) -> bool {
        self.call.state == CallState::Ended
    }

    /// How many of its channels are still up.
    pub fn live_channels(&self) -> usize {
        self.live
    }

    fn leg_index(&self, uniqueid: &str) -> Option<usize> {
        self.call.legs.iter().position(|l| l.uniqueid == uniqueid)
    }

    /// Finds or adds the leg `uniqueid`; true when it was added.
    fn ensure_leg(
        &mut self,
        uniqueid: &str,
        channel: &str,
        number: Option<&str>,
        state: &str,
        at: DateTime<Utc>,
    ) -> (usize, bool) {
        if let Some(i) = self.leg_index(uniqueid) {
            return (i, false);
        }
        self.call_mut().legs.push(Arc::new(Leg {
            uniqueid: uniqueid.to_string(),
            channel: channel.to_string(),
            number: known(number).map(str::to_string),
            extension: channel_extension(channel).map(str::to_string),
            state: state.to_string(),
            started_at: at,
            answered_at: None,
            ended_at: None,
            hangup_cause: None,
            hangup_cause_text: None,
        }));
        self.live += 1;
        // The call starts with its first channel, in PBX time: not when the tracker
        // was made (our clock), which may be behind the PBX's. A later leg stamped
        // earlier (Asterisk writes events slightly out of Timestamp order) moves it.
        if self.call.legs.len() == 1 || at < self.call.started_at {
            self.call_mut().started_at = at;
        }
        (self.call.legs.len() - 1, true)
    }

    fn mark_answered(&mut self, at: DateTime<Utc>) -> bool {
        if self.call.answered_at.is_some() {
            return false;
        }
        // Never before the call started (events stamped out of order would make
        // the talk time longer than the call).
        let at = at.max(self.call.started_at);
        self.call_mut().answered_at = Some(at);
        if matches!(self.call.state, CallState::Dialing | CallState::Ringing) {
            self.call_mut().state = CallState::Answered;
        }
        true
    }

    fn set_state(&mut self, state: CallState) -> bool {
        if self.call.state == state || self.call.state == CallState::Ended {
            return false;
        }
        self.call_mut().state = state;
        true
    }

    fn settle_state(&mut self) -> bool {
        let state = if !self.holds.is_empty() {
            CallState::OnHold
        } else if self.bridged.len() >= 2 {
            CallState::Bridged
        } else if self.call.answered_at.is_some() {
            CallState::Answered
        } else if self.call.state == CallState::Ringing {
            CallState::Ringing
        } else {
            CallState::Dialing
        };
        let hold = !self.holds.is_empty();
        let changed = self.call.on_hold != hold;
        if changed {
            self.call_mut().on_hold = hold;
        }
        self.set_state(state) || changed
    }

    fn update_direction(&mut self) {
        let caller_ext = self
            .call
            .legs
            .first()
            .and_then(|l| l.extension.as_deref())
            .is_some();
        let caller_local = self
            .call
            .legs
            .first()
            .is_some_and(|l| l.channel.starts_with("Local/"));
        let callee_ext = self.call.legs.iter().skip(1).any(|l| l.extension.is_some());
        let external = self
            .dialed
            .as_deref()
            .or(self.call.callee.number.as_deref())
            .is_some_and(is_external_number);
        let direction = match (caller_ext, callee_ext) {
            (true, true) => Direction::Internal,
            (true, false) if external => Direction::Outbound,
            (true, false) => Direction::Internal,
            (false, _) if caller_local => {
                if callee_ext {
                    Direction::Internal
                } else {
                    Direction::Unknown
                }
            }
            (false, _) => Direction::Inbound,
        };
        if self.call.direction != direction {
            self.call_mut().direction = direction;
        }
    }

    /// Applies one event of this call, received at `now` (the event's own Timestamp wins).
    pub fn apply(&mut self, ev: &Event, now: DateTime<Utc>) -> CallEffect {
        if self.is_ended() {
            return CallEffect::None;
        }
        let at = event_time(ev, now);
        let uid = ev.uniqueid().unwrap_or("");
        let changed = match ev.name() {
            "Newchannel" => self.on_newchannel(ev, uid, at),
            "Newstate" => self.on_newstate(ev, uid, at),
            "NewCallerid" => self.on_callerid(ev, uid),
            "NewConnectedLine" => false,
            "DialBegin" => self.on_dial_begin(ev, at),
            "DialState" => {
                let ringing = ev.get("DialStatus") == Some("RINGING");
                ringing && self.call.answered_at.is_none() && self.set_state(CallState::Ringing)
            }
            "DialEnd" => self.on_dial_end(ev, at),
            "BridgeEnter" => {
                if !uid.is_empty() && !self.bridged.iter().any(|u| u == uid) {
                    self.bridged.push(uid.to_string());
                }
                let answered = self.bridged.len() >= 2 && self.mark_answered(at);
                self.settle_state() || answered
            }
            "BridgeLeave" => {
                self.bridged.retain(|u| u != uid);
                self.settle_state()
            }
            "Hold" => {
                if !uid.is_empty() && !self.holds.iter().any(|u| u == uid) {
                    self.holds.push(uid.to_string());
                }
                self.settle_state()
            }
            "Unhold" => {
                self.holds.retain(|u| u != uid);
                self.settle_state()
            }
            "BlindTransfer" | "AttendedTransfer" => self.on_transfer(ev),
            "QueueCallerJoin" => {
                self.call_mut().queue = ev.get("Queue").map(str::to_string);
                true
            }
            // The wait ends with an agent (AgentConnect) or without (Abandon);
            // `HoldTime` is Asterisk's own count of it.
            "AgentConnect" | "QueueCallerAbandon" => {
                let wait = ev.get("HoldTime").and_then(|h| h.trim().parse().ok());
                let abandoned = ev.name() == "QueueCallerAbandon";
                let call = self.call_mut();
                if call.queue.is_none() {
                    call.queue = ev.get("Queue").map(str::to_string);
                }
                call.queue_wait_secs = wait.or(call.queue_wait_secs);
                call.queue_abandoned |= abandoned;
                true
            }
            "Hangup" => return self.on_hangup(ev, uid, at),
            _ => false,
        };
        if changed {
            CallEffect::Updated
        } else {
            CallEffect::None
        }
    }
}

/// A hash of an event's bytes: equal for a duplicated event (Asterisk stamps each
/// event with its own `Timestamp` and channel ids, so two real transfers differ).
fn fingerprint(text: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut h);
    h.finish()
}

use crate::model::seconds_between as secs;

/// Parses CoreShowChannel's `Duration: HH:MM:SS` into seconds.
fn parse_hms(s: &str) -> i64 {
    s.split(':')
        .try_fold(0i64, |acc, p| {
            p.trim().parse::<i64>().ok().map(|v| acc * 60 + v)
        })
        .unwrap_or(0)
}

/// A number that leaves the PBX: national/international formats, long numbers.
fn is_external_number(n: &str) -> bool {
    let digits = n.trim_start_matches('+');
    n.starts_with('+') || (digits.len() >= 7 && digits.bytes().all(|b| b.is_ascii_digit()))
}
