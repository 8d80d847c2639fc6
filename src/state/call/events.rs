//! The per-event rules of [`CallModel::apply`]: one handler per AMI event that
//! changes a call (channels, dials, transfers, hangups).

use chrono::{DateTime, Utc};

use super::*;

impl CallModel {
    pub(super) fn on_newchannel(&mut self, ev: &Event, uid: &str, at: DateTime<Utc>) -> bool {
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

    pub(super) fn on_newstate(&mut self, ev: &Event, uid: &str, at: DateTime<Utc>) -> bool {
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

    pub(super) fn on_callerid(&mut self, ev: &Event, uid: &str) -> bool {
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

    pub(super) fn on_dial_begin(&mut self, ev: &Event, at: DateTime<Utc>) -> bool {
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

    pub(super) fn on_dial_end(&mut self, ev: &Event, at: DateTime<Utc>) -> bool {
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
    pub(super) fn on_transfer(&mut self, ev: &Event) -> bool {
        if ev.get("Result").is_some_and(|r| r != "Success") {
            return false;
        }
        let print = fingerprint(ev.raw().as_text());
        if self.transfer_prints.contains(&print) {
            return false;
        }
        self.transfer_prints.push(print);
        if ev.name() == "BlindTransfer" {
            self.call_mut().transfers.push(TransferKind::Blind);
            if let Some(target) = known(ev.get("Extension")) {
                // The transferee now reaches the target; its Dial (if any) names
                // the answering party later.
                self.call_mut().callee = Party {
                    number: Some(target.to_string()),
                    name: None,
                };
            }
        } else {
            self.call_mut().transfers.push(TransferKind::Attended);
            self.on_attended_transfer(ev);
        }
        true
    }

    /// A completed attended transfer: the transferee now talks to the target.
    pub(super) fn on_attended_transfer(&mut self, ev: &Event) {
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

    pub(super) fn on_hangup(&mut self, ev: &Event, uid: &str, at: DateTime<Utc>) -> CallEffect {
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
}
