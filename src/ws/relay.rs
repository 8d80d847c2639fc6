//! [`Relay`]: carries the hub's deliveries to the WebSocket sessions of one HTTP
//! worker thread with one cross-thread wake-up per flush.
//!
//! Waking an actor on another thread writes to that thread's `eventfd`, and tokio's
//! current-thread runtime does it on every wake, even when the thread is already
//! awake. With a `Deliver` message per session, a flush to ten subscribers cost ten
//! system calls on the pipeline thread (docs/PERFORMANCE.md). Sessions now join
//! the relay of the thread they run on; the hub sends each relay one closure with
//! every session's share of the flush, and the relay hands them out on its own
//! thread, where a wake-up is a queue push.
//!
//! Not an actor: the relay's state is a thread-local table of the sessions on that
//! thread, and the hub reaches the thread through its arbiter. Deliveries keep
//! their order, as one hub sends them all through one arbiter queue.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use actix::prelude::*;

use crate::delivery::{Deliver, DeliveryRoute, Shares};

thread_local! {
    static SESSIONS: RefCell<HashMap<u64, Recipient<Deliver>>> = RefCell::new(HashMap::new());
    static RELAY_ID: u64 = next_relay_id();
}

fn next_relay_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Where the hub sends the deliveries of the sessions on one thread.
#[derive(Clone)]
pub struct Relay {
    id: u64,
    arbiter: actix::ArbiterHandle,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay").field("id", &self.id).finish()
    }
}

impl Relay {
    /// Registers `session` with the relay of the calling thread (an actix arbiter,
    /// where the session actor runs) and returns that relay.
    pub fn join(session: u64, to: Recipient<Deliver>) -> Self {
        SESSIONS.with(|s| s.borrow_mut().insert(session, to));
        Self {
            id: RELAY_ID.with(|id| *id),
            arbiter: actix::Arbiter::current(),
        }
    }

    /// Removes `session` from the calling thread's relay; call it from the thread
    /// that joined.
    pub fn leave(session: u64) {
        SESSIONS.with(|s| s.borrow_mut().remove(&session));
    }
}

/// The hub's deliveries to the sessions of one thread go through its relay.
impl DeliveryRoute for Relay {
    /// Tells relays apart (one per thread).
    fn id(&self) -> u64 {
        self.id
    }

    /// Hands each session its share on the relay's thread; `false` when that
    /// thread has stopped.
    fn deliver(&self, shares: Shares) -> bool {
        self.arbiter.spawn_fn(move || {
            SESSIONS.with(|s| {
                let sessions = s.borrow();
                for (id, changes) in shares {
                    if let Some(to) = sessions.get(&id) {
                        to.do_send(Deliver(changes));
                    }
                }
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::{Change, Envelope};
    use std::sync::{Arc, Mutex};

    struct Sink(Arc<Mutex<Vec<u64>>>);

    impl Actor for Sink {
        type Context = Context<Self>;
    }

    impl Handler<Deliver> for Sink {
        type Result = ();

        fn handle(&mut self, msg: Deliver, _: &mut Context<Self>) {
            let mut seen = self.0.lock().unwrap_or_else(|e| e.into_inner());
            seen.extend(msg.0.iter().map(|e| e.seq));
        }
    }

    fn env(seq: u64) -> Arc<Envelope> {
        Arc::new(Envelope::new(
            seq,
            chrono::Utc::now(),
            Change::RefreshCompleted(Arc::new(crate::model::refresh::RefreshReport::example("p"))),
        ))
    }

    #[actix_rt::test]
    async fn shares_reach_the_sessions_of_the_relay_thread_in_order() {
        let arbiter = actix::Arbiter::new();
        let (a_seen, b_seen) = (Arc::default(), Arc::default());
        let (a2, b2) = (Arc::clone(&a_seen), Arc::clone(&b_seen));
        let (tx, rx) = tokio::sync::oneshot::channel();
        arbiter.spawn_fn(move || {
            let a = Sink(a2).start();
            let b = Sink(b2).start();
            let relay = Relay::join(1, a.recipient());
            let same = Relay::join(2, b.recipient());
            assert_eq!(relay.id(), same.id(), "one relay per thread");
            let _ = tx.send(relay);
        });
        let relay = rx.await.expect("relay from the arbiter");
        assert_ne!(
            relay.id(),
            RELAY_ID.with(|id| *id),
            "another thread has another relay"
        );
        for seq in 1..=3 {
            assert!(relay.deliver(vec![
                (1, Arc::from([env(seq)])),
                (2, Arc::from([env(seq * 10)]))
            ]));
        }
        // A session that left (or never joined) is skipped.
        assert!(relay.deliver(vec![(9, Arc::from([env(99)]))]));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while b_seen.lock().map(|v| v.len()).unwrap_or(0) < 3 {
            assert!(std::time::Instant::now() < deadline, "deliveries arrive");
            actix_rt::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        assert_eq!(*a_seen.lock().expect("a"), vec![1, 2, 3]);
        assert_eq!(*b_seen.lock().expect("b"), vec![10, 20, 30]);
        arbiter.stop();
        let _ = arbiter.join();
        assert!(
            !relay.deliver(vec![(1, Arc::from([env(4)]))]),
            "a stopped thread refuses deliveries"
        );
    }
}
