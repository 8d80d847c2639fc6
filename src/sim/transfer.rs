//! Hold, blind transfer and attended transfer of a talking call.
//!
//! Event shapes follow the calls-hold and calls-transfer captures: `Hold` (with
//! `MusicClass`) on the holder and `MusicOnHoldStart` on the bridged peer; a blind
//! transfer is an `Unhold` on the transferer, `BlindTransfer`, the transferer's
//! hangup and a fresh Dial from the transferee that keeps the call's Linkedid; an
//! attended transfer holds the transferee, rings the target on a consultation
//! channel with the same Linkedid, and on completion writes `AttendedTransfer`
//! (`DestType: Bridge`) and moves the target into the original bridge.

use super::calls::{bridge_life, bridge_member, chan_event, hangup, set_state, CALL};
use super::model::{Call, ChanState, Party, Pbx, Plan};
use crate::model::CallState;

impl Pbx {
    /// `holder_a`: the caller puts the callee on hold (else the callee the caller).
    pub fn hold(&mut self, call: &mut Call, holder_a: bool) {
        let Some(b) = &call.b else {
            return;
        };
        let (holder, peer) = if holder_a { (&call.a, b) } else { (b, &call.a) };
        self.wire
            .event("Hold", CALL)
            .channel("", holder)
            .h("MusicClass", "default")
            .end();
        self.wire
            .event("MusicOnHoldStart", CALL)
            .channel("", peer)
            .h("Class", "default")
            .end();
        let ext = holder.ext;
        call.held_a = holder_a;
        call.state = CallState::OnHold;
        if let Some(i) = ext {
            self.set_status(i, 16);
        }
    }

    /// The holder takes the call back: `Unhold`, `MusicOnHoldStop` on the peer.
    pub fn unhold(&mut self, call: &mut Call) {
        let Some(b) = &call.b else {
            return;
        };
        let (holder, peer) = if call.held_a {
            (&call.a, b)
        } else {
            (b, &call.a)
        };
        chan_event(&mut self.wire, "Unhold", holder);
        chan_event(&mut self.wire, "MusicOnHoldStop", peer);
        let ext = holder.ext;
        call.state = CallState::Bridged;
        if let Some(i) = ext {
            self.set_status(i, 1);
        }
    }

    /// Puts the transferee in `a` (the dialling side) and the transferer in `b`;
    /// false when neither side is a local extension that could transfer.
    fn orient_for_transfer(call: &mut Call) -> bool {
        let b_local = call.b.as_ref().is_some_and(|b| b.ext.is_some());
        if b_local {
            return true;
        }
        if call.a.ext.is_none() {
            return false;
        }
        if let Some(b) = call.b.take() {
            let a = std::mem::replace(&mut call.a, b);
            call.b = Some(a);
            std::mem::swap(&mut call.caller, &mut call.callee);
            call.held_a = !call.held_a;
        }
        true
    }

    /// The callee (or the caller, when the callee is outside) blind-transfers the other
    /// party to extension `target`, which then rings.
    pub fn blind_transfer(&mut self, call: &mut Call, target: usize) {
        if call.state != CallState::Bridged || !Self::orient_for_transfer(call) {
            return;
        }
        let (Some(b), Some(bridge)) = (call.b.take(), call.bridge.take()) else {
            return;
        };
        let w = &mut self.wire;
        chan_event(w, "Unhold", &b);
        w.event("BlindTransfer", CALL)
            .h("Result", "Success")
            .channel("Transferer", &b)
            .channel("Transferee", &call.a)
            .bridge("", &bridge, 2)
            .h("IsExternal", "Yes")
            .h("Context", &self.context)
            .h("Extension", &self.exts[target].number)
            .end();
        bridge_member(w, "BridgeLeave", &bridge, 1, &b);
        hangup(w, &b, 16);
        bridge_member(w, "BridgeLeave", &bridge, 0, &call.a);
        bridge_life(w, "BridgeDestroy", &bridge, 0);
        self.release(b.ext);
        let callee = Party::Ext(target);
        call.a.exten = self.exts[target].number.clone();
        let nb = self.ring(&call.a, &callee);
        call.b = Some(nb);
        call.callee = callee;
        call.state = CallState::Ringing;
        call.plan = Plan::Answer;
        call.transfers += 1;
    }

