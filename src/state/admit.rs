//! Whether an event for a call the router is not tracking may start one.
//!
//! Only a `Newchannel` starts a call: Asterisk announces every channel with one
//! before any other event of it, and calls that were already up when we connected
//! are adopted from the `CoreShowChannels` list of the resync. Anything else for an
//! unknown call is hostile or stale input and must not make a call appear:
//!
//! - **late**: an event (even a duplicated `Newchannel`) of a call that already
//!   ended — without this, a duplicated or reordered `Hangup` would resurrect the
//!   call as a new one, stored twice;
//! - **orphan**: any other event of a call never seen — a lone `Hangup` used to
//!   create a call that ended at once and was written to history, and a lone
//!   `Hold` a call with no channel that lived until the call timeout.
//!
//! [`RecentlyEnded`] remembers the ids of the last calls that ended, bounded, so
//! memory stays flat however many calls go by. The router starts it afresh at each
//! resync: the PBX's channel list is then the truth, and a PBX that restarted may
//! reuse the ids of calls that ended before.

use std::collections::{HashSet, VecDeque};

use crate::ami::Event;

/// How many ended call ids are remembered (a few minutes of a busy call centre).
pub const RECENTLY_ENDED: usize = 16_384;

/// What to do with an event of a call that has no tracker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// A new call: start tracking it.
    Start,
    /// An event of a call that already ended: drop it (counted as late).
    Late,
    /// An event of a call never seen that cannot start one: drop it (counted).
    Orphan,
}

/// Decides what an event for untracked call `key` does.
pub fn admit(event: &Event, key: &str, ended: &RecentlyEnded) -> Admission {
    if ended.contains(key) {
        Admission::Late
    } else if event.name() == "Newchannel" {
        Admission::Start
    } else {
        Admission::Orphan
    }
}

/// The ids of the last [`RECENTLY_ENDED`] calls that ended, oldest forgotten first.
#[derive(Debug, Clone)]
pub struct RecentlyEnded {
    order: VecDeque<String>,
    ids: HashSet<String>,
    cap: usize,
}

impl Default for RecentlyEnded {
    fn default() -> Self {
        Self::new(RECENTLY_ENDED)
    }
}

impl RecentlyEnded {
    /// Remembers at most `cap` ids (at least one).
    pub fn new(cap: usize) -> Self {
        Self {
            order: VecDeque::new(),
            ids: HashSet::new(),
            cap: cap.max(1),
        }
    }

    /// Records that call `id` ended.
    pub fn insert(&mut self, id: &str) {
        if self.ids.contains(id) {
            return;
        }
        if self.order.len() >= self.cap {
            if let Some(old) = self.order.pop_front() {
                self.ids.remove(&old);
            }
        }
        self.order.push_back(id.to_string());
        self.ids.insert(id.to_string());
    }

    /// True when call `id` ended recently.
    pub fn contains(&self, id: &str) -> bool {
        self.ids.contains(id)
    }

    /// How many ids are remembered.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// True when nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(name: &str) -> Event {
        Event::from_raw(crate::ami::RawMessage::from_pairs(&[
            ("Event", name),
            ("Linkedid", "c1"),
        ]))
    }

    #[test]
    fn only_newchannel_starts_and_ended_calls_stay_ended() {
        let mut ended = RecentlyEnded::new(2);
        assert_eq!(admit(&ev("Newchannel"), "c1", &ended), Admission::Start);
        assert_eq!(admit(&ev("Hangup"), "c1", &ended), Admission::Orphan);
        ended.insert("c1");
        assert_eq!(admit(&ev("Newchannel"), "c1", &ended), Admission::Late);
        assert_eq!(admit(&ev("Hangup"), "c1", &ended), Admission::Late);
    }

    #[test]
    fn memory_is_bounded_and_oldest_forgotten_first() {
        let mut ended = RecentlyEnded::new(2);
        for id in ["a", "b", "b", "c"] {
            ended.insert(id);
        }
        assert_eq!(ended.len(), 2);
        assert!(!ended.contains("a") && ended.contains("b") && ended.contains("c"));
    }
}
