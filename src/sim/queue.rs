//! Queues on the simulated PBX: callers from outside join a queue (their channel
//! answered by the queue), wait, and are either answered by a free member — the
//! agent's extension rings and the call goes on as an ordinary inbound call — or
//! give up; members pause (with a reason) and come back. Written as `app_queue`
//! writes it (the calls-queue capture): `QueueCallerJoin`, `AgentCalled`,
//! `QueueCallerLeave`, `AgentConnect`, `QueueCallerAbandon`, `QueueMemberPause`;
//! `QueueMemberStatus` and `AgentComplete` follow the agents' devices
//! (`queue_model::device_changed`).
//!
//! The generator's queue steps draw from a random source of their own, so a
//! simulator without queues writes exactly the events it wrote before queues.

use rand::Rng;

use super::calls::{chan_event, hangup, hangup_request, set_state};
use super::model::{ChanState, Party, Pbx, Plan};
use super::queue_model::{
    epoch_secs, member_event, queue_name, QueueLink, SimCaller, SimMember, SimQueue,
};
use crate::model::{CallState, Direction};

/// Members per simulated queue.
const MEMBERS_PER_QUEUE: usize = 4;
/// Callers waiting in one queue at most (the generator stops adding at this).
const MAX_WAITING: usize = 12;
/// The reasons generated pauses give.
const PAUSE_REASONS: &[&str] = &["lunch", "break", "training"];

impl Pbx {
    /// Creates `count` queues, each with the next [`MEMBERS_PER_QUEUE`]
    /// extensions as members (queues share extensions when there are few).
    pub fn setup_queues(&mut self, count: usize) {
        if self.exts.is_empty() {
            return;
        }
        let now = epoch_secs();
        self.queues = (0..count)
            .map(|q| {
                let members = (0..MEMBERS_PER_QUEUE.min(self.exts.len()))
                    .map(|k| {
                        let ext = (q * MEMBERS_PER_QUEUE + k) % self.exts.len();
                        SimMember {
                            ext,
                            interface: self.exts[ext].hint.clone(),
                            name: self.exts[ext].name.clone(),
                            paused: None,
                            calls_taken: 0,
                            last_call: 0,
                            last_pause: 0,
                            login_time: now,
                            in_call: None,
                        }
                    })
                    .collect();
                SimQueue::new(queue_name(q), members)
            })
            .collect();
    }

    /// Queue `name`'s index.
    pub fn queue_index(&self, name: &str) -> Option<usize> {
        self.queues.iter().position(|q| q.name == name)
    }

    /// A caller from `number` joins queue `q`; returns its channel's Uniqueid.
    pub fn queue_join(&mut self, q: usize, number: &str) -> Option<String> {
        let queue_number = format!("7{q:02}");
        self.queues.get(q)?;
        self.wire.stamp();
        let mut a = self.new_channel(&Party::Outside(number.to_string()), None, &queue_number);
        a.state = ChanState::Ring;
        chan_event(&mut self.wire, "Newchannel", &a);
        set_state(&mut self.wire, &mut a, ChanState::Up);
        let queue = &mut self.queues[q];
        let position = queue.callers.len() + 1;
        self.wire
            .event("QueueCallerJoin", "agent,all")
            .channel("", &a)
            .h("Queue", &queue.name)
            .n("Position", position as i64)
            .n("Count", position as i64)
            .end();
        queue.offered += 1;
        let uid = a.uniqueid.clone();
        queue.callers.push(SimCaller {
            a,
            original_position: position,
            joined: std::time::Instant::now(),
        });
        Some(uid)
    }

    /// A free member of queue `q` (not paused, its device idle, in no call).
    fn free_member(&self, q: usize) -> Option<usize> {
        self.queues[q].members.iter().position(|m| {
            m.paused.is_none()
                && m.in_call.is_none()
                && !self.exts[m.ext].busy
                && self.exts[m.ext].status == 0
        })
    }

