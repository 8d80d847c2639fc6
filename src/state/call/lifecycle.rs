//! How a call ends and how it is rebuilt: its outcome, closing, and the resync
//! against the PBX's own list of channels after a reconnection.

use chrono::{DateTime, Utc};

use super::*;

impl CallModel {
    /// How the call ended, from what was seen (answer, DialEnd status, hangup cause).
    pub(super) fn outcome(&self) -> CallOutcome {
        if self.call.answered_at.is_some() {
            return CallOutcome::Answered;
        }
        let cause = self.call.hangup_cause.unwrap_or(16);
        match (self.dial_status.as_deref(), cause) {
            (Some("BUSY"), _) | (_, 17) => CallOutcome::Busy,
            (Some("CANCEL"), _) | (_, 127) => CallOutcome::Cancelled,
            (_, 21) => CallOutcome::Rejected,
            (Some("NOANSWER"), _) | (_, 19) | (Some(_), 0) => CallOutcome::NoAnswer,
            (Some("CHANUNAVAIL" | "CONGESTION"), _) | (_, 3 | 1 | 34 | 38) => CallOutcome::Failed,
            _ => CallOutcome::Abandoned,
        }
    }

    /// Ends the call now for a reason other than its last hangup (lost while
    /// disconnected, timed out); returns the final call.
    pub fn close(&mut self, outcome: CallOutcome, at: DateTime<Utc>) -> Call {
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

    pub(super) fn finish(&mut self, outcome: CallOutcome, at: DateTime<Utc>) {
        let end = at.max(self.call.started_at);
        self.call_mut().ended_at = Some(end);
        self.call_mut().state = CallState::Ended;
        self.call_mut().on_hold = false;
        self.call_mut().duration_secs = secs(self.call.started_at, end);
        self.call_mut().talk_secs = self.call.answered_at.map_or(0.0, |a| secs(a, end));
        self.call_mut().outcome = Some(outcome);
    }

    /// Adopts a channel reported by `CoreShowChannels` after a (re)login: a call that
    /// was already up when we connected, or that we missed while disconnected.
    /// [`Self::resync`] compares the call before and after to decide what to publish.
    pub(super) fn adopt(&mut self, item: &Event, now: DateTime<Utc>) {
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
            self.finish(CallOutcome::LostWhileDisconnected, now);
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
