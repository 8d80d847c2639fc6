//! [`ConnectionActor`]: owns one PBX's AMI socket for the life of the service.
//!
//! Connects with a timeout, logs in (MD5 challenge or plain), keeps the connection
//! alive with `Ping`, notices a dead peer (EOF, `Shutdown`, or a Ping left
//! unanswered — a half-open socket or a frozen PBX), and reconnects with capped
//! exponential backoff and jitter. After every login it resynchronises: it asks for
//! `CoreShowChannels`, `ExtensionStateList`, `QueueStatus` and `QueueSummary` so
//! nothing stale survives a gap.
//!
//! The socket reader never waits on anything slow (Asterisk drops a client that does
//! not read within its `writetimeout`, 100 ms by default): each read is decoded,
//! correlated and handed to the router as one batch with a non-blocking send; the
//! database and the fan-out happen on other actors. Only a router that is truly
//! behind pauses the reader: a [`BatchGate`] bounds the reads waiting for it, so a
//! flooding PBX meets TCP backpressure rather than an ever-growing mailbox.
//!
//! The actor is split by concern: [`link`] is the socket's life (one [`LinkState`],
//! one teardown path), [`protocol`] what is done with what the PBX says, [`retry`]
//! the backoff, [`keepalive`] the dead-peer detection, and
//! [`handlers`] the messages other actors send.

mod filter;
mod handlers;
mod keepalive;
mod link;
mod names;
mod protocol;
mod retry;

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use actix::prelude::*;
use chrono::Utc;

use super::backoff::Backoff;
use super::backpressure::{BatchGate, BatchTicket};

use super::login::AmiEndpoint;
use super::messages::{
    ConfirmExtensions, EventBatch, NamesRead, Publish, ResyncChannels, ResyncQueues,
};
use crate::ami::{ActionIds, Correlator, EventFilter};
use crate::metrics::Metrics;
use crate::model::{AmiConnectionState, ConnectionStatus};
use crate::state::names::NameSettings;
use crate::supervision::{guarded, ActorHandle, Registry};

pub use handlers::{GetStatus, LogOff, SetActive};
use link::{LinkState, Teardown};
use protocol::Pending;
pub use protocol::{read_state, read_state_fields};

/// How often pending actions are checked against their deadlines.
const DEADLINE_TICK: Duration = Duration::from_millis(100);

/// The connection's view shared with the health endpoint (read without messaging).
pub type SharedStatus = Arc<RwLock<ConnectionStatus>>;

/// Tunables of one connection.
#[derive(Debug, Clone)]
pub struct ConnectionSettings {
    /// Where and how to log in.
    pub endpoint: AmiEndpoint,
    /// Time between keep-alive Pings.
    pub ping_interval: Duration,
    /// How long a Ping may go unanswered before the peer is declared dead.
    pub ping_timeout: Duration,
    /// Reconnect schedule after a lost or refused connection.
    pub backoff: (Duration, Duration),
    /// Reconnect schedule after a refused login (slower: never hammer a PBX with logins).
    pub login_backoff: (Duration, Duration),
    /// Distinguishes this process's ActionIDs from other instances'.
    pub instance: u32,
    /// Socket reads that may be in the pipeline at once (`ROUTER_MAX_QUEUED_BATCHES`).
    pub max_queued_batches: usize,
    /// Where display names come from.
    pub names: NameSettings,
    /// The events asked of the PBX after login (`AMI_EVENT_FILTER`).
    pub event_filter: EventFilter,
}

/// Where a connection sends what it receives.
#[derive(Clone)]
pub struct ConnectionTargets {
    /// Live events.
    pub events: Recipient<EventBatch>,
    /// Channel lists after login.
    pub channels: Recipient<ResyncChannels>,
    /// Extension lists after login.
    pub extensions: Recipient<ConfirmExtensions>,
    /// Display names read after login.
    pub names: Recipient<NamesRead>,
    /// Queue lists after login.
    pub queues: Recipient<ResyncQueues>,
    /// Connection state changes.
    pub publish: Recipient<Publish>,
}

/// What the connection remembers of the PBX across logins, to tell a PBX restart
/// from a plain reconnect.
#[derive(Debug, Default)]
struct PbxMemory {
    /// The uptime the PBX reported at the last `FullyBooted`, and when.
    last_boot: Option<(u64, Instant)>,
    /// The PBX announced `Shutdown` since that boot.
    shutdown_seen: bool,
    /// A login succeeded before (the next one counts as a reconnect).
    ever_connected: bool,
    /// The PBX refused the event filter once; later logins go without it.
    filter_refused: bool,
}

