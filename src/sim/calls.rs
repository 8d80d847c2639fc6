//! A call's life from first ring to last hangup, written as Asterisk's events.
//!
//! Each function is one step of a call and writes exactly the event sequence the
//! real Asterisk 22 captures show for it (fixture README, "Protocol facts"): the
//! dial events, DialEnd statuses and hangup causes of each outcome, the bridge
//! enter/leave pairs, hold with music on the peer. Transfers are in `transfer.rs`.

use super::model::{ChanState, Channel, Party, Pbx, Plan};
use super::wire::Wire;
use crate::model::{CallState, Direction};

/// Privilege of call events.
pub const CALL: &str = "call,all";
/// Privilege of dialplan events (Newexten, VarSet).
pub const DIALPLAN: &str = "dialplan,all";

/// The `Cause-txt` Asterisk prints for a hangup cause.
pub fn cause_text(cause: u16) -> &'static str {
    match cause {
        3 => "No route to destination",
        16 => "Normal Clearing",
        17 => "User busy",
        19 => "User alerting, no answer",
        21 => "Call Rejected",
        127 => "Interworking, unspecified",
        _ => "Unknown",
    }
}

/// Writes a one-channel event with nothing after the channel block.
pub fn chan_event(w: &mut Wire, name: &str, ch: &Channel) {
    w.event(name, CALL).channel("", ch).end();
}

/// Writes `Newstate` after changing the channel's state.
pub fn set_state(w: &mut Wire, ch: &mut Channel, state: ChanState) {
    ch.state = state;
    chan_event(w, "Newstate", ch);
}

/// Writes a DialBegin/DialState/DialEnd; `status` is the DialStatus, or `None` for
/// DialBegin (which carries `DialString` instead).
pub fn dial_event(w: &mut Wire, name: &str, a: &Channel, b: &Channel, status: Option<&str>) {
    w.event(name, CALL).channel("", a).channel("Dest", b);
    match status {
        Some(s) => w.h("DialStatus", s),
        None => w.h("DialString", &b.exten),
    };
    w.end();
}

/// Writes `HangupRequest` or `SoftHangupRequest` with a cause.
pub fn hangup_request(w: &mut Wire, soft: bool, ch: &Channel, cause: u16) {
    let name = if soft {
        "SoftHangupRequest"
    } else {
        "HangupRequest"
    };
    w.event(name, CALL)
        .channel("", ch)
        .n("Cause", i64::from(cause))
        .end();
}

/// Writes the final `Hangup` with its cause.
pub fn hangup(w: &mut Wire, ch: &Channel, cause: u16) {
    w.event("Hangup", CALL)
        .channel("", ch)
        .n("Cause", i64::from(cause))
        .h("Cause-txt", cause_text(cause))
        .end();
}

/// Writes `BridgeEnter`/`BridgeLeave` for one channel.
pub fn bridge_member(w: &mut Wire, name: &str, bridge: &str, members: usize, ch: &Channel) {
    w.event(name, CALL)
        .bridge("", bridge, members)
        .channel("", ch)
        .end();
}

/// Writes `BridgeCreate`/`BridgeDestroy`.
pub fn bridge_life(w: &mut Wire, name: &str, bridge: &str, members: usize) {
    w.event(name, CALL).bridge("", bridge, members).end();
}

impl Pbx {
    /// Number a party is dialled as.
    pub fn party_number(&self, p: &Party) -> String {
        match p {
            Party::Ext(i) => self.exts[*i].number.clone(),
            Party::Outside(n) => n.clone(),
        }
    }

