//! [`AppState`]: what every handler can reach.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use actix::Addr;
use chrono::{DateTime, Utc};

use crate::actors::connection::{ConnectionActor, SharedStatus};
use crate::actors::hub::Hub;
use crate::actors::live::SharedLive;
use crate::actors::refresh_manager::RefreshManager;
use crate::actors::router::EventRouterActor;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::store::{Store, StoreWriter};
use crate::supervision::Registry;

/// One monitored PBX as the API sees it.
#[derive(Clone)]
pub struct PbxRuntime {
    /// Its name.
    pub name: String,
    /// Its connection's shared status.
    pub status: SharedStatus,
    /// Its connection actor.
    pub connection: Addr<ConnectionActor>,
    /// Its router.
    pub router: Addr<EventRouterActor>,
}

/// Shared state of the HTTP layer.
pub struct AppState {
    /// Settings.
    pub config: Arc<Config>,
    /// The live picture.
    pub live: SharedLive,
    /// Actor registry.
    pub registry: Registry,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// The fan-out hub.
    pub hub: Addr<Hub>,
    /// The refresh manager.
    pub refresh: Addr<RefreshManager>,
    /// The PBXs.
    pub pbxs: Vec<PbxRuntime>,
    /// The store (blocking calls go through `web::block`).
    pub store: Store,
    /// The store writer.
    pub writer: Addr<StoreWriter>,
    /// When the service started.
    pub started_at: DateTime<Utc>,
    /// Where the dashboard files are.
    pub static_dir: PathBuf,
    /// Next WebSocket session id.
    pub next_session: AtomicU64,
    /// Open WebSocket clients against `WS_MAX_CLIENTS`.
    pub ws_slots: crate::ws::slots::ClientSlots,
    /// Cluster mode: who holds which PBX (`None` for a single instance).
    pub cluster: Option<Arc<crate::cluster::ClusterView>>,
}

impl AppState {
    /// A fresh WebSocket session id.
    pub fn session_id(&self) -> u64 {
        self.next_session.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// The PBX named `name`, or the only one when `name` is `None`.
    pub fn pbx(&self, name: Option<&str>) -> Option<&PbxRuntime> {
        match name {
            Some(n) => self.pbxs.iter().find(|p| p.name == n),
            None => self.pbxs.first(),
        }
    }
}
