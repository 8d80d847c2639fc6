//! Starting and stopping the whole service: the actors on their arbiters, the
//! store, and the HTTP server.
//!
//! Threads: each PBX's ConnectionActor has an arbiter of its own, so the socket
//! reader never shares a thread with anything slow; the routers, call trackers,
//! extension actors and the hub share a "pipeline" arbiter (handing an event to a
//! tracker is then a same-thread queue push); the store writer and the refresh
//! manager run on the system arbiter (the writer's batches on two threads of its
//! own, see `store::writer`; the rest of the database work on the blocking pool);
//! HTTP and WebSocket sessions run on actix-web's workers, each thread's sessions
//! fed through one `ws::relay`.

mod mode;
mod server;
mod shutdown;
mod steps;

use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use actix_web::web;
use anyhow::Context as _;
use chrono::Utc;

use crate::actors::connection::{ConnectionActor, LogOff};
use crate::actors::hub::CloseAll;
use crate::actors::refresh_manager::CloseSessions;
use crate::config::Config;
use crate::http::AppState;
use crate::metrics::Metrics;
use crate::supervision::Registry;

use mode::Mode;
pub use server::{
    http_app, http_server, http_server_on, open_to_network_warning, serve, BoundHttp, HttpSettings,
    REQUEST_HEAD_TIMEOUT,
};
pub use shutdown::StopOutcome;

/// A running service (inside an actix `System`).
pub struct Service {
    /// What the HTTP layer uses.
    pub state: web::Data<AppState>,
    arbiters: Vec<Arbiter>,
    cluster: Option<crate::cluster::ClusterRuntime>,
}

/// Where the dashboard lives: `STATIC_DIR`, else `./static`, else the source tree's.
pub fn static_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("STATIC_DIR") {
        return PathBuf::from(dir);
    }
    let local = PathBuf::from("static");
    if local.join("index.html").exists() {
        return local;
    }
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/static"))
}

/// What every start-up step reads: the settings and the service-wide handles.
pub(crate) struct Shared {
    config: Arc<Config>,
    metrics: Arc<Metrics>,
    registry: Registry,
    /// A random number naming this run in the AMI `ActionID`s it sends.
    instance: u32,
}

/// Starts every actor for `config`. Must run inside an actix `System`.
pub async fn start(config: Config) -> anyhow::Result<Service> {
    let mode = Mode::of(&config);
    let shared = Shared {
        config: Arc::new(config),
        metrics: Arc::new(Metrics::new().context("registering metrics")?),
        registry: Registry::new(),
        instance: rand::random(),
    };
    let store = steps::open_store(&shared).await?;
    steps::replay_journal(&shared, &store).await?;
    // A single instance reads what the store kept before any actor starts, so a
    // database that opens but cannot be read stops the start cleanly (an actor
    // still alive when the runtime is dropped panics). A cluster member reads it
    // after positioning its change feed (ordering rule "Feed position before
    // reading state").
    let early = match mode {
        Mode::Single => Some(steps::read_stored_state(&shared, &store).await?),
        Mode::Cluster(_) => None,
    };
    let writer = steps::start_writer(&shared, &mode, &store);
    let joined = mode.join(&shared, &store, &writer).await?;
    let persist = Mode::persist_targets(joined.as_ref(), &writer);
    let stored = match early {
        Some(stored) => stored,
        None => steps::read_stored_state(&shared, &store).await?,
    };
    let live = steps::restore_live_view(&mode, &stored);

    // The connections' status cells (what health reads), made first so the hub can
    // watch them too.
    let cells: Vec<_> = (shared.config.pbxs.iter())
        .map(|p| ConnectionActor::status_for(&p.name))
        .collect();
    let pipeline = Arbiter::new();
    let hub = steps::start_hub(&shared, &mode, &pipeline, &live, &persist, cells.clone());
    let started = steps::start_pbxs(&shared, &mode, pipeline, &hub, &stored, cells);
    let refresh = steps::start_refresh(&shared, started.targets, &live, &hub, &persist);
    let cluster = match joined {
        Some(joined) => Some(steps::start_cluster(
            joined,
            &hub,
            &store,
            &started.pbxs,
            &shared.metrics,
        )?),
        None => None,
    };

    let Shared {
        config,
        metrics,
        registry,
        ..
    } = shared;
    let state = web::Data::new(AppState {
        cluster: cluster.as_ref().map(|c| c.view.clone()),
        ws_slots: crate::ws::slots::ClientSlots::new(config.ws_max_clients),
        config,
        live,
        registry,
        metrics,
        hub,
        refresh,
        pbxs: started.pbxs,
        store: store.for_readers(),
        writer,
        started_at: Utc::now(),
        static_dir: static_dir(),
        next_session: AtomicU64::new(0),
    });
    Ok(Service {
        state,
        arbiters: started.arbiters,
        cluster,
    })
}

impl Service {
    /// The cluster's write gate (cluster mode only): for fault tests.
    pub fn cluster_gate(&self) -> Option<Addr<crate::cluster::gate::PersistGate>> {
        self.cluster.as_ref().map(|c| c.gate.clone())
    }

    /// The threads the service started for its actors: the pipeline's, and one
    /// per PBX whose connection reads on a thread of its own (`AMI_THREADS`).
    pub fn actor_threads(&self) -> usize {
        self.arbiters.len()
    }

    /// Stops politely: Logoff on every AMI connection, refresh sessions closed,
    /// WebSocket clients told 1001 (going away), pending writes flushed for up to
    /// `SHUTDOWN_GRACE` and the rest journaled (see [`StopOutcome`]).
    pub async fn shutdown(&self) -> StopOutcome {
        let s = &self.state;
        let logoffs = s.pbxs.iter().map(|p| p.connection.send(LogOff));
        let _ =
            tokio::time::timeout(Duration::from_secs(2), futures::future::join_all(logoffs)).await;
        if let Some(c) = &self.cluster {
            c.stop();
        }
        let _ = s.refresh.send(CloseSessions).await;
        let _ = s.hub.send(CloseAll).await;
        let outcome = shutdown::flush_or_journal(&s.writer, s.config.store.shutdown_grace).await;
        for a in &self.arbiters {
            a.stop();
        }
        outcome
    }
}
