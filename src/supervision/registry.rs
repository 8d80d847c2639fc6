//! The actor registry behind `GET /api/admin/actors`.
//!
//! Every actor registers itself on start and holds an [`ActorHandle`]; counters are
//! atomics so the hot path (a tracker handling an event) never takes a lock. The map
//! itself is locked only when an actor starts or stops and when the admin endpoint
//! reads it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use chrono::{DateTime, TimeZone, Utc};
use serde::Serialize;

/// The counters of one actor.
#[derive(Debug)]
pub struct ActorStats {
    kind: &'static str,
    name: String,
    started: DateTime<Utc>,
    state: Mutex<&'static str>,
    restarts: AtomicU32,
    messages: AtomicU64,
    last_message_ms: AtomicI64,
    queued_bytes: OnceLock<BytesGauge>,
}

/// Reads how many bytes an actor holds for a peer (a WebSocket session's queue),
/// when the admin endpoint asks: the actor would otherwise have to store the
/// figure on every change of it.
#[derive(Clone)]
pub struct BytesGauge(pub Arc<dyn Fn() -> u64 + Send + Sync>);

impl std::fmt::Debug for BytesGauge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BytesGauge")
    }
}

/// What the admin endpoint shows for one actor.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActorInfo {
    /// Registry id, unique for the process's life.
    pub id: u64,
    /// What it is: `connection`, `router`, `callTracker`, `extension`, `refresh`, `refreshManager`, `hub`, `storeWriter`, `persistGate`, `wsSession`.
    pub kind: &'static str,
    /// Which one: the PBX, the call id, the extension…
    pub name: String,
    /// `running`, `restarting`, `connected`, …
    pub state: &'static str,
    /// When it started.
    #[serde(serialize_with = "crate::timefmt::utc")]
    pub started: DateTime<Utc>,
    /// How often its supervisor restarted it.
    pub restarts: u32,
    /// Messages handled.
    pub messages_handled: u64,
    /// When it last handled a message.
    #[serde(serialize_with = "crate::timefmt::utc_opt")]
    pub last_message: Option<DateTime<Utc>>,
    /// Bytes queued for its peer (WebSocket sessions only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queued_bytes: Option<u64>,
}

/// Cheap handle an actor keeps to update its own row; removes the row when dropped.
#[derive(Debug)]
pub struct ActorHandle {
    id: u64,
    stats: Arc<ActorStats>,
    registry: Registry,
}

impl ActorHandle {
    /// Counts one handled message (an atomic add and a clock read).
    pub fn handled(&self) {
        self.handled_n(1);
    }

    /// Counts `n` handled messages at once (batches).
    pub fn handled_n(&self, n: u64) {
        self.stats.messages.fetch_add(n, Ordering::Relaxed);
        self.stats
            .last_message_ms
            .store(now_millis(), Ordering::Relaxed);
    }

    /// Records a restart by the supervisor.
    pub fn restarted(&self) {
        self.stats.restarts.fetch_add(1, Ordering::Relaxed);
    }

    /// How often the actor was restarted.
    pub fn restarts(&self) -> u32 {
        self.stats.restarts.load(Ordering::Relaxed)
    }

    /// Sets the state word shown by the admin endpoint.
    pub fn set_state(&self, state: &'static str) {
        if let Ok(mut s) = self.stats.state.lock() {
            *s = state;
        }
    }

    /// The registry id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Shows `gauge` as the actor's `queuedBytes` (set once).
    pub fn report_queued_bytes(&self, gauge: BytesGauge) {
        let _ = self.stats.queued_bytes.set(gauge);
    }
}

impl Drop for ActorHandle {
    fn drop(&mut self) {
        if let Ok(mut map) = self.registry.inner.actors.lock() {
            map.remove(&self.id);
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    next_id: AtomicU64,
    actors: Mutex<HashMap<u64, Arc<ActorStats>>>,
}

/// The shared registry of live actors (clone freely).
#[derive(Debug, Clone, Default)]
pub struct Registry {
    inner: Arc<Inner>,
}

impl Registry {
    /// A new, empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers an actor; keep the handle for its whole life.
    pub fn register(&self, kind: &'static str, name: impl Into<String>) -> ActorHandle {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let stats = Arc::new(ActorStats {
            kind,
            name: name.into(),
            started: Utc::now(),
            state: Mutex::new("running"),
            restarts: AtomicU32::new(0),
            messages: AtomicU64::new(0),
            last_message_ms: AtomicI64::new(0),
            queued_bytes: OnceLock::new(),
        });
        if let Ok(mut map) = self.inner.actors.lock() {
            map.insert(id, stats.clone());
        }
        ActorHandle {
            id,
            stats,
            registry: self.clone(),
        }
    }

    /// Every live actor, sorted by kind then name.
    pub fn snapshot(&self) -> Vec<ActorInfo> {
        let Ok(map) = self.inner.actors.lock() else {
            return Vec::new();
        };
        let mut out: Vec<ActorInfo> = map
            .iter()
            .map(|(id, s)| {
                let last = s.last_message_ms.load(Ordering::Relaxed);
                ActorInfo {
                    id: *id,
                    kind: s.kind,
                    name: s.name.clone(),
                    state: s.state.lock().map(|g| *g).unwrap_or("unknown"),
                    started: s.started,
                    restarts: s.restarts.load(Ordering::Relaxed),
                    messages_handled: s.messages.load(Ordering::Relaxed),
                    last_message: (last > 0)
                        .then(|| Utc.timestamp_millis_opt(last).single())
                        .flatten(),
                    queued_bytes: s.queued_bytes.get().map(|g| (g.0)()),
                }
            })
            .collect();
        drop(map);
        out.sort_by(|a, b| a.kind.cmp(b.kind).then_with(|| a.name.cmp(&b.name)));
        out
    }

    /// How many actors of `kind` are alive (for tests, metrics and soak checks).
    pub fn count(&self, kind: &str) -> usize {
        self.inner
            .actors
            .lock()
            .map(|m| m.values().filter(|s| s.kind == kind).count())
            .unwrap_or(0)
    }

    /// Total restarts across actors of `kind`.
    pub fn restarts(&self, kind: &str) -> u64 {
        self.inner
            .actors
            .lock()
            .map(|m| {
                m.values()
                    .filter(|s| s.kind == kind)
                    .map(|s| u64::from(s.restarts.load(Ordering::Relaxed)))
                    .sum()
            })
            .unwrap_or(0)
    }
}

/// Milliseconds since the epoch, read on every message an actor handles: from the
/// system clock directly, as `Utc::now()` also works out the calendar date, which
/// nothing here reads (it was a visible share of the pipeline thread's time).
fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
