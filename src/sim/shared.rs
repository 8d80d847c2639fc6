//! [`Shared`]: the state the handle, the sessions and the generator share (the model
//! behind its mutex, the event broadcast, the control watch and the counters). A leaf
//! below the server, the sessions and the actions, so none of them points back up.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use bytes::Bytes;
use log::info;
use tokio::sync::{broadcast, watch, Notify};

use super::model::Pbx;
use super::settings::SimConfig;
use super::truth::SimStats;

/// Control state every task watches; a change of a counter is a one-shot command.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Ctl {
    /// Stop reading, writing and accepting.
    pub frozen: bool,
    /// Bumped by `drop_connections`.
    pub drops: u64,
    /// Bumped by `restart`.
    pub restarts: u64,
    /// Set by `stop`: everything ends.
    pub stopped: bool,
}

/// Counters behind [`SimStats`].
#[derive(Debug, Default)]
pub(super) struct Counters {
    pub connections: AtomicU64,
    pub sessions: AtomicU64,
    pub logins_ok: AtomicU64,
    pub logins_failed: AtomicU64,
    pub logoffs: AtomicU64,
    pub actions: AtomicU64,
    pub events: AtomicU64,
    pub lagged_drops: AtomicU64,
}

/// State shared by the handle, the sessions and the generator.
#[derive(Debug)]
pub(super) struct Shared {
    pub cfg: SimConfig,
    pbx: Mutex<Pbx>,
    pub events: broadcast::Sender<Bytes>,
    pub ctl: watch::Sender<Ctl>,
    rate_bits: AtomicU64,
    pub burst: AtomicU64,
    pub wake: Notify,
    pub refuse_logins: AtomicBool,
    pub stats: Counters,
    /// Extensions whose `ExtensionState` answers Error and which `ExtensionStateList` leaves out.
    pub failing: Mutex<std::collections::HashSet<String>>,
    /// Extensions whose `ExtensionState` goes unanswered and which `ExtensionStateList` leaves out.
    pub silent: Mutex<std::collections::HashSet<String>>,
    /// Milliseconds a session waits before answering `ExtensionStateList`.
    pub list_delay_ms: AtomicU64,
}

impl Shared {
    pub fn new(cfg: SimConfig) -> Self {
        let (events, _) = broadcast::channel(cfg.lag_capacity.max(16));
        let (ctl, _) = watch::channel(Ctl::default());
        Self {
            pbx: Mutex::new(Pbx::new(&cfg)),
            rate_bits: AtomicU64::new(cfg.rate.max(0.0).to_bits()),
            cfg,
            events,
            ctl,
            burst: AtomicU64::new(0),
            wake: Notify::new(),
            refuse_logins: AtomicBool::new(false),
            stats: Counters::default(),
            failing: Mutex::new(std::collections::HashSet::new()),
            silent: Mutex::new(std::collections::HashSet::new()),
            list_delay_ms: AtomicU64::new(0),
        }
    }

    /// The model; a panic elsewhere never makes it unreachable.
    pub fn pbx(&self) -> MutexGuard<'_, Pbx> {
        self.pbx.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether `exten` is set to fail its queries.
    pub fn is_failing(&self, exten: &str) -> bool {
        self.failing
            .lock()
            .map(|f| f.contains(exten))
            .unwrap_or(false)
    }

    /// Whether `exten` is set to go unanswered.
    pub fn is_silent(&self, exten: &str) -> bool {
        self.silent
            .lock()
            .map(|f| f.contains(exten))
            .unwrap_or(false)
    }

    /// Sends what the model wrote to every session (call with the lock held).
    pub fn publish(&self, pbx: &mut Pbx) {
        if pbx.wire.is_empty() {
            return;
        }
        let (bytes, n) = pbx.wire.take();
        self.stats.events.fetch_add(n, Ordering::Relaxed);
        // No receiver (nobody logged in) is fine: the events are simply not seen.
        let _ = self.events.send(bytes);
    }

    /// Runs `f` on the model and publishes its events.
    pub fn with_pbx<T>(&self, f: impl FnOnce(&mut Pbx) -> T) -> T {
        let mut pbx = self.pbx();
        let out = f(&mut pbx);
        self.publish(&mut pbx);
        out
    }

    pub fn rate(&self) -> f64 {
        f64::from_bits(self.rate_bits.load(Ordering::Relaxed))
    }

    pub fn set_rate(&self, rate: f64) {
        let rate = if rate.is_finite() { rate.max(0.0) } else { 0.0 };
        self.rate_bits.store(rate.to_bits(), Ordering::Relaxed);
        self.wake.notify_one();
    }

    pub fn ctl(&self) -> Ctl {
        *self.ctl.borrow()
    }

    pub fn update_ctl(&self, f: impl FnOnce(&mut Ctl)) {
        self.ctl.send_modify(f);
        self.wake.notify_one();
    }

    pub fn stats(&self) -> SimStats {
        let s = &self.stats;
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        SimStats {
            connections: g(&s.connections),
            sessions: g(&s.sessions),
            logins_ok: g(&s.logins_ok),
            logins_failed: g(&s.logins_failed),
            logoffs: g(&s.logoffs),
            actions: g(&s.actions),
            events: g(&s.events),
            lagged_drops: g(&s.lagged_drops),
            burst_pending: self.burst.load(Ordering::Relaxed),
        }
    }

    /// Restarts the PBX as `core restart now` does (shared by the handle and `Command`).
    pub fn restart(&self) {
        info!("simulator: PBX restarting");
        self.pbx().reset();
        self.update_ctl(|c| c.restarts += 1);
    }
}
