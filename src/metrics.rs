//! Prometheus metrics (`GET /metrics`), all named `switchboard_…`.
//!
//! One [`Metrics`] per process, created at start-up and passed explicitly to the
//! actors that count (no global registry, so tests can run services side by side).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crate::model::queue::{MemberState, Queue};
use crate::model::AmiConnectionState;
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Store ops the writer holds while the database accepts writes: the one number
/// the store writer (which sets it) and the AMI readers (which stop reading while
/// it is over [`StoreBacklog::LIMIT`], see `actors::backpressure`) share. Without
/// it a store slower than the PBX grew the writer's buffer by every event, without
/// bound. It reads zero while the writer is degraded: an outage is bounded by the
/// journal, and must not freeze the live view.
#[derive(Debug, Clone, Default)]
pub struct StoreBacklog(std::sync::Arc<(AtomicUsize, AtomicU64)>);

impl StoreBacklog {
    /// Ops past which the readers wait for the writer: four of its default batches,
    /// so it always has full batches to commit.
    pub const LIMIT: usize = 20_000;

    /// Records the ops held now.
    pub fn set(&self, ops: usize) {
        self.0 .0.store(ops, Ordering::Relaxed);
    }

    /// The ops held, as last recorded.
    pub fn get(&self) -> usize {
        self.0 .0.load(Ordering::Relaxed)
    }

    /// Records that a batch was committed: the writer makes progress.
    pub fn committed(&self) {
        self.0 .1.fetch_add(1, Ordering::Relaxed);
    }

    /// Batches committed so far; a reader held for the store watches it move.
    pub fn commits(&self) -> u64 {
        self.0 .1.load(Ordering::Relaxed)
    }
}

/// Latency buckets from 50 µs to 10 s: the interesting range is sub-millisecond.
const LATENCY_BUCKETS: &[f64] = &[
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 10.0,
];

