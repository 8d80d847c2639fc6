//! [`BatchGate`]: how many socket reads of one PBX may be in the pipeline at once.
//!
//! The connection hands each socket read to the router as [`EventBatch`]es with
//! `do_send`, so the reader never waits on the router. Left at that, a PBX sending
//! events faster than the pipeline handles them would grow the mailboxes without
//! limit; dropping events instead would leave a wrong board. So the read stream is
//! gated: before the socket is read, the read takes one of `ROUTER_MAX_QUEUED_BATCHES`
//! permits, and the batches made from it carry the permit (a [`BatchTicket`]). The
//! router hands a clone of it on with every event it sends a call tracker or an
//! extension actor and every change it publishes; those pass it on with the
//! changes they publish, and the hub drops it once it has handled the change. So
//! the permit returns only when the last change the read caused has been handled:
//! all of the router's, the trackers' and the hub's mailboxes are bounded, not
//! only the router's (issue #19: with the permit returned once routed, the
//! trackers' and the hub's mailboxes grew by hundreds of MB under a sustained
//! stream). A ticket is dropped with the message that carries it, whatever
//! happens to it (handled, or dropped with a stopped actor's mailbox); nothing
//! stores one. With every permit out, the stream answers `Pending` without
//! reading: the socket's receive buffer fills and TCP flow control slows the PBX,
//! which keeps every event.
//!
//! The store writer is the other stage that can fall behind for good (a database
//! slower than the PBX): its unwritten ops grew by every event until memory ran
//! out. So the gate also holds the read while a healthy writer holds more than
//! [`StoreBacklog::LIMIT`] ops, checking again every millisecond; a writer that
//! commits nothing for [`STORE_HOLD_MAX`] (a stalled database) no longer holds
//! it, so an outage never freezes the live view for longer (the writer's journal
//! bounds that case).
//!
//! Replies (a `Pong`, a resync list) wait behind the gate too, which is right: they
//! must reach the router after the events read before them. The bound (64 reads of
//! up to 512 messages by default) is far above what the pipeline holds in normal
//! running, so the reader pauses only while it is truly behind, for much less
//! than Asterisk's `writetimeout` or our Ping timeout.
//!
//! [`EventBatch`]: super::messages::EventBatch

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::Stream;
use prometheus::IntGauge;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::PollSemaphore;

use crate::metrics::{Metrics, StoreBacklog};

/// How long a read held for the store waits for the writer's next commit before
/// reading on anyway. Longer than a batch starved of CPU on a busy machine takes
/// (the writer's own `MAX_LAG` is 2 s), short enough not to freeze the live view
/// for long behind a database that stopped answering.
pub const STORE_HOLD_MAX: Duration = Duration::from_secs(5);
/// How often a read held for the store checks the backlog again.
const STORE_RECHECK: Duration = Duration::from_millis(1);

/// The permits of one PBX's reads, and the gauges that show them.
#[derive(Clone)]
pub struct BatchGate {
    semaphore: Arc<Semaphore>,
    bound: usize,
    queued: IntGauge,
    peak: IntGauge,
    peak_value: Arc<AtomicI64>,
    store: StoreBacklog,
}

impl BatchGate {
    /// A gate letting at most `bound` reads of `pbx` be in the pipeline at once.
    pub fn new(bound: usize, metrics: &Metrics, pbx: &str) -> Self {
        let bound = bound.max(1);
        Self {
            semaphore: Arc::new(Semaphore::new(bound)),
            bound,
            queued: metrics.router_batches_queued.with_label_values(&[pbx]),
            peak: metrics.router_batches_queued_peak.with_label_values(&[pbx]),
            peak_value: Arc::new(AtomicI64::new(0)),
            store: metrics.store_backlog.clone(),
        }
    }

    /// Most reads that may wait at once.
    pub fn bound(&self) -> usize {
        self.bound
    }

    /// Reads in the pipeline now (not yet handled by the router, its trackers
    /// and the hub).
    pub fn queued(&self) -> usize {
        self.bound - self.semaphore.available_permits().min(self.bound)
    }

    /// `inner` (the socket's frames), read only while a permit is free; each item
    /// comes with the ticket that holds its permit.
    pub fn gate<S: Stream + Unpin>(&self, inner: S) -> Gated<S> {
        Gated {
            inner,
            permits: PollSemaphore::new(self.semaphore.clone()),
            held: None,
            gate: self.clone(),
            store_hold: None,
            recheck: None,
        }
    }

    fn ticket(&self, permit: OwnedSemaphorePermit) -> BatchTicket {
        self.queued.inc();
        let now = self.queued() as i64;
        let before = self.peak_value.fetch_max(now, Ordering::Relaxed);
        if now > before {
            self.peak.set(now);
        }
        BatchTicket {
            _held: Arc::new(Held {
                _permit: permit,
                queued: self.queued.clone(),
            }),
        }
    }
}

/// Holds one read's permit until every batch made from it has been routed and
/// every change it caused handled by the hub (clones travel with the messages).
#[derive(Clone)]
pub struct BatchTicket {
    _held: Arc<Held>,
}

impl fmt::Debug for BatchTicket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BatchTicket")
    }
}