    /// Starts a call that rings (or fails at once when the callee's device is
    /// unavailable); returns its Linkedid.
    pub fn start_call(
        &mut self,
        caller: Party,
        callee: Party,
        plan: Plan,
        scripted: bool,
    ) -> String {
        self.wire.stamp();
        let dialled = self.party_number(&callee);
        let mut a = self.new_channel(&caller, None, &dialled);
        a.state = ChanState::Ring;
        let linkedid = a.linkedid.clone();
        let direction = match (&caller, &callee) {
            (Party::Ext(_), Party::Ext(_)) => Direction::Internal,
            (Party::Outside(_), _) => Direction::Inbound,
            (_, Party::Outside(_)) => Direction::Outbound,
        };
        chan_event(&mut self.wire, "Newchannel", &a);
        if let Some(i) = a.ext {
            self.exts[i].busy = true;
            self.set_status(i, 1);
        }
        let tech = match &callee {
            Party::Ext(_) => format!("PJSIP/{dialled},30"),
            Party::Outside(n) => format!("PJSIP/{n}@trunk,60"),
        };
        self.wire
            .event("Newexten", DIALPLAN)
            .channel("", &a)
            .h("Extension", &dialled)
            .h("Application", "Dial")
            .h("AppData", &tech)
            .end();
        let mut call = super::model::Call {
            linkedid: linkedid.clone(),
            caller,
            callee: callee.clone(),
            direction,
            state: CallState::Ringing,
            a,
            b: None,
            c: None,
            bridge: None,
            bridge2: None,
            held_a: false,
            plan,
            scripted,
            transfers: 0,
        };
        let offline = matches!(callee, Party::Ext(i) if self.exts[i].status == 4);
        if offline {
            self.wire
                .event("VarSet", DIALPLAN)
                .channel("", &call.a)
                .h("Variable", "DIALSTATUS")
                .h("Value", "CHANUNAVAIL")
                .end();
            call.state = CallState::Dialing;
        } else {
            let b = self.ring(&call.a, &callee);
            call.b = Some(b);
        }
        self.calls.push(call);
        linkedid
    }

    /// Creates and rings the callee channel for caller channel `a`.
    pub fn ring(&mut self, a: &Channel, callee: &Party) -> Channel {
        let dialled = self.party_number(callee);
        let mut b = self.new_channel(callee, Some(&a.linkedid), &dialled);
        b.conn_num.clone_from(&a.cid_num);
        b.conn_name.clone_from(&a.cid_name);
        chan_event(&mut self.wire, "Newchannel", &b);
        dial_event(&mut self.wire, "DialBegin", a, &b, None);
        set_state(&mut self.wire, &mut b, ChanState::Ringing);
        dial_event(&mut self.wire, "DialState", a, &b, Some("RINGING"));
        if let Party::Ext(i) = callee {
            self.exts[*i].busy = true;
            self.set_status(*i, 8);
        }
        b
    }