    /// Attended transfer, first step: the transferer holds the transferee and a
    /// consultation channel rings `target`.
    pub fn attended_begin(&mut self, call: &mut Call, target: usize) {
        if call.state != CallState::Bridged || !Self::orient_for_transfer(call) {
            return;
        }
        self.hold(call, false);
        let callee = Party::Ext(target);
        let number = self.exts[target].number.clone();
        let mut c = self.new_channel(&callee, Some(&call.linkedid), &number);
        if let Some(b) = &call.b {
            c.conn_num.clone_from(&b.cid_num);
            c.conn_name.clone_from(&b.cid_name);
        }
        chan_event(&mut self.wire, "Newchannel", &c);
        set_state(&mut self.wire, &mut c, ChanState::Ringing);
        self.exts[target].busy = true;
        self.set_status(target, 8);
        call.c = Some(c);
    }

    /// Attended transfer, second step: the target answers the consultation.
    pub fn attended_answer(&mut self, call: &mut Call) {
        let Some(c) = call.c.as_mut() else {
            return;
        };
        set_state(&mut self.wire, c, ChanState::Up);
        let ext = c.ext;
        let bridge = self.new_bridge_id();
        if let Some(c) = &call.c {
            bridge_life(&mut self.wire, "BridgeCreate", &bridge, 0);
            bridge_member(&mut self.wire, "BridgeEnter", &bridge, 1, c);
        }
        call.bridge2 = Some(bridge);
        if let Some(i) = ext {
            self.set_status(i, 1);
        }
    }

    /// Attended transfer, last step: the transferer leaves, the target takes its place
    /// in the original bridge with the transferee.
    pub fn attended_complete(&mut self, call: &mut Call) {
        let (Some(b), Some(c), Some(bridge), Some(bridge2)) = (
            call.b.take(),
            call.c.take(),
            call.bridge.clone(),
            call.bridge2.take(),
        ) else {
            return;
        };
        let w = &mut self.wire;
        chan_event(w, "MusicOnHoldStop", &call.a);
        w.event("AttendedTransfer", CALL)
            .h("Result", "Success")
            .channel("OrigTransferer", &b)
            .bridge("Orig", &bridge, 2)
            .channel("SecondTransferer", &b)
            .bridge("Second", &bridge2, 1)
            .channel("Transferee", &call.a)
            .channel("TransferTarget", &c)
            .h("IsExternal", "No")
            .h("DestType", "Bridge")
            .h("DestBridgeUniqueid", &bridge)
            .end();
        bridge_member(w, "BridgeLeave", &bridge, 1, &b);
        hangup(w, &b, 16);
        bridge_member(w, "BridgeLeave", &bridge2, 0, &c);
        bridge_life(w, "BridgeDestroy", &bridge2, 0);
        bridge_member(w, "BridgeEnter", &bridge, 2, &c);
        self.release(b.ext);
        if let Some(i) = c.ext {
            call.callee = Party::Ext(i);
        }
        call.b = Some(c);
        call.state = CallState::Bridged;
        call.transfers += 1;
    }

    /// Hangs up a consultation channel (the call ends during an attended transfer).
    pub fn drop_consultation(&mut self, call: &mut Call) {
        let Some(c) = call.c.take() else {
            return;
        };
        if let Some(bridge2) = call.bridge2.take() {
            bridge_member(&mut self.wire, "BridgeLeave", &bridge2, 0, &c);
            bridge_life(&mut self.wire, "BridgeDestroy", &bridge2, 0);
        }
        hangup(&mut self.wire, &c, 16);
        self.release(c.ext);
    }
}