struct Held {
    _permit: OwnedSemaphorePermit,
    queued: IntGauge,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.queued.dec();
    }
}

/// A stream read only while its [`BatchGate`] has a permit free.
pub struct Gated<S> {
    inner: S,
    permits: PollSemaphore,
    held: Option<OwnedSemaphorePermit>,
    gate: BatchGate,
    /// While held for the store: when the writer last committed, as far as this
    /// read saw, and how many batches it had committed then.
    store_hold: Option<(Instant, u64)>,
    recheck: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<S> Gated<S> {
    /// True while the read must wait for the store writer (see the module doc).
    fn store_holds(&mut self) -> bool {
        let backlog = self.gate.store.get();
        if backlog <= StoreBacklog::LIMIT {
            self.store_hold = None;
            return false;
        }
        let (now, commits) = (Instant::now(), self.gate.store.commits());
        match &mut self.store_hold {
            Some((since, seen)) if commits != *seen => {
                (*since, *seen) = (now, commits);
                true
            }
            Some((since, _)) => now.duration_since(*since) < STORE_HOLD_MAX,
            None => {
                self.store_hold = Some((now, commits));
                true
            }
        }
    }
}

impl<S: Stream + Unpin> Stream for Gated<S> {
    type Item = (S::Item, BatchTicket);

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        while this.store_holds() {
            let recheck = this
                .recheck
                .get_or_insert_with(|| Box::pin(tokio::time::sleep(STORE_RECHECK)));
            match recheck.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    recheck
                        .as_mut()
                        .reset(tokio::time::Instant::now() + STORE_RECHECK);
                }
                Poll::Pending => return Poll::Pending,
            }
        }
        if this.held.is_none() {
            match this.permits.poll_acquire(cx) {
                Poll::Ready(Some(permit)) => this.held = Some(permit),
                // The semaphore is never closed; end the stream if it were.
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
        match Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Ready(Some(item)) => match this.held.take() {
                Some(permit) => Poll::Ready(Some((item, this.gate.ticket(permit)))),
                None => Poll::Ready(None),
            },
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    #[tokio::test]
    async fn a_stream_waits_while_every_permit_is_out_and_resumes_when_one_returns() {
        let metrics = Metrics::new().expect("metrics");
        let gate = BatchGate::new(2, &metrics, "p");
        let mut gated = gate.gate(futures::stream::iter(0..10));
        let (a, ta) = gated.next().await.expect("first");
        let (b, _tb) = gated.next().await.expect("second");
        assert_eq!((a, b, gate.queued()), (0, 1, 2));
        let third = tokio::time::timeout(std::time::Duration::from_millis(50), gated.next()).await;
        assert!(third.is_err(), "no third item while two are out");
        drop(ta);
        let (c, _tc) = gated.next().await.expect("third after a permit returned");
        assert_eq!((c, gate.queued()), (2, 2));
        let text = metrics.render();
        assert!(
            text.contains("switchboard_router_batches_queued{pbx=\"p\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("switchboard_router_batches_queued_peak{pbx=\"p\"} 2"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn a_ticket_shared_by_several_batches_returns_its_permit_with_the_last() {
        let metrics = Metrics::new().expect("metrics");
        let gate = BatchGate::new(1, &metrics, "p");
        let mut gated = gate.gate(futures::stream::iter(0..2));
        let (_, ticket) = gated.next().await.expect("first");
        let copy = ticket.clone();
        drop(ticket);
        assert_eq!(gate.queued(), 1);
        drop(copy);
        assert_eq!(gate.queued(), 0);
        assert!(gated.next().await.is_some());
    }

    #[tokio::test]
    async fn a_read_waits_while_the_store_is_behind_and_goes_on_once_it_catches_up() {
        let metrics = Metrics::new().expect("metrics");
        let gate = BatchGate::new(4, &metrics, "p");
        let mut gated = gate.gate(futures::stream::iter(0..10));
        metrics.store_backlog.set(StoreBacklog::LIMIT + 1);
        let held = tokio::time::timeout(Duration::from_millis(50), gated.next()).await;
        assert!(held.is_err(), "read while the store is behind");
        metrics.store_backlog.set(StoreBacklog::LIMIT);
        let (first, _t) = tokio::time::timeout(Duration::from_secs(10), gated.next())
            .await
            .expect("read once the store caught up")
            .expect("an item");
        assert_eq!(first, 0);
    }

    #[tokio::test]
    async fn a_store_that_makes_no_progress_stops_holding_the_read() {
        let metrics = Metrics::new().expect("metrics");
        let gate = BatchGate::new(4, &metrics, "p");
        let mut gated = gate.gate(futures::stream::iter(0..10));
        metrics.store_backlog.set(StoreBacklog::LIMIT * 2);
        let start = Instant::now();
        let held = tokio::time::timeout(STORE_HOLD_MAX / 2, gated.next()).await;
        assert!(held.is_err(), "read at once while the store is behind");
        let (first, _t) = tokio::time::timeout(STORE_HOLD_MAX * 10, gated.next())
            .await
            .expect("a stalled store no longer holds the read")
            .expect("an item");
        assert_eq!(first, 0);
        assert!(start.elapsed() >= STORE_HOLD_MAX);
    }
}