    /// Ends the ringing phase by the call's plan; returns the outcome if it ended.
    pub fn resolve(&mut self, call: &mut super::model::Call) -> Option<&'static str> {
        if call.state == CallState::Dialing {
            return Some(self.fail_unavailable(call));
        }
        match call.plan {
            Plan::Answer => {
                self.answer(call);
                None
            }
            Plan::NoAnswer => Some(self.no_answer(call)),
            Plan::Busy => Some(self.busy(call)),
            Plan::Cancel => Some(self.cancel(call)),
        }
    }

    /// The callee answers: DialEnd ANSWER, both Up, a new bridge with both in it.
    pub fn answer(&mut self, call: &mut super::model::Call) {
        let Some(b) = call.b.as_mut() else {
            return;
        };
        let w = &mut self.wire;
        set_state(w, b, ChanState::Up);
        call.a.conn_num.clone_from(&b.cid_num);
        call.a.conn_name.clone_from(&b.cid_name);
        dial_event(w, "DialEnd", &call.a, b, Some("ANSWER"));
        if call.a.state != ChanState::Up {
            set_state(w, &mut call.a, ChanState::Up);
        }
        let bridge = self.new_bridge_id();
        let w = &mut self.wire;
        bridge_life(w, "BridgeCreate", &bridge, 0);
        bridge_member(w, "BridgeEnter", &bridge, 1, b);
        bridge_member(w, "BridgeEnter", &bridge, 2, &call.a);
        let ext = b.ext;
        call.bridge = Some(bridge);
        call.state = CallState::Bridged;
        if let Some(i) = ext {
            self.set_status(i, 1);
        }
    }

    /// Dial timeout: DialEnd NOANSWER, the ringing leg dropped (cause 0), the caller
    /// ended by the dialplan (16).
    pub fn no_answer(&mut self, call: &mut super::model::Call) -> &'static str {
        if let Some(b) = &call.b {
            dial_event(&mut self.wire, "DialEnd", &call.a, b, Some("NOANSWER"));
            hangup(&mut self.wire, b, 0);
        }
        self.release(call.b.as_ref().and_then(|b| b.ext));
        hangup_request(&mut self.wire, true, &call.a, 16);
        hangup(&mut self.wire, &call.a, 16);
        self.release(call.a.ext);
        "noAnswer"
    }

    /// The callee rejects with 486: DialEnd BUSY, both legs hang up with 17.
    pub fn busy(&mut self, call: &mut super::model::Call) -> &'static str {
        if let Some(b) = &call.b {
            dial_event(&mut self.wire, "DialEnd", &call.a, b, Some("BUSY"));
            hangup_request(&mut self.wire, false, b, 17);
            hangup(&mut self.wire, b, 17);
        }
        self.release(call.b.as_ref().and_then(|b| b.ext));
        hangup_request(&mut self.wire, true, &call.a, 16);
        hangup(&mut self.wire, &call.a, 17);
        self.release(call.a.ext);
        "busy"
    }

    /// The caller gives up while it rings: DialEnd CANCEL, cause 127 on both legs.
    pub fn cancel(&mut self, call: &mut super::model::Call) -> &'static str {
        hangup_request(&mut self.wire, false, &call.a, 127);
        if let Some(b) = &call.b {
            dial_event(&mut self.wire, "DialEnd", &call.a, b, Some("CANCEL"));
            hangup(&mut self.wire, b, 127);
        }
        self.release(call.b.as_ref().and_then(|b| b.ext));
        hangup(&mut self.wire, &call.a, 127);
        self.release(call.a.ext);
        "cancelled"
    }

    /// The callee's device is unavailable: no callee channel, caller cause 3.
    pub fn fail_unavailable(&mut self, call: &mut super::model::Call) -> &'static str {
        hangup_request(&mut self.wire, true, &call.a, 16);
        hangup(&mut self.wire, &call.a, 3);
        self.release(call.a.ext);
        "failed"
    }

    /// A talking call ends: the ender hangs up (16), the bridge empties, the other
    /// side is hung up (16). A ringing or failing call ends as cancelled / failed.
    pub fn hangup_call(&mut self, call: &mut super::model::Call, ender_is_a: bool) -> &'static str {
        match call.state {
            CallState::Ringing => return self.cancel(call),
            CallState::Dialing => return self.fail_unavailable(call),
            _ => {}
        }
        self.drop_consultation(call);
        let Some(b) = call.b.take() else {
            hangup(&mut self.wire, &call.a, 16);
            self.release(call.a.ext);
            return "answered";
        };
        let bridge = call.bridge.take().unwrap_or_default();
        let w = &mut self.wire;
        if call.state == CallState::OnHold {
            let peer = if call.held_a { &b } else { &call.a };
            chan_event(w, "MusicOnHoldStop", peer);
        }
        let (ender, other) = if ender_is_a {
            (&call.a, &b)
        } else {
            (&b, &call.a)
        };
        hangup_request(w, false, ender, 16);
        bridge_member(w, "BridgeLeave", &bridge, 1, ender);
        hangup(w, ender, 16);
        hangup_request(w, true, other, 16);
        bridge_member(w, "BridgeLeave", &bridge, 0, other);
        bridge_life(w, "BridgeDestroy", &bridge, 0);
        hangup(w, other, 16);
        let (ea, eb) = (call.a.ext, b.ext);
        call.b = Some(b);
        self.release(ea);
        self.release(eb);
        "answered"
    }

    /// A channel of extension `ext` is gone: the extension is idle again (unless its
    /// device went unavailable meanwhile).
    pub fn release(&mut self, ext: Option<usize>) {
        if let Some(i) = ext {
            self.exts[i].busy = false;
            if self.exts[i].status != 4 {
                self.set_status(i, 0);
            }
        }
    }
}
