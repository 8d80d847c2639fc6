//! [`ClientSlots`]: the cap on open WebSocket clients (`WS_MAX_CLIENTS`).
//!
//! Each client costs a session actor, a bounded queue and a hub entry; without a cap
//! a flood of upgrades grows memory and the fan-out cost until the service suffers
//! for everyone. A slot is taken before the upgrade and given back when the
//! session's frame stream is dropped (the session stopped), whatever the reason.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Counts open WebSocket clients against a maximum; shared by every HTTP worker.
#[derive(Debug, Clone)]
pub struct ClientSlots {
    used: Arc<AtomicUsize>,
    max: usize,
}

/// One taken slot; dropping it frees the slot.
#[derive(Debug)]
pub struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl ClientSlots {
    /// At most `max` clients at once.
    pub fn new(max: usize) -> Self {
        Self {
            used: Arc::new(AtomicUsize::new(0)),
            max,
        }
    }

    /// A slot, or `None` when `max` clients are already open.
    pub fn try_take(&self) -> Option<Slot> {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            })
            .ok()
            .map(|_| Slot(self.used.clone()))
    }

    /// Slots taken now.
    pub fn in_use(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }

    /// The maximum.
    pub fn max(&self) -> usize {
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_capped_and_given_back_on_drop() {
        let slots = ClientSlots::new(2);
        let a = slots.try_take().expect("first");
        let b = slots.try_take().expect("second");
        assert!(slots.try_take().is_none(), "third is refused");
        drop(a);
        assert_eq!(slots.in_use(), 1);
        let c = slots.try_take().expect("a freed slot is reused");
        drop((b, c));
        assert_eq!(slots.in_use(), 0);
    }
}
