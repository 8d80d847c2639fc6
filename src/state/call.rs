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

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::event_time;
use super::route::channel_extension;
use crate::ami::Event;
use crate::model::{Call, CallState, Direction, Leg, Party};

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
        let mut call = Call::clone(&self.call);
        if call.ended_at.is_none() {
            call.duration_secs = secs(call.started_at, now);
            call.talk_secs = call.answered_at.map_or(0.0, |a| secs(a, now));
        }
        call
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
            "Hangup" => return self.on_hangup(ev, uid, at),
            _ => false,
        };
        if changed {
            CallEffect::Updated
        } else {
            CallEffect::None
        }
    }

    fn on_newchannel(&mut self, ev: &Event, uid: &str, at: DateTime<Utc>) -> bool {
        if uid.is_empty() {
            return false;
        }
        let state = ev.get("ChannelStateDesc").unwrap_or("Down");
        let channel = ev.channel().unwrap_or("");
        let (i, added) = self.ensure_leg(uid, channel, ev.get("CallerIDNum"), state, at);
        if i == 0 && added {
            self.call_mut().caller = party(ev.get("CallerIDNum"), ev.get("CallerIDName"));
            self.origin = self.call.caller.clone();
            self.dialed = known(ev.get("Exten"))
                .filter(|e| *e != "s")
                .map(str::to_string);
            if self.call.callee.number.is_none() {
                self.call_mut().callee.number = self.dialed.clone();
            }
        }
        self.update_direction();
        added
    }

    fn on_newstate(&mut self, ev: &Event, uid: &str, at: DateTime<Utc>) -> bool {
        let Some(i) = self.leg_index(uid) else {
            return self.on_newchannel(ev, uid, at);
        };
        let desc = ev.get("ChannelStateDesc").unwrap_or("");
        if self.call.legs[i].state == desc {
            return false;
        }
        let leg = self.leg_mut(i);
        leg.state = desc.to_string();
        if desc == "Up" {
            leg.answered_at.get_or_insert(at);
            self.mark_answered(at);
        } else if desc == "Ringing" && self.call.answered_at.is_none() {
            self.set_state(CallState::Ringing);
        }
        true
    }

    fn on_callerid(&mut self, ev: &Event, uid: &str) -> bool {
        let Some(i) = self.leg_index(uid) else {
            return false;
        };
        let number = known(ev.get("CallerIDNum")).map(str::to_string);
        self.leg_mut(i).number = number;
        if i == 0 && !(self.originated && self.origin.number.is_some()) {
            self.call_mut().caller = party(ev.get("CallerIDNum"), ev.get("CallerIDName"));
        }
        true
    }

    fn on_dial_begin(&mut self, ev: &Event, at: DateTime<Utc>) -> bool {
        if let (Some(uid), Some(chan)) = (ev.get("DestUniqueid"), ev.get("DestChannel")) {
            let state = ev.get("DestChannelStateDesc").unwrap_or("Down");
            self.ensure_leg(uid, chan, ev.get("DestCallerIDNum"), state, at);
        }
        // An Originate's Dial events have no caller Channel: the dialled device is the
        // first channel, and the call's other party is what it was asked to reach.
        let first = self.call.legs.first().map(|l| l.uniqueid.as_str());
        if ev.channel().is_none() && first.is_some() && ev.get("DestUniqueid") == first {
            self.originated = true;
            // The Originate's CallerID (usually the number to reach) replaced the
            // device's own; the device is still the one calling. (A channel with no
            // caller ID of its own, such as a Local one, keeps the Originate's.)
            if self.origin.number.is_some() {
                self.call_mut().caller = self.origin.clone();
            }
            if self.call.callee.number.is_none() {
                let dest = party(ev.get("DestCallerIDNum"), ev.get("DestCallerIDName"));
                if dest.number != self.call.caller.number {
                    self.call_mut().callee = dest;
                }
            }
        } else if self.call.callee.number.is_none() || self.call.callee.number == self.dialed {
            let dest = party(ev.get("DestCallerIDNum"), ev.get("DestCallerIDName"));
            if dest.number.is_some() && ev.channel().is_some() {
                self.call_mut().callee = dest;
            }
        }
        self.update_direction();
        if self.call.answered_at.is_none() {
            self.set_state(CallState::Ringing);
        }
        true
    }

    fn on_dial_end(&mut self, ev: &Event, at: DateTime<Utc>) -> bool {
        let status = ev.get("DialStatus").unwrap_or("").to_string();
        let answered = status == "ANSWER";
        self.dial_status = Some(status);
        if answered {
            let dest = party(ev.get("DestCallerIDNum"), ev.get("DestCallerIDName"));
            if dest.number.is_some() && ev.channel().is_some() {
                if self.call.answered_at.is_some() && !self.holds.is_empty() {
                    // A consultation (Atxfer) while the other party waits on hold: the
                    // callee changes only if the transfer completes (CancelAtxfer
                    // brings the original parties back together).
                    self.consulted = Some(dest);
                } else {
                    self.call_mut().callee = dest;
                }
            }
            self.mark_answered(at);
            return true;
        }
        false
    }

    /// A transfer event: recorded when it succeeded; the callee follows it.
    fn on_transfer(&mut self, ev: &Event) -> bool {
        if ev.get("Result").is_some_and(|r| r != "Success") {
            return false;
        }
        let print = fingerprint(ev.raw().as_text());
        if self.transfer_prints.contains(&print) {
            return false;
        }
        self.transfer_prints.push(print);
        if ev.name() == "BlindTransfer" {
            self.call_mut().transfers.push("blind".to_string());
            if let Some(target) = known(ev.get("Extension")) {
                // The transferee now reaches the target; its Dial (if any) names
                // the answering party later.
                self.call_mut().callee = Party {
                    number: Some(target.to_string()),
                    name: None,
                };
            }
        } else {
            self.call_mut().transfers.push("attended".to_string());
            self.on_attended_transfer(ev);
        }
        true
    }

    /// A completed attended transfer: the transferee now talks to the target.
    fn on_attended_transfer(&mut self, ev: &Event) {
        let target = party(
            ev.get("TransferTargetCallerIDNum"),
            ev.get("TransferTargetCallerIDName"),
        );
        let target_is_local = ev
            .get("TransferTargetChannel")
            .is_some_and(|c| c.starts_with("Local/"));
        if let Some(consulted) = self.consulted.take() {
            self.call_mut().callee = consulted;
        } else if target.number.is_some() && !target_is_local {
            self.call_mut().callee = target;
        }
    }

    fn on_hangup(&mut self, ev: &Event, uid: &str, at: DateTime<Utc>) -> CallEffect {
        let cause = ev.get("Cause").and_then(|c| c.trim().parse::<i32>().ok());
        let text = ev.get("Cause-txt").map(str::to_string);
        let index = match self.leg_index(uid) {
            Some(i) => i,
            None if !uid.is_empty() => {
                let chan = ev.channel().unwrap_or("");
                self.ensure_leg(uid, chan, ev.get("CallerIDNum"), "Down", at)
                    .0
            }
            None => return CallEffect::None,
        };
        if self.call.legs[index].ended_at.is_some() {
            return CallEffect::None;
        }
        let leg = self.leg_mut(index);
        leg.ended_at = Some(at);
        leg.hangup_cause = cause;
        leg.hangup_cause_text = text.clone();
        self.live = self.live.saturating_sub(1);
        self.bridged.retain(|u| u != uid);
        self.holds.retain(|u| u != uid);
        if index == 0 || self.call.hangup_cause.is_none() {
            self.call_mut().hangup_cause = cause;
            self.call_mut().hangup_cause_text = text;
        }
        if self.live == 0 {
            let outcome = self.outcome();
            self.finish(outcome, at);
            return CallEffect::Ended;
        }
        self.settle_state();
        CallEffect::Updated
    }

    /// How the call ended, from what was seen (answer, DialEnd status, hangup cause).
    fn outcome(&self) -> &'static str {
        if self.call.answered_at.is_some() {
            return "answered";
        }
        let cause = self.call.hangup_cause.unwrap_or(16);
        match (self.dial_status.as_deref(), cause) {
            (Some("BUSY"), _) | (_, 17) => "busy",
            (Some("CANCEL"), _) | (_, 127) => "cancelled",
            (_, 21) => "rejected",
            (Some("NOANSWER"), _) | (_, 19) | (Some(_), 0) => "noAnswer",
            (Some("CHANUNAVAIL" | "CONGESTION"), _) | (_, 3 | 1 | 34 | 38) => "failed",
            _ => "abandoned",
        }
    }

    /// Ends the call now for a reason other than its last hangup (lost while
    /// disconnected, timed out); returns the final call.
    pub fn close(&mut self, outcome: &str, at: DateTime<Utc>) -> Call {
        if !self.is_ended() {
            for leg in self
                .call_mut()
                .legs
                .iter_mut()
                .filter(|l| l.ended_at.is_none())
            {
                Arc::make_mut(leg).ended_at = Some(at);
            }
            self.live = 0;
            self.finish(outcome, at);
        }
        Call::clone(&self.call)
    }

    fn finish(&mut self, outcome: &str, at: DateTime<Utc>) {
        let end = at.max(self.call.started_at);
        self.call_mut().ended_at = Some(end);
        self.call_mut().state = CallState::Ended;
        self.call_mut().on_hold = false;
        self.call_mut().duration_secs = secs(self.call.started_at, end);
        self.call_mut().talk_secs = self.call.answered_at.map_or(0.0, |a| secs(a, end));
        self.call_mut().outcome = Some(outcome.to_string());
    }

    /// Adopts a channel reported by `CoreShowChannels` after a (re)login: a call that
    /// was already up when we connected, or that we missed while disconnected.
    /// [`Self::resync`] compares the call before and after to decide what to publish.
    fn adopt(&mut self, item: &Event, now: DateTime<Utc>) {
        let Some(uid) = item.uniqueid().filter(|u| !u.is_empty()) else {
            return;
        };
        let age = item.get("Duration").map_or(0, parse_hms);
        let started = now - chrono::Duration::seconds(age);
        let state = item.get("ChannelStateDesc").unwrap_or("Down");
        let chan = item.channel().unwrap_or("");
        let (i, added) = self.ensure_leg(uid, chan, item.get("CallerIDNum"), state, started);
        // A known leg may have moved on while we were away (answered, bridged):
        // what the PBX lists now wins.
        if !added && self.call.legs[i].state != state {
            self.leg_mut(i).state = state.to_string();
        }
        if i == 0 && added {
            self.call_mut().caller = party(item.get("CallerIDNum"), item.get("CallerIDName"));
            self.call_mut().callee =
                party(item.get("ConnectedLineNum"), item.get("ConnectedLineName"));
        }
        // The dialled number decides the direction but is not part of the stored
        // call: a call restored from the store (a restart, a take-over) learns it
        // again from its listed first channel, or `update_direction` below would
        // turn an outbound call internal.
        if i == 0 && (added || self.dialed.is_none()) {
            self.dialed = known(item.get("Exten")).map(str::to_string);
        }
        if state == "Up" {
            if self.call.legs[i].answered_at.is_none() {
                self.leg_mut(i).answered_at = Some(started);
            }
            self.mark_answered(started);
        } else if state == "Ringing" && self.call.answered_at.is_none() {
            // A listed callee being rung: the call rings, as a `Newstate` would say.
            self.set_state(CallState::Ringing);
        }
        if item.get("BridgeId").is_some_and(|b| !b.is_empty())
            && !self.bridged.iter().any(|u| u == uid)
        {
            self.bridged.push(uid.to_string());
        }
        self.update_direction();
        self.settle_state();
    }

    /// Brings the call in line with the channels the PBX listed after a (re)login:
    /// adopts the listed ones, ends the legs that vanished while we were away, and
    /// reports `Ended` when none is left.
    pub fn resync(&mut self, items: &[Event], now: DateTime<Utc>) -> CallEffect {
        // Whatever the listed channels changed is published: a leg added, or one
        // answered or bridged while we were away (which adds no leg).
        let before = Arc::clone(&self.call);
        for item in items {
            self.adopt(item, now);
        }
        let mut changed = *self.call != *before;
        let listed: Vec<&str> = items.iter().filter_map(|i| i.uniqueid()).collect();
        for leg in Arc::make_mut(&mut self.call).legs.iter_mut() {
            if leg.ended_at.is_none() && !listed.contains(&leg.uniqueid.as_str()) {
                Arc::make_mut(leg).ended_at = Some(now);
                self.live = self.live.saturating_sub(1);
                changed = true;
            }
        }
        if self.live == 0 && !self.is_ended() {
            self.bridged.clear();
            self.holds.clear();
            self.finish("lostWhileDisconnected", now);
            return CallEffect::Ended;
        }
        if changed {
            self.settle_state();
            CallEffect::Updated
        } else {
            CallEffect::None
        }
    }

    /// Uniqueids of the channels still up (resync compares them with the PBX's list).
    pub fn live_uniqueids(&self) -> impl Iterator<Item = &str> {
        self.call
            .legs
            .iter()
            .filter(|l| l.ended_at.is_none())
            .map(|l| l.uniqueid.as_str())
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

fn secs(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    ((to - from).num_microseconds().unwrap_or(0).max(0) as f64) / 1e6
}

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
