//! The simulated PBX's queues as data ([`SimQueue`]), and how Asterisk's
//! `app_queue` writes a member: the same fields in the `QueueMember*` events and
//! the `QueueMember` list items. A leaf next to `channel.rs`, so the model can call
//! [`device_changed`] from its extension-state writer without pointing at the
//! queue behaviour in `queue.rs`.

use std::time::Instant;

use super::channel::Channel;
use super::wire::Wire;

/// Queue names the simulator gives its queues, in order (then `queue6`, …).
const NAMES: &[&str] = &["support", "sales", "billing", "tech", "vip"];

/// The name of queue number `i`.
pub fn queue_name(i: usize) -> String {
    NAMES
        .get(i)
        .map_or_else(|| format!("queue{}", i + 1), |n| (*n).to_string())
}

/// A queue caller an agent is talking to (for `AgentComplete`).
#[derive(Debug, Clone)]
pub struct QueueLink {
    /// The caller's channel.
    pub caller: Channel,
    /// Seconds it had waited.
    pub hold_secs: u64,
    /// When the agent answered.
    pub connected: Instant,
}

/// One member (agent): an extension's device.
#[derive(Debug, Clone)]
pub struct SimMember {
    /// Index of its extension.
    pub ext: usize,
    /// `PJSIP/1001`.
    pub interface: String,
    /// The name the queue shows (the extension's display name).
    pub name: String,
    /// Paused, with its reason (empty when none was given).
    pub paused: Option<String>,
    /// Queue calls completed.
    pub calls_taken: u64,
    /// Epoch seconds of the last completed queue call (0: none).
    pub last_call: u64,
    /// Epoch seconds of the last pause (0: none).
    pub last_pause: u64,
    /// Epoch seconds it joined the queue.
    pub login_time: u64,
    /// The queue caller it talks to now.
    pub in_call: Option<QueueLink>,
}

/// One caller waiting.
#[derive(Debug, Clone)]
pub struct SimCaller {
    /// Its channel (answered by the queue, so Up).
    pub a: Channel,
    /// Its position when it joined.
    pub original_position: usize,
    /// When it joined.
    pub joined: Instant,
}

impl SimCaller {
    /// Seconds waited so far.
    pub fn waited(&self) -> u64 {
        self.joined.elapsed().as_secs()
    }
}

/// One queue.
#[derive(Debug, Clone)]
pub struct SimQueue {
    /// `support`.
    pub name: String,
    /// Members in configuration order.
    pub members: Vec<SimMember>,
    /// Callers, position 1 first.
    pub callers: Vec<SimCaller>,
    /// Callers who joined.
    pub offered: u64,
    /// Callers answered.
    pub answered: u64,
    /// Callers who gave up.
    pub abandoned: u64,
    /// Sum of the answered callers' waits, seconds.
    pub total_hold: u64,
}

impl SimQueue {
    /// An empty queue with `members`.
    pub fn new(name: String, members: Vec<SimMember>) -> Self {
        Self {
            name,
            members,
            callers: Vec::new(),
            offered: 0,
            answered: 0,
            abandoned: 0,
            total_hold: 0,
        }
    }
}

/// Seconds since the epoch.
pub fn epoch_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The device state number (`Status:` of a member) of a hint status.
pub fn device_status(hint_status: i32) -> i64 {
    match hint_status {
        0 => 1,
        1 => 2,
        2 => 3,
        4 => 5,
        8 => 6,
        9 => 7,
        16 | 17 => 8,
        _ => 0,
    }
}

/// The member fields after `Queue`, as an event (`list` false: `MemberName`,
/// `Interface`, `Ringinuse`) or a `QueueMember` list item (`Name`, `Location`).
pub fn member_fields(w: &mut Wire, m: &SimMember, hint_status: i32, list: bool) {
    if list {
        w.h("Name", &m.name).h("Location", &m.interface);
    } else {
        w.h("MemberName", &m.name).h("Interface", &m.interface);
    }
    w.h("StateInterface", &m.interface)
        .h("Membership", "static")
        .h("Penalty", "0")
        .n("CallsTaken", m.calls_taken as i64)
        .n("LastCall", m.last_call as i64)
        .n("LastPause", m.last_pause as i64)
        .n("LoginTime", m.login_time as i64)
        .n("InCall", i64::from(m.in_call.is_some()))
        .n("Status", device_status(hint_status))
        .n("Paused", i64::from(m.paused.is_some()))
        .h("PausedReason", m.paused.as_deref().unwrap_or(""));
    if !list {
        w.h("Ringinuse", "0");
    }
    w.h("Wrapuptime", "0");
}

/// Writes a member event (`QueueMemberStatus`, `QueueMemberPause`) of queue `q`.
pub fn member_event(w: &mut Wire, name: &str, q: &str, m: &SimMember, hint_status: i32) {
    w.event(name, "agent,all").h("Queue", q);
    member_fields(w, m, hint_status, false);
    w.end();
}

/// Extension `ext`'s device changed to `hint_status`: every queue it is a member
/// of says so (`QueueMemberStatus`), as `app_queue` does; a member back to idle
/// after a queue call completes it first (`AgentComplete`, one more call taken).
pub fn device_changed(queues: &mut [SimQueue], w: &mut Wire, ext: usize, hint_status: i32) {
    for q in queues.iter_mut() {
        for m in q.members.iter_mut().filter(|m| m.ext == ext) {
            if hint_status == 0 {
                if let Some(link) = m.in_call.take() {
                    m.calls_taken += 1;
                    m.last_call = epoch_secs();
                    w.event("AgentComplete", "agent,all")
                        .channel("", &link.caller)
                        .h("Queue", &q.name)
                        .h("Interface", &m.interface)
                        .h("MemberName", &m.name)
                        .n("HoldTime", link.hold_secs as i64)
                        .n("TalkTime", link.connected.elapsed().as_secs() as i64)
                        .h("Reason", "agent")
                        .end();
                }
            }
            member_event(w, "QueueMemberStatus", &q.name, m, hint_status);
        }
    }
}
