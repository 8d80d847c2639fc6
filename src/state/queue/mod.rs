//! Queue state as plain code: what each queue event and each `QueueStatus` /
//! `QueueSummary` answer does to a PBX's queues ([`QueueBook`]).
//!
//! Live events keep the book current; the lists read at every login and resync
//! replace members and callers wholesale (what happened while disconnected is
//! unknown), while today's figures, which only events can count, are kept.

pub mod day;
pub mod member;

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

use crate::ami::Event;
use crate::model::queue::{MemberState, Queue, QueueCaller, QueueDay, QueueMember};
use crate::state::event_time;
use member::read_member;

/// Queues one PBX may have in the book; events naming more are ignored (a hostile
/// or broken peer cannot grow memory without bound).
pub const MAX_QUEUES: usize = 1_000;
/// Callers one queue may hold waiting.
pub const MAX_CALLERS: usize = 10_000;
/// Members one queue may have.
pub const MAX_MEMBERS: usize = 5_000;

/// The queue events the book reads (each also listed in
/// [`crate::ami::event_names::QUEUE_EVENTS`]).
pub fn is_queue_event(name: &str) -> bool {
    crate::ami::event_names::QUEUE_EVENTS.contains(&name)
}

/// One queue as a status list describes it: strategy, members, callers.
type Listed = (Option<String>, Vec<QueueMember>, Vec<QueueCaller>);

/// Every queue of one PBX.
#[derive(Debug, Clone)]
pub struct QueueBook {
    pbx: String,
    sla_secs: u64,
    queues: BTreeMap<String, Queue>,
}

fn secs(value: Option<&str>) -> Option<u64> {
    value?.trim().parse().ok()
}

fn text(value: Option<&str>) -> Option<String> {
    value
        .map(str::trim)
        .filter(|v| !v.is_empty() && *v != "<unknown>")
        .map(str::to_string)
}

impl QueueBook {
    /// An empty book for `pbx`; answered within `sla_secs` counts toward the
    /// service level.
    pub fn new(pbx: &str, sla_secs: u64) -> Self {
        Self {
            pbx: pbx.to_string(),
            sla_secs,
            queues: BTreeMap::new(),
        }
    }

    /// The queues, by name.
    pub fn queues(&self) -> impl Iterator<Item = &Queue> {
        self.queues.values()
    }

    /// Queue `name` as of `at` (its callers' waits counted up to then).
    pub fn picture(&self, name: &str, at: DateTime<Utc>) -> Option<Queue> {
        self.queues.get(name).map(|q| q.as_of(at))
    }

    /// Queue `name`, created on first sight unless the book is full.
    fn queue_mut(&mut self, name: &str, at: DateTime<Utc>) -> Option<&mut Queue> {
        if !self.queues.contains_key(name) {
            if self.queues.len() >= MAX_QUEUES {
                return None;
            }
            self.queues.insert(
                name.to_string(),
                Queue {
                    pbx: self.pbx.clone(),
                    name: name.to_string(),
                    strategy: None,
                    callers: Vec::new(),
                    members: Vec::new(),
                    today: QueueDay::new(at.date_naive(), self.sla_secs),
                    updated_at: at,
                    removed: false,
                },
            );
        }
        self.queues.get_mut(name)
    }