/// Every metric the service exports.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// AMI events received, by PBX and event name: Asterisk's own names
    /// ([`crate::ami::event_names`]), every other name under `other`.
    pub events: IntCounterVec,
    /// Messages the decoder rejected (limits, truncation, unclassifiable).
    pub malformed: IntCounterVec,
    /// Events the router did not know (counted, never silently dropped), labelled
    /// like [`Metrics::events`] so invented names share `other`.
    pub unrouted: IntCounterVec,
    /// Call events dropped by the router, by PBX and reason: `late` (the call
    /// already ended) or `orphan` (a call never seen, and the event cannot start one).
    pub call_events_dropped: IntCounterVec,
    /// WebSocket upgrades refused, by reason (`tooManyClients`).
    pub ws_refused: IntCounterVec,
    /// Reconnections after a lost connection.
    pub reconnects: IntCounterVec,
    /// 1 for the current AMI connection state of each PBX, 0 for the others.
    pub ami_state: IntGaugeVec,
    /// Connect-to-logged-in time.
    pub login_seconds: Histogram,
    /// Supervisor restarts by actor kind.
    pub actor_restarts: IntCounterVec,
    /// Open WebSocket subscribers.
    pub subscribers: IntGauge,
    /// Messages delivered to WebSocket subscribers.
    pub ws_messages: IntCounter,
    /// Messages replaced by a newer value for a lagging subscriber.
    pub ws_conflated: IntCounter,
    /// Subscribers closed for not keeping up.
    pub ws_dropped: IntCounter,
    /// Refresh sessions open now.
    pub refresh_sessions: IntGauge,
    /// Refreshes by result (`ok`, `joined`, `failed`).
    pub refreshes: IntCounterVec,
    /// Extension states a refresh or resync found wrong and corrected.
    pub refresh_corrections: IntCounter,
    /// Active calls tracked now.
    pub calls_active: IntGauge,
    /// Calls finished since start.
    pub calls_finished: IntCounter,
    /// Latency from the PBX's event `Timestamp` to receipt, by PBX.
    pub event_receipt_seconds: HistogramVec,
    /// Latency from the PBX's event `Timestamp` to hand-off to subscribers.
    pub event_delivery_seconds: Histogram,
    /// Store writes waiting to be committed.
    pub store_pending: IntGauge,
    /// Unwritten ops moved to the journal since start (an outage past
    /// `STORE_MAX_BACKLOG`, or a stop before they were written).
    pub store_journaled: IntGauge,
    /// The store writer's backlog as the AMI readers' backpressure sees it
    /// (not exported).
    pub store_backlog: StoreBacklog,
    /// Rows deleted by retention, by table.
    pub store_pruned: IntCounterVec,
    /// Events of extensions refused because their PBX already has
    /// `MAX_EXTENSIONS_PER_PBX` extensions, by PBX.
    pub extensions_refused: IntCounterVec,
    /// Socket reads handed to a PBX's router whose events the router, the call
    /// trackers and the hub have not all handled yet, by PBX (the name is older
    /// than the gate's reach; kept for dashboards).
    pub router_batches_queued: IntGaugeVec,
    /// The most reads ever in a PBX's pipeline at once (never above
    /// `ROUTER_MAX_QUEUED_BATCHES`), by PBX.
    pub router_batches_queued_peak: IntGaugeVec,
    /// Callers waiting now, by PBX and queue (set at each scrape, [`Metrics::set_queues`]).
    pub queue_waiting: IntGaugeVec,
    /// The longest current wait in seconds, by PBX and queue.
    pub queue_longest_wait: IntGaugeVec,
    /// Members by PBX, queue and state (`free`, `ringing`, `onCall`, `paused`, `unavailable`).
    pub queue_members: IntGaugeVec,
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let counter_vec = |name: &str, help: &str, labels: &[&str]| {
            IntCounterVec::new(Opts::new(name, help), labels)
        };
        let m = Self {
            events: counter_vec(
                "switchboard_ami_events_total",
                "AMI events received",
                &["pbx", "event"],
            )?,
            malformed: counter_vec(
                "switchboard_ami_malformed_total",
                "AMI messages rejected by the decoder",
                &["pbx"],
            )?,
            unrouted: counter_vec(
                "switchboard_unrouted_events_total",
                "AMI events of unknown kind",
                &["event"],
            )?,
            call_events_dropped: counter_vec(
                "switchboard_call_events_dropped_total",
                "Call events dropped: late (call already ended) or orphan (unknown call)",
                &["pbx", "reason"],
            )?,
            ws_refused: counter_vec(
                "switchboard_ws_refused_total",
                "WebSocket upgrades refused",
                &["reason"],
            )?,
            reconnects: counter_vec(
                "switchboard_ami_reconnects_total",
                "AMI reconnections",
                &["pbx"],
            )?,
            ami_state: IntGaugeVec::new(
                Opts::new(
                    "switchboard_ami_connection_state",
                    "1 for the current AMI connection state",
                ),
                &["pbx", "state"],
            )?,
            login_seconds: Histogram::with_opts(
                HistogramOpts::new(
                    "switchboard_ami_login_seconds",
                    "AMI connect-to-logged-in time",
                )
                .buckets(LATENCY_BUCKETS.to_vec()),
            )?,
            actor_restarts: counter_vec(
                "switchboard_actor_restarts_total",
                "Supervisor restarts",
                &["kind"],
            )?,
            subscribers: IntGauge::new("switchboard_ws_subscribers", "Open WebSocket subscribers")?,
            ws_messages: IntCounter::new(
                "switchboard_ws_messages_total",
                "Messages delivered to WebSocket subscribers",
            )?,
            ws_conflated: IntCounter::new(
                "switchboard_ws_conflated_total",
                "Messages superseded for lagging subscribers",
            )?,
            ws_dropped: IntCounter::new(
                "switchboard_ws_dropped_clients_total",
                "Subscribers closed for not keeping up",
            )?,
            refresh_sessions: IntGauge::new(
                "switchboard_refresh_sessions",
                "Refresh sessions open",
            )?,
            refreshes: counter_vec(
                "switchboard_refreshes_total",
                "Refresh requests by result",
                &["result"],
            )?,
            refresh_corrections: IntCounter::new(
                "switchboard_refresh_corrections_total",
                "Extension states corrected by a refresh or resync",
            )?,
            calls_active: IntGauge::new("switchboard_calls_active", "Active calls")?,
            calls_finished: IntCounter::new("switchboard_calls_finished_total", "Finished calls")?,
            event_receipt_seconds: HistogramVec::new(
                HistogramOpts::new(
                    "switchboard_event_receipt_latency_seconds",
                    "PBX event Timestamp to receipt",
                )
                .buckets(LATENCY_BUCKETS.to_vec()),
                &["pbx"],
            )?,
            event_delivery_seconds: Histogram::with_opts(
                HistogramOpts::new(
                    "switchboard_event_delivery_latency_seconds",
                    "PBX event Timestamp to delivery to subscribers",
                )
                .buckets(LATENCY_BUCKETS.to_vec()),
            )?,
            store_pruned: counter_vec(
                "switchboard_store_pruned_rows_total",
                "Rows deleted by retention",
                &["table"],
            )?,
            store_pending: IntGauge::new(
                "switchboard_store_pending_writes",
                "Store writes waiting to be committed",
            )?,
            store_journaled: IntGauge::new(
                "switchboard_store_journaled_ops",
                "Unwritten store ops moved to the journal since start",
            )?,
            store_backlog: StoreBacklog::default(),
            extensions_refused: counter_vec(
                "switchboard_extensions_refused_total",
                "Extension events refused: the PBX is at MAX_EXTENSIONS_PER_PBX",
                &["pbx"],
            )?,
            router_batches_queued: IntGaugeVec::new(
                Opts::new(
                    "switchboard_router_batches_queued",
                    "Socket reads in the pipeline (router, call trackers, hub)",
                ),
                &["pbx"],
            )?,
            router_batches_queued_peak: IntGaugeVec::new(
                Opts::new(
                    "switchboard_router_batches_queued_peak",
                    "Most socket reads ever in the pipeline at once",
                ),
                &["pbx"],
            )?,
            queue_waiting: IntGaugeVec::new(
                Opts::new(
                    "switchboard_queue_waiting",
                    "Callers waiting in the queue now",
                ),
                &["pbx", "queue"],
            )?,
            queue_longest_wait: IntGaugeVec::new(
                Opts::new(
                    "switchboard_queue_longest_wait_seconds",
                    "How long the longest-waiting caller of the queue has waited",
                ),
                &["pbx", "queue"],
            )?,
            queue_members: IntGaugeVec::new(
                Opts::new("switchboard_queue_members", "Queue members by state"),
                &["pbx", "queue", "state"],
            )?,
            registry,
        };
        m.registry.register(Box::new(m.events.clone()))?;
        m.registry.register(Box::new(m.store_pruned.clone()))?;
        m.registry.register(Box::new(m.malformed.clone()))?;
        m.registry.register(Box::new(m.unrouted.clone()))?;
        m.registry
            .register(Box::new(m.call_events_dropped.clone()))?;
        m.registry.register(Box::new(m.ws_refused.clone()))?;
        m.registry.register(Box::new(m.reconnects.clone()))?;
        m.registry.register(Box::new(m.ami_state.clone()))?;
        m.registry.register(Box::new(m.login_seconds.clone()))?;
        m.registry.register(Box::new(m.actor_restarts.clone()))?;
        m.registry.register(Box::new(m.subscribers.clone()))?;
        m.registry.register(Box::new(m.ws_messages.clone()))?;
        m.registry.register(Box::new(m.ws_conflated.clone()))?;
        m.registry.register(Box::new(m.ws_dropped.clone()))?;
        m.registry.register(Box::new(m.refresh_sessions.clone()))?;
        m.registry.register(Box::new(m.refreshes.clone()))?;
        m.registry
            .register(Box::new(m.refresh_corrections.clone()))?;
        m.registry.register(Box::new(m.calls_active.clone()))?;
        m.registry.register(Box::new(m.calls_finished.clone()))?;
        m.registry
            .register(Box::new(m.event_receipt_seconds.clone()))?;
        m.registry
            .register(Box::new(m.event_delivery_seconds.clone()))?;
        m.registry.register(Box::new(m.store_pending.clone()))?;
        m.registry.register(Box::new(m.store_journaled.clone()))?;
        m.registry
            .register(Box::new(m.extensions_refused.clone()))?;
        m.registry
            .register(Box::new(m.router_batches_queued.clone()))?;
        m.registry
            .register(Box::new(m.router_batches_queued_peak.clone()))?;
        m.registry.register(Box::new(m.queue_waiting.clone()))?;
        m.registry
            .register(Box::new(m.queue_longest_wait.clone()))?;
        m.registry.register(Box::new(m.queue_members.clone()))?;
        Ok(m)
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        if TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .is_err()
        {
            return String::new();
        }
        String::from_utf8(buf).unwrap_or_default()
    }

    /// Sets the queue gauges to `queues` as of `now`. Read from the live view at
    /// each scrape (a wait grows with no event to update it); queues no longer there
    /// leave the output.
    pub fn set_queues(&self, queues: &[std::sync::Arc<Queue>], now: chrono::DateTime<chrono::Utc>) {
        self.queue_waiting.reset();
        self.queue_longest_wait.reset();
        self.queue_members.reset();
        let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        for q in queues {
            let labels = [q.pbx.as_str(), q.name.as_str()];
            self.queue_waiting
                .with_label_values(&labels)
                .set(count(q.callers.len()));
            self.queue_longest_wait
                .with_label_values(&labels)
                .set(i64::try_from(q.longest_waiting_secs(now)).unwrap_or(i64::MAX));
            for state in MemberState::LABELS {
                self.queue_members
                    .with_label_values(&[q.pbx.as_str(), q.name.as_str(), state])
                    .set(count(q.members_in(state)));
            }
        }
    }

    /// Marks `state` as the current AMI state of `pbx`.
    pub fn set_ami_state(&self, pbx: &str, state: AmiConnectionState) {
        for s in AmiConnectionState::METRIC_LABELS {
            self.ami_state
                .with_label_values(&[pbx, s.as_str()])
                .set(i64::from(s == state));
        }
    }
}
