//! The writer's queue of unwritten ops: FIFO, with repeated upserts of the same
//! row merged so a long database outage costs memory per row, not per event.
//!
//! Every accepted op gets a slot number; a merged op takes the slot of the one it
//! replaces. Batches are taken from the front, so "everything accepted up to slot
//! N is committed" is simply "the last committed batch ended at or after N".

use std::collections::VecDeque;

use crate::fastmap::FastMap;

use crate::store::ops::{RowKey, WriteOp};

/// Entries the buffer keeps room for once a backlog is written: room grown for a
/// larger backlog (an outage, a burst) is given back, so a peak does not stay held.
const KEEP_ROOM: usize = 1 << 14;

/// Ops taken from the buffer to be written together.
#[derive(Debug)]
pub struct Batch {
    /// In order.
    pub ops: Vec<WriteOp>,
    /// The slot of the last op in the batch.
    pub last_slot: u64,
}

/// Unwritten ops, oldest first.
#[derive(Debug)]
pub struct WriteBuffer {
    entries: VecDeque<WriteOp>,
    /// Slot of `entries[0]` (slots start at 1).
    front_slot: u64,
    /// The slot of the pending upsert of each row that a newer upsert may replace.
    latest: FastMap<RowKey, u64>,
    /// Ops merged into an earlier one since start.
    merged: u64,
}

impl Default for WriteBuffer {
    fn default() -> Self {
        Self {
            entries: VecDeque::new(),
            front_slot: 1,
            latest: FastMap::default(),
            merged: 0,
        }
    }
}

impl WriteBuffer {
    /// Unwritten ops held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Ops that were merged into an earlier pending upsert of the same row.
    pub fn merged(&self) -> u64 {
        self.merged
    }

    /// The slot of the newest op held, or of the last one taken when empty.
    pub fn last_slot(&self) -> u64 {
        self.front_slot + self.entries.len() as u64 - 1
    }

    /// Queues `op`. An upsert replaces a pending upsert of the same row in place,
    /// unless an op in between touched that row.
    pub fn push(&mut self, op: WriteOp) {
        for key in op.touched_keys() {
            self.latest.remove(&key);
        }
        let Some(key) = op.upsert_key() else {
            self.entries.push_back(op);
            return;
        };
        if let Some(&slot) = self.latest.get(&key) {
            if slot >= self.front_slot {
                if let Some(entry) = self.entries.get_mut((slot - self.front_slot) as usize) {
                    *entry = op;
                    self.merged += 1;
                    return;
                }
            }
        }
        self.entries.push_back(op);
        self.latest.insert(key, self.last_slot());
    }

    /// Takes up to `max` ops from the front.
    pub fn take(&mut self, max: usize) -> Batch {
        let n = max.min(self.entries.len());
        let ops: Vec<WriteOp> = self.entries.drain(..n).collect();
        for (i, op) in ops.iter().enumerate() {
            if let Some(key) = op.upsert_key() {
                if self.latest.get(&key) == Some(&(self.front_slot + i as u64)) {
                    self.latest.remove(&key);
                }
            }
        }
        self.front_slot += n as u64;
        self.give_back_room();
        Batch {
            ops,
            last_slot: self.front_slot - 1,
        }
    }
}

impl WriteBuffer {
    /// Shrinks the queue and the row index when they hold far more room than
    /// entries (at most [`KEEP_ROOM`] spare once a backlog is written).
    fn give_back_room(&mut self) {
        let keep = self.entries.len().max(KEEP_ROOM);
        if self.entries.capacity() > keep * 4 {
            self.entries.shrink_to(keep);
        }
        let keep = self.latest.len().max(KEEP_ROOM);
        if self.latest.capacity() > keep * 4 {
            self.latest.shrink_to(keep);
        }
    }

    /// Room held for entries (tests).
    #[cfg(test)]
    fn room(&self) -> usize {
        self.entries.capacity()
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::WriteBuffer;
    use crate::model::{Extension, HintStatus};
    use crate::store::ops::WriteOp;

    fn ext(exten: &str, status: i32) -> WriteOp {
        WriteOp::Extension(std::sync::Arc::new(Extension {
            pbx: "p".into(),
            extension: exten.into(),
            context: "c".into(),
            hint: None,
            name: None,
            name_source: None,
            status: HintStatus(status),
            status_text: String::new(),
            state: crate::model::ExtensionState::Unknown,
            device_state: None,
            last_change: Utc.timestamp_opt(0, 0).single().unwrap_or_default(),
            last_confirmed: None,
        }))
    }

    fn confirmed(exten: &str) -> WriteOp {
        WriteOp::Confirmed {
            pbx: "p".into(),
            extensions: vec![exten.into()],
            at: Utc.timestamp_opt(0, 0).single().unwrap_or_default(),
        }
    }

    #[test]
    fn repeated_upserts_merge_in_place() {
        let mut b = WriteBuffer::default();
        b.push(ext("1", 0));
        b.push(ext("2", 0));
        b.push(ext("1", 1));
        assert_eq!(b.len(), 2);
        assert_eq!(b.last_slot(), 2);
        let batch = b.take(10);
        assert_eq!(batch.ops, vec![ext("1", 1), ext("2", 0)]);
        assert_eq!(batch.last_slot, 2);
        assert!(b.is_empty());
        assert_eq!(b.last_slot(), 2);
    }

    #[test]
    fn an_op_touching_the_row_stops_merging() {
        let mut b = WriteBuffer::default();
        b.push(ext("1", 0));
        b.push(confirmed("1"));
        b.push(ext("1", 1));
        assert_eq!(
            b.take(10).ops,
            vec![ext("1", 0), confirmed("1"), ext("1", 1)]
        );
    }

    #[test]
    fn taken_ops_are_not_merged_into() {
        let mut b = WriteBuffer::default();
        b.push(ext("1", 0));
        let first = b.take(1);
        assert_eq!(first.last_slot, 1);
        b.push(ext("1", 1));
        b.push(ext("1", 2));
        let second = b.take(10);
        assert_eq!(second.ops, vec![ext("1", 2)]);
        assert_eq!(second.last_slot, 2);
    }

    #[test]
    fn batches_respect_the_size_cap_and_order() {
        let mut b = WriteBuffer::default();
        for i in 0..5 {
            b.push(ext(&i.to_string(), 0));
        }
        assert_eq!(b.take(2).last_slot, 2);
        assert_eq!(b.take(2).last_slot, 4);
        let last = b.take(2);
        assert_eq!(last.ops, vec![ext("4", 0)]);
        assert_eq!(last.last_slot, 5);
    }

    #[test]
    fn room_grown_for_a_backlog_is_given_back_once_it_is_written() {
        let mut b = WriteBuffer::default();
        for i in 0..200_000 {
            b.push(ext(&i.to_string(), 0));
        }
        assert!(b.room() >= 200_000);
        while !b.is_empty() {
            b.take(5000);
        }
        assert!(b.room() <= super::KEEP_ROOM * 4, "room {}", b.room());
        // Slots go on from where they were.
        b.push(ext("x", 0));
        assert_eq!(b.take(10).last_slot, 200_001);
    }
}