/// The long-lived AMI connection of one PBX.
pub struct ConnectionActor {
    settings: ConnectionSettings,
    pbx: Arc<str>,
    targets: ConnectionTargets,
    registry: Registry,
    handle: Option<ActorHandle>,
    status: SharedStatus,
    metrics: Arc<Metrics>,
    correlator: Correlator<Pending>,
    /// Where the socket is in its life; the only source of truth for it.
    state: LinkState,
    /// Numbers each login attempt; its ActionIDs and its result carry it.
    epoch: u64,
    backoff: Backoff,
    login_backoff: Backoff,
    memory: PbxMemory,
    /// Each event label's counter, resolved once: a label lookup in the metric
    /// family per event hashes and locks; this map is hashed with foldhash.
    counters: crate::fastmap::FastMap<&'static str, prometheus::IntCounter>,
    /// Events skipped unread since the last batch went to the router.
    skipped: u64,
    /// Bounds the reads waiting for the router (backpressure instead of loss).
    gate: BatchGate,
    /// The ticket of the read being handled, carried by each batch made from it.
    ticket: Option<BatchTicket>,
    /// The display names being read since the last login.
    names: names::NameReading,
}

impl ConnectionActor {
    /// A fresh status cell for `pbx`, created before the actor (which is built on its
    /// own arbiter) so other parts can hold it.
    pub fn status_for(pbx: &str) -> SharedStatus {
        Arc::new(RwLock::new(ConnectionStatus {
            pbx: pbx.to_string(),
            state: AmiConnectionState::Disconnected,
            since: Utc::now(),
            last_event: None,
            reconnects: 0,
            next_attempt: None,
            last_error: None,
            banner: None,
            pbx_uptime_secs: None,
            pbx_restarted: false,
        }))
    }

    /// A connection for `settings` reporting into `status`, not yet started (start
    /// it under a `Supervisor`).
    pub fn new(
        settings: ConnectionSettings,
        targets: ConnectionTargets,
        registry: Registry,
        metrics: Arc<Metrics>,
        status: SharedStatus,
    ) -> Self {
        let pbx: Arc<str> = Arc::from(settings.endpoint.pbx.as_str());
        let (b0, b1) = settings.backoff;
        let (l0, l1) = settings.login_backoff;
        let gate = BatchGate::new(settings.max_queued_batches, &metrics, &pbx);
        Self {
            gate,
            ticket: None,
            correlator: Correlator::new(ActionIds::new(settings.instance, 0)),
            settings,
            pbx,
            targets,
            registry,
            handle: None,
            status,
            metrics,
            state: LinkState::Idle,
            epoch: 0,
            backoff: Backoff::new(b0, b1),
            login_backoff: Backoff::new(l0, l1),
            memory: PbxMemory::default(),
            counters: crate::fastmap::FastMap::default(),
            names: names::NameReading::default(),
            skipped: 0,
        }
    }

    /// Starts on standby (cluster mode: another instance may hold this PBX's lease);
    /// [`SetActive`] brings the connection up.
    pub fn on_standby(mut self) -> Self {
        self.state = LinkState::Standby;
        self
    }

    /// The shared status cell (read by health and admin endpoints).
    pub fn status_cell(&self) -> SharedStatus {
        self.status.clone()
    }
}

impl Actor for ConnectionActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        if self.handle.is_none() {
            self.handle = Some(self.registry.register("connection", self.pbx.to_string()));
        }
        ctx.run_interval(DEADLINE_TICK, |act, ctx| {
            guarded(act, ctx, "deadline tick", |act, ctx| act.tick(ctx));
        });
        let every = self.settings.ping_interval;
        ctx.run_interval(every, |act, _| act.ping());
        match self.state {
            LinkState::Standby => self.set_status(AmiConnectionState::Standby, None),
            _ => self.connect(ctx),
        }
    }
}

impl Supervised for ConnectionActor {
    fn restarting(&mut self, ctx: &mut Context<Self>) {
        if let Some(h) = &self.handle {
            h.restarted();
        }
        self.metrics
            .actor_restarts
            .with_label_values(&["connection"])
            .inc();
        self.teardown(Teardown::Restarted, ctx);
    }
}