    /// Applies one live event; returns the name of the queue it changed.
    pub fn apply(&mut self, ev: &Event, now: DateTime<Utc>) -> Option<String> {
        let name = ev.get("Queue").map(str::trim).filter(|q| !q.is_empty())?;
        let at = event_time(ev, now);
        let q = self.queue_mut(name, at)?;
        match ev.name() {
            "QueueCallerJoin" => {
                let uid = ev.uniqueid()?.to_string();
                q.callers.retain(|c| c.uniqueid != uid);
                if q.callers.len() >= MAX_CALLERS {
                    return None;
                }
                let position = ev
                    .get("Position")
                    .and_then(|p| p.trim().parse::<usize>().ok())
                    .unwrap_or(usize::MAX);
                let index = position.saturating_sub(1).min(q.callers.len());
                q.callers.insert(
                    index,
                    QueueCaller {
                        position: 0,
                        uniqueid: uid,
                        channel: ev.channel().unwrap_or("").to_string(),
                        caller_number: text(ev.get("CallerIDNum")),
                        caller_name: text(ev.get("CallerIDName")),
                        joined_at: at,
                        wait_secs: 0,
                    },
                );
                renumber(q);
                day::offered(&mut q.today, at);
                day::waiting(&mut q.today, at, q.callers.len());
            }
            "QueueCallerLeave" => {
                let uid = ev.uniqueid()?;
                q.callers.retain(|c| c.uniqueid != uid);
                renumber(q);
                day::waiting(&mut q.today, at, q.callers.len());
            }
            "QueueCallerAbandon" => {
                let uid = ev.uniqueid()?;
                let joined = q
                    .callers
                    .iter()
                    .find(|c| c.uniqueid == uid)
                    .map(|c| c.joined_at);
                let wait = secs(ev.get("HoldTime"))
                    .or_else(|| joined.map(|j| (at - j).num_seconds().max(0) as u64))
                    .unwrap_or(0);
                q.callers.retain(|c| c.uniqueid != uid);
                renumber(q);
                day::abandoned(&mut q.today, at, wait);
                day::waiting(&mut q.today, at, q.callers.len());
            }
            "AgentConnect" => {
                let wait = secs(ev.get("HoldTime")).unwrap_or(0);
                day::answered(&mut q.today, at, wait);
            }
            "AgentCalled" => {
                let m = member_of(q, ev)?;
                if m.state != MemberState::Free {
                    return None;
                }
                m.state = MemberState::Ringing;
            }
            "AgentRingNoAnswer" => {
                let m = member_of(q, ev)?;
                if m.state != MemberState::Ringing {
                    return None;
                }
                m.state = MemberState::Free;
            }
            "AgentComplete" => {
                let m = member_of(q, ev)?;
                m.calls_taken += 1;
                m.last_call = Some(at);
            }
            "QueueMemberRemoved" => {
                let gone = read_member(ev)?;
                q.members.retain(|m| m.interface != gone.interface);
            }
            "QueueMemberStatus"
            | "QueueMemberPause"
            | "QueueMemberAdded"
            | "QueueMemberPenalty"
            | "QueueMemberRinginuse" => {
                let new = read_member(ev)?;
                match q.members.iter().position(|m| m.interface == new.interface) {
                    Some(i) if q.members[i] == new => return None,
                    Some(i) => q.members[i] = new,
                    None if q.members.len() < MAX_MEMBERS => q.members.push(new),
                    None => return None,
                }
            }
            _ => return None,
        }
        q.updated_at = at;
        Some(q.name.clone())
    }

