//! The resume buffer: the last changes kept so a client that reconnects with the
//! last `seq` it saw gets exactly what it missed, or a fresh snapshot when the gap
//! is older than the buffer.

use std::collections::VecDeque;
use std::sync::Arc;

use super::Hub;
use crate::delivery::{Catchup, Envelope, Filter};

/// The last changes published, oldest first, at most `cap` of them.
pub(super) struct History {
    changes: VecDeque<Arc<Envelope>>,
    cap: usize,
}

impl History {
    /// An empty buffer keeping `cap` changes (at least one).
    pub(super) fn new(cap: usize) -> Self {
        Self {
            changes: VecDeque::with_capacity(cap.min(65_536)),
            cap: cap.max(1),
        }
    }

    /// Keeps `env`, forgetting the oldest change when full.
    pub(super) fn push(&mut self, env: Arc<Envelope>) {
        if self.changes.len() >= self.cap {
            self.changes.pop_front();
        }
        self.changes.push_back(env);
    }

    /// The changes after `last` that pass `filter`, when the buffer still holds
    /// every change after `last` (`latest` being the last one published); `None`
    /// when the client must start over from a snapshot.
    fn replay_after(&self, last: u64, latest: u64, filter: &Filter) -> Option<Vec<Arc<Envelope>>> {
        if last > latest {
            // A seq from before a restart of the service: the client's view is stale.
            return None;
        }
        let oldest = self.changes.front().map_or(latest + 1, |e| e.seq);
        if last + 1 < oldest {
            return None;
        }
        Some(
            self.changes
                .iter()
                .filter(|e| e.seq > last && filter.matches(&e.change))
                .cloned()
                .collect(),
        )
    }
}

impl Hub {
    /// What a subscriber with `filter` that last saw `last_seq` receives first.
    pub(super) fn catchup(&self, filter: &Filter, last_seq: Option<u64>) -> Catchup {
        let replay = last_seq.and_then(|last| self.history.replay_after(last, self.seq, filter));
        match replay {
            Some(changes) => Catchup::Replay {
                changes,
                seq: self.seq,
            },
            None => Catchup::Snapshot {
                json: self.snapshot(filter),
                seq: self.seq,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::{Change, FilterKind};

    fn refresh(seq: u64) -> Arc<Envelope> {
        let report = crate::model::refresh::RefreshReport::example("north");
        Arc::new(Envelope::new(
            seq,
            chrono::Utc::now(),
            Change::RefreshCompleted(Arc::new(report)),
        ))
    }

    fn seqs(changes: Option<Vec<Arc<Envelope>>>) -> Option<Vec<u64>> {
        changes.map(|c| c.iter().map(|e| e.seq).collect())
    }

    #[test]
    fn replays_what_was_missed_while_the_buffer_still_holds_it() {
        let mut history = History::new(3);
        for seq in 1..=5 {
            history.push(refresh(seq));
        }
        let all = Filter::default();
        assert_eq!(seqs(history.replay_after(2, 5, &all)), Some(vec![3, 4, 5]));
        assert_eq!(seqs(history.replay_after(4, 5, &all)), Some(vec![5]));
        assert_eq!(seqs(history.replay_after(5, 5, &all)), Some(vec![]));
        // Change 2 fell out of the buffer: the client starts over.
        assert_eq!(seqs(history.replay_after(1, 5, &all)), None);
        // A seq this hub never handed out (from before a restart).
        assert_eq!(seqs(history.replay_after(6, 5, &all)), None);
    }

    #[test]
    fn a_replay_keeps_only_what_the_filter_lets_through() {
        let mut history = History::new(10);
        history.push(refresh(1));
        let calls_of_south = Filter {
            kind: FilterKind::Calls,
            extensions: None,
            pbx: Some("south".into()),
            queues: None,
        };
        // Refresh reports reach every subscriber, whatever its filter.
        assert_eq!(
            seqs(history.replay_after(0, 1, &calls_of_south)),
            Some(vec![1])
        );
        let call = crate::model::Call::new("north", "c1", chrono::Utc::now());
        history.push(Arc::new(Envelope::new(
            2,
            chrono::Utc::now(),
            Change::CallStarted(Arc::new(call)),
        )));
        assert_eq!(
            seqs(history.replay_after(0, 2, &calls_of_south)),
            Some(vec![1])
        );
        let calls_of_north = Filter {
            pbx: Some("north".into()),
            ..calls_of_south
        };
        assert_eq!(
            seqs(history.replay_after(0, 2, &calls_of_north)),
            Some(vec![1, 2])
        );
    }
}
