//! [`Backlog`]: the changes a lagging WebSocket client has not taken yet, with the
//! bytes their frames hold, and conflation (each extension and call keeps only its
//! latest value).
//!
//! The bytes are counted because the frame count alone did not bound memory: the
//! session compares queue plus backlog with `WS_QUEUE_BYTES`.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;

use super::frame::change_frame;
use crate::delivery::Envelope;
use crate::fastmap::FastMap;

/// Changes waiting for room in a client's queue, oldest first.
#[derive(Debug, Default)]
pub struct Backlog {
    items: VecDeque<(Arc<Envelope>, usize)>,
    bytes: usize,
}

impl Backlog {
    /// Appends `env` (its frame is encoded now, once for every client, to count it).
    pub fn push(&mut self, env: Arc<Envelope>) {
        let len = change_frame(&env).len();
        self.bytes += len;
        self.items.push_back((env, len));
    }

    /// The oldest change's frame.
    pub fn front_frame(&self) -> Option<Bytes> {
        self.items.front().map(|(env, _)| change_frame(env))
    }

    /// Bytes of the oldest change's frame (0 when empty).
    pub fn front_len(&self) -> usize {
        self.items.front().map_or(0, |(_, len)| *len)
    }

    /// Removes the oldest change.
    pub fn pop_front(&mut self) {
        if let Some((_, len)) = self.items.pop_front() {
            self.bytes -= len;
        }
    }

    /// Forgets everything (a catch-up supersedes it).
    pub fn clear(&mut self) {
        self.items.clear();
        self.bytes = 0;
    }

    /// Changes waiting.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Bytes of the waiting frames.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Keeps only the latest change per extension, per call and per connection
    /// (started and ended calls and refresh notices are all kept); returns how many
    /// were dropped.
    pub fn conflate(&mut self) -> usize {
        let keep: Vec<bool> = {
            let mut latest: FastMap<(u8, &str, &str), u64> =
                FastMap::with_capacity_and_hasher(self.items.len(), Default::default());
            for (env, _) in &self.items {
                if let Some(key) = env.conflation_key() {
                    latest.insert(key, env.seq);
                }
            }
            self.items
                .iter()
                .map(|(env, _)| {
                    env.conflation_key()
                        .is_none_or(|key| latest.get(&key) == Some(&env.seq))
                })
                .collect()
        };
        let before = self.items.len();
        let mut keep = keep.into_iter();
        self.items.retain(|_| keep.next().unwrap_or(true));
        self.bytes = self.items.iter().map(|(_, len)| len).sum();
        before - self.items.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::Change;

    fn ext(seq: u64, exten: &str, status: i32) -> Arc<Envelope> {
        let e = crate::model::Extension {
            pbx: "default".to_string(),
            extension: exten.to_string(),
            context: String::new(),
            hint: None,
            name: None,
            name_source: None,
            status: crate::model::HintStatus(status),
            status_text: "Idle".to_string(),
            state: crate::model::ExtensionState::Idle,
            device_state: None,
            last_change: chrono::DateTime::UNIX_EPOCH,
            last_confirmed: None,
        };
        Arc::new(Envelope::new(
            seq,
            chrono::DateTime::UNIX_EPOCH,
            Change::Extension(Arc::new(e)),
        ))
    }

    #[test]
    fn counts_bytes_and_keeps_the_latest_per_extension() {
        let mut b = Backlog::default();
        b.push(ext(1, "1001", 0));
        b.push(ext(2, "1002", 0));
        b.push(ext(3, "1001", 1));
        let sum: usize = [1, 2, 3]
            .iter()
            .map(|s| change_frame(&ext(*s, "1001", 0)).len())
            .sum();
        assert_eq!(b.bytes(), sum, "every frame's bytes");
        assert_eq!(b.conflate(), 1);
        assert_eq!(b.len(), 2);
        assert_eq!(b.bytes(), b.front_len() * 2);
        b.pop_front();
        let frame = b.front_frame().expect("one left");
        // A 16-bit length: four header bytes before the JSON.
        assert_eq!(frame[1], 126, "a frame of 126 bytes or more");
        let last: serde_json::Value = serde_json::from_slice(&frame[4..]).expect("JSON");
        assert_eq!(last["seq"], 3, "the latest state of 1001 is kept, in order");
        b.pop_front();
        assert_eq!((b.len(), b.bytes()), (0, 0));
    }
}