    /// Rebuilds members and callers from a `QueueStatus` list (`QueueParams`,
    /// `QueueMember`, `QueueEntry` items). Queues it does not name are gone from
    /// the PBX: they are returned once with `removed` set and leave the book.
    /// Returns every queue that changed, as of `now`.
    pub fn resync_status(&mut self, items: &[Event], now: DateTime<Utc>) -> Vec<Queue> {
        let mut fresh: BTreeMap<String, Listed> = BTreeMap::new();
        for item in items {
            let Some(name) = item.get("Queue").map(str::trim).filter(|q| !q.is_empty()) else {
                continue;
            };
            if fresh.len() >= MAX_QUEUES && !fresh.contains_key(name) {
                continue;
            }
            let entry = fresh.entry(name.to_string()).or_default();
            match item.name() {
                "QueueParams" => entry.0 = text(item.get("Strategy")),
                // A list naming a member or caller twice (not Asterisk's doing) keeps
                // the first.
                "QueueMember" if entry.1.len() < MAX_MEMBERS => {
                    if let Some(m) = read_member(item) {
                        if !entry.1.iter().any(|x| x.interface == m.interface) {
                            entry.1.push(m);
                        }
                    }
                }
                "QueueEntry" if entry.2.len() < MAX_CALLERS => {
                    let Some(uid) = item.uniqueid() else { continue };
                    if entry.2.iter().any(|c| c.uniqueid == uid) {
                        continue;
                    }
                    let wait = secs(item.get("Wait")).unwrap_or(0);
                    let joined = self
                        .queues
                        .get(name)
                        .and_then(|q| q.callers.iter().find(|c| c.uniqueid == uid))
                        .map(|c| c.joined_at)
                        .unwrap_or(now - Duration::seconds(wait as i64));
                    entry.2.push(QueueCaller {
                        position: secs(item.get("Position")).unwrap_or(0) as u32,
                        uniqueid: uid.to_string(),
                        channel: item.channel().unwrap_or("").to_string(),
                        caller_number: text(item.get("CallerIDNum")),
                        caller_name: text(item.get("CallerIDName")),
                        joined_at: joined,
                        wait_secs: 0,
                    });
                }
                _ => {}
            }
        }
        let mut changed = Vec::new();
        let gone: Vec<String> = self
            .queues
            .keys()
            .filter(|k| !fresh.contains_key(*k))
            .cloned()
            .collect();
        for name in gone {
            if let Some(mut q) = self.queues.remove(&name) {
                q.removed = true;
                q.callers.clear();
                q.updated_at = now;
                changed.push(q);
            }
        }
        for (name, (strategy, members, mut callers)) in fresh {
            let Some(q) = self.queue_mut(&name, now) else {
                continue;
            };
            callers.sort_by_key(|c| c.position);
            let before = (q.strategy.clone(), q.members.clone(), q.callers.clone());
            if strategy.is_some() {
                q.strategy = strategy;
            }
            q.members = members;
            q.callers = callers;
            renumber(q);
            if (&q.strategy, &q.members, &q.callers) != (&before.0, &before.1, &before.2) {
                day::waiting(&mut q.today, now, q.callers.len());
                q.updated_at = now;
                changed.push(q.as_of(now));
            }
        }
        changed
    }

    /// Notes the queues a `QueueSummary` list names (a queue with no members and no
    /// callers appears in no other answer). Returns the queues new to the book.
    pub fn resync_summary(&mut self, items: &[Event], now: DateTime<Utc>) -> Vec<Queue> {
        let mut changed = Vec::new();
        for item in items.iter().filter(|i| i.name() == "QueueSummary") {
            let Some(name) = item.get("Queue").map(str::trim).filter(|q| !q.is_empty()) else {
                continue;
            };
            if self.queues.contains_key(name) {
                continue;
            }
            if let Some(q) = self.queue_mut(name, now) {
                changed.push(q.as_of(now));
            }
        }
        changed
    }

    /// Counts again the calls that left queue `name` today before this service
    /// started (each `(wait, abandoned)`: answered when it has a wait and was not
    /// abandoned), so a restart does not start the day's figures from zero.
    pub fn seed_today(
        &mut self,
        name: &str,
        waits: impl IntoIterator<Item = (Option<u64>, bool)>,
        now: DateTime<Utc>,
    ) {
        let Some(q) = self.queue_mut(name, now) else {
            return;
        };
        for (wait, abandoned) in waits {
            day::offered(&mut q.today, now);
            match (wait, abandoned) {
                (w, true) => day::abandoned(&mut q.today, now, w.unwrap_or(0)),
                (Some(w), false) => day::answered(&mut q.today, now, w),
                (None, false) => {}
            }
        }
    }

    /// Forgets every queue (cluster: another instance holds the PBX now) and
    /// returns each once with `removed` set, so the live view drops them too: the
    /// change feed carries no queues, so nothing else would.
    pub fn clear(&mut self, now: DateTime<Utc>) -> Vec<Queue> {
        std::mem::take(&mut self.queues)
            .into_values()
            .map(|mut q| {
                q.removed = true;
                q.callers.clear();
                q.updated_at = now;
                q
            })
            .collect()
    }
}

/// The member an `Agent*` event names, by `Interface`.
fn member_of<'a>(q: &'a mut Queue, ev: &Event) -> Option<&'a mut QueueMember> {
    let interface = ev.get("Interface")?.trim();
    q.members.iter_mut().find(|m| m.interface == interface)
}

/// Positions 1..n in list order (Asterisk moves everyone up when one leaves).
fn renumber(q: &mut Queue) {
    for (i, c) in q.callers.iter_mut().enumerate() {
        c.position = u32::try_from(i + 1).unwrap_or(u32::MAX);
    }
}

#[cfg(test)]
mod tests;
