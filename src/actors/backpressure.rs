//! [`BatchGate`]: how many socket reads of one PBX may wait for its router.
//!
//! The connection hands each socket read to the router as [`EventBatch`]es with
//! `do_send`, so the reader never waits on the router. Left at that, a PBX sending
//! events faster than the router routes them would grow the router's mailbox without
//! limit; dropping events instead would leave a wrong board. So the read stream is
//! gated: before the socket is read, the read takes one of `ROUTER_MAX_QUEUED_BATCHES`
//! permits, and the batches made from it carry the permit (a [`BatchTicket`]) until
//! the router has routed them (the ticket is dropped with the message, whatever
//! happens to it). With every permit out, the stream answers `Pending` without
//! reading: the socket's receive buffer fills and TCP flow control slows the PBX,
//! which keeps every event.
//!
//! Replies (a `Pong`, a resync list) wait behind the gate too, which is right: they
//! must reach the router after the events read before them. The bound (64 reads of
//! up to 512 messages by default) is far above what the router holds in normal
//! running, so the reader pauses only while the router is truly behind, for much
//! less than Asterisk's `writetimeout` or our Ping timeout.
//!
//! [`EventBatch`]: super::messages::EventBatch

use std::fmt;
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::Stream;
use prometheus::IntGauge;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::PollSemaphore;

use crate::metrics::Metrics;

/// The permits of one PBX's reads, and the gauges that show them.
#[derive(Clone)]
pub struct BatchGate {
    semaphore: Arc<Semaphore>,
    bound: usize,
    queued: IntGauge,
    peak: IntGauge,
    peak_value: Arc<AtomicI64>,
}

impl BatchGate {
    /// A gate letting at most `bound` reads of `pbx` wait for its router.
    pub fn new(bound: usize, metrics: &Metrics, pbx: &str) -> Self {
        let bound = bound.max(1);
        Self {
            semaphore: Arc::new(Semaphore::new(bound)),
            bound,
            queued: metrics.router_batches_queued.with_label_values(&[pbx]),
            peak: metrics.router_batches_queued_peak.with_label_values(&[pbx]),
            peak_value: Arc::new(AtomicI64::new(0)),
        }
    }

    /// Most reads that may wait at once.
    pub fn bound(&self) -> usize {
        self.bound
    }

    /// Reads waiting for the router now.
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

/// Holds one read's permit until every batch made from it has been routed.
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
}

impl<S: Stream + Unpin> Stream for Gated<S> {
    type Item = (S::Item, BatchTicket);

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
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
}