    /// The first caller of queue `q` is answered by a free member; false when
    /// nobody waits or no member is free.
    pub fn queue_connect(&mut self, q: usize) -> bool {
        if self.queues.get(q).is_none_or(|x| x.callers.is_empty()) {
            return false;
        }
        let Some(mi) = self.free_member(q) else {
            return false;
        };
        self.wire.stamp();
        let caller = self.queues[q].callers.remove(0);
        let ext = self.queues[q].members[mi].ext;
        let b = self.ring(&caller.a, &Party::Ext(ext));
        let (qname, interface, name) = {
            let m = &self.queues[q].members[mi];
            (
                self.queues[q].name.clone(),
                m.interface.clone(),
                m.name.clone(),
            )
        };
        self.wire
            .event("AgentCalled", "agent,all")
            .channel("", &caller.a)
            .channel("Dest", &b)
            .h("Queue", &qname)
            .h("Interface", &interface)
            .h("MemberName", &name)
            .end();
        let count = self.queues[q].callers.len();
        self.wire
            .event("QueueCallerLeave", "agent,all")
            .channel("", &caller.a)
            .h("Queue", &qname)
            .n("Position", 1)
            .n("Count", count as i64)
            .end();
        let hold = caller.waited();
        let mut call = super::model::Call {
            linkedid: caller.a.linkedid.clone(),
            caller: Party::Outside(caller.a.cid_num.clone()),
            callee: Party::Ext(ext),
            direction: Direction::Inbound,
            state: CallState::Ringing,
            a: caller.a,
            b: Some(b),
            c: None,
            bridge: None,
            bridge2: None,
            held_a: false,
            plan: Plan::Answer,
            scripted: false,
            transfers: 0,
        };
        self.answer(&mut call);
        if let Some(b) = &call.b {
            self.wire
                .event("AgentConnect", "agent,all")
                .channel("", &call.a)
                .channel("Dest", b)
                .h("Queue", &qname)
                .h("Interface", &interface)
                .h("MemberName", &name)
                .n("HoldTime", hold as i64)
                .n("RingTime", 0)
                .end();
        }
        let queue = &mut self.queues[q];
        queue.answered += 1;
        queue.total_hold += hold;
        queue.members[mi].in_call = Some(QueueLink {
            caller: call.a.clone(),
            hold_secs: hold,
            connected: std::time::Instant::now(),
        });
        self.calls.push(call);
        true
    }

    /// Caller `i` of queue `q` gives up and hangs up.
    pub fn queue_abandon(&mut self, q: usize, i: usize) -> bool {
        if self.queues.get(q).is_none_or(|x| i >= x.callers.len()) {
            return false;
        }
        self.wire.stamp();
        let caller = self.queues[q].callers.remove(i);
        let qname = self.queues[q].name.clone();
        let count = self.queues[q].callers.len();
        self.wire
            .event("QueueCallerAbandon", "agent,all")
            .channel("", &caller.a)
            .h("Queue", &qname)
            .n("Position", i as i64 + 1)
            .n("OriginalPosition", caller.original_position as i64)
            .n("HoldTime", caller.waited() as i64)
            .end();
        self.wire
            .event("QueueCallerLeave", "agent,all")
            .channel("", &caller.a)
            .h("Queue", &qname)
            .n("Position", i as i64 + 1)
            .n("Count", count as i64)
            .end();
        hangup_request(&mut self.wire, false, &caller.a, 16);
        hangup(&mut self.wire, &caller.a, 16);
        self.queues[q].abandoned += 1;
        *self.finished.entry("abandoned".to_string()).or_default() += 1;
        true
    }

    /// Pauses member `interface` of queue `q` with `reason` (`Some`), or unpauses
    /// it (`None`); false when there is no such member or nothing changes.
    pub fn queue_pause(&mut self, q: usize, interface: &str, reason: Option<&str>) -> bool {
        let Some(queue) = self.queues.get_mut(q) else {
            return false;
        };
        let Some(m) = queue.members.iter_mut().find(|m| m.interface == interface) else {
            return false;
        };
        if m.paused.as_deref() == reason {
            return false;
        }
        m.paused = reason.map(str::to_string);
        if reason.is_some() {
            m.last_pause = epoch_secs();
        }
        let (name, member, status) = (queue.name.clone(), m.clone(), self.exts[m.ext].status);
        self.wire.stamp();
        member_event(&mut self.wire, "QueueMemberPause", &name, &member, status);
        true
    }

    /// One generated queue step (its own random source); false when it did nothing.
    pub fn queue_step(&mut self) -> bool {
        if self.queues.is_empty() || !self.queue_rng.gen_bool(0.4) {
            return false;
        }
        let q = self.queue_rng.gen_range(0..self.queues.len());
        let roll: f64 = self.queue_rng.gen();
        if roll < 0.4 {
            if self.queues[q].callers.len() >= MAX_WAITING {
                return false;
            }
            let number = format!("0{:010}", self.queue_rng.gen_range(0..10_000_000_000u64));
            self.queue_join(q, &number).is_some()
        } else if roll < 0.8 {
            self.queue_connect(q)
        } else if roll < 0.9 {
            let waiting = self.queues[q].callers.len();
            waiting > 0 && {
                let i = self.queue_rng.gen_range(0..waiting);
                self.queue_abandon(q, i)
            }
        } else {
            let members = self.queues[q].members.len();
            if members == 0 {
                return false;
            }
            let mi = self.queue_rng.gen_range(0..members);
            let m = &self.queues[q].members[mi];
            let interface = m.interface.clone();
            let reason = match m.paused {
                Some(_) => None,
                None => Some(PAUSE_REASONS[self.queue_rng.gen_range(0..PAUSE_REASONS.len())]),
            };
            self.queue_pause(q, &interface, reason)
        }
    }
}
