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

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use actix::prelude::*;
use actix_web::{web, App, HttpServer};
use anyhow::Context as _;
use chrono::Utc;

use crate::actors::connection::{ConnectionActor, ConnectionSettings, ConnectionTargets, LogOff};
use crate::actors::hub::{CloseAll, Hub};
use crate::actors::live::{LiveState, SharedLive};
use crate::actors::login::AmiEndpoint;
use crate::actors::refresh_manager::{CloseSessions, RefreshLimits, RefreshManager, RefreshTarget};
use crate::actors::router::{EventRouterActor, RestoreCalls};
use crate::actors::status::Registry;
use crate::config::Config;
use crate::http::state::PbxRuntime;
use crate::http::AppState;
use crate::metrics::Metrics;
use crate::store::{Flush, Store, StoreWriter, WriterConfig};

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

/// Starts every actor for `config`. Must run inside an actix `System`.
pub async fn start(config: Config) -> anyhow::Result<Service> {
    let config = Arc::new(config);
    let metrics = Arc::new(Metrics::new().context("registering metrics")?);
    let registry = Registry::new();
    let url = config.database_url.clone();
    let store = web::block(move || Store::open(&url))
        .await
        .context("opening the store")?
        .context("opening the store")?;
    log::info!("store: {}", store.describe());
    let clustered = config.cluster.enabled;
    let mut writer_config = WriterConfig {
        retention: config.retention,
        ..WriterConfig::default()
    };
    if clustered {
        writer_config.flush_interval = config.cluster.flush;
        writer_config.feed_instance = Some(Arc::from(config.cluster.instance_id.as_str()));
    }
    let writer_store = store.clone();
    let writer = {
        let (registry, metrics) = (registry.clone(), metrics.clone());
        Supervisor::start(move |_| {
            StoreWriter::with_config(writer_store, writer_config).supervised_by(registry, metrics)
        })
    };
    // Cluster mode: the feed session is positioned before the state is read, so
    // every change committed after the read is replayed.
    let prepared = {
        let (cluster, url) = (config.cluster.clone(), config.database_url.clone());
        web::block(move || crate::cluster::prepare(&cluster, &url))
            .await
            .context("opening the change-feed session")?
            .context("opening the change-feed session")?
    };
    if clustered {
        log::info!(
            "cluster: instance {} on {} (PBX leases and change feed)",
            config.cluster.instance_id,
            store.describe()
        );
    }
    let gate = clustered.then(|| {
        let (writer, registry, metrics) = (writer.clone(), registry.clone(), metrics.clone());
        Supervisor::start(move |_| {
            crate::cluster::gate::PersistGate::new(writer).supervised_by(registry, metrics)
        })
    });
    let persist: Recipient<crate::delivery::Persist> = match &gate {
        Some(g) => g.clone().recipient(),
        None => writer.clone().recipient(),
    };
    let persist_many: Recipient<crate::delivery::PersistMany> = match &gate {
        Some(g) => g.clone().recipient(),
        None => writer.clone().recipient(),
    };

    // What the store knew when the service last stopped.
    let restore_store = store.clone();
    let (stored_extensions, stored_calls) = web::block(move || {
        Ok::<_, crate::store::StoreError>((
            restore_store.list_extensions(None)?,
            restore_store.list_active_calls(None)?,
        ))
    })
    .await
    .context("reading the stored state")?
    .context("reading the stored state")?;
    let mut live_state = LiveState::default();
    if clustered {
        // Whoever holds a PBX tracks its calls; here they are only shown.
        for c in &stored_calls {
            live_state
                .calls
                .insert((c.pbx.clone(), c.id.clone()), Arc::new(c.clone()));
        }
    }
    // A hint removed before the stop stays out of the live view.
    for e in stored_extensions
        .into_iter()
        .filter(|e| e.state != crate::state::extension::REMOVED)
    {
        live_state
            .extensions
            .insert((e.pbx.clone(), e.extension.clone()), Arc::new(e));
    }
    let live: SharedLive = Arc::new(RwLock::new(live_state));

    // The connections' status cells (what health reads), made first so the hub can
    // watch them too.
    let cells: Vec<_> = config
        .pbxs
        .iter()
        .map(|p| ConnectionActor::status_for(&p.name))
        .collect();
    let pipeline = Arbiter::new();
    let hub = {
        let cells = cells.clone();
        let (live, metrics, registry) = (live.clone(), metrics.clone(), registry.clone());
        let history = config.ws_history;
        let store_rcpt = persist_many.clone();
        // Cluster mode: each instance numbers its changes from its start time in
        // microseconds, so a `lastSeq` from another instance gets a snapshot.
        let first_seq = if clustered {
            u64::try_from(Utc::now().timestamp_micros()).unwrap_or(0)
        } else {
            0
        };
        Supervisor::start_in_arbiter(&pipeline.handle(), move |_| {
            Hub::new(live, history, Some(store_rcpt), metrics, registry)
                .starting_at(first_seq)
                .watching(cells)
        })
    };

    let instance: u32 = rand::random();
    let mut arbiters = vec![pipeline];
    let mut pbxs = Vec::new();
    let mut targets = HashMap::new();
    for (pbx, status) in config.pbxs.iter().zip(cells) {
        let endpoint = AmiEndpoint {
            pbx: pbx.name.clone(),
            host: pbx.host.clone(),
            port: pbx.port,
            username: pbx.username.clone(),
            secret: pbx.secret.clone(),
            auth: pbx.auth,
            connect_timeout: config.connect_timeout,
            login_timeout: config.login_timeout,
            limits: config.ami_limits,
        };
        let router = {
            let (name, hub, registry, metrics) = (
                pbx.name.clone(),
                hub.clone(),
                registry.clone(),
                metrics.clone(),
            );
            let timeout = config.call_timeout;
            let max_extensions = config.max_extensions_per_pbx;
            Supervisor::start_in_arbiter(&arbiters[0].handle(), move |_| {
                EventRouterActor::new(
                    &name,
                    hub.clone().recipient(),
                    hub.recipient(),
                    registry,
                    metrics,
                    timeout,
                )
                .with_max_extensions(max_extensions)
            })
        };
        let mine: Vec<_> = stored_calls
            .iter()
            .filter(|c| c.pbx == pbx.name)
            .cloned()
            .collect();
        if !mine.is_empty() && !clustered {
            log::info!(
                "pbx {}: restoring {} calls active at the last stop",
                pbx.name,
                mine.len()
            );
            router.do_send(RestoreCalls(mine));
        }
        let settings = ConnectionSettings {
            endpoint: endpoint.clone(),
            ping_interval: config.ping_interval,
            ping_timeout: config.ping_timeout,
            backoff: config.backoff,
            login_backoff: config.login_backoff,
            instance,
            max_queued_batches: config.router_max_queued_batches,
        };
        let conn_targets = ConnectionTargets {
            events: router.clone().recipient(),
            channels: router.clone().recipient(),
            extensions: router.clone().recipient(),
            publish: hub.clone().recipient(),
        };
        let arbiter = Arbiter::new();
        let connection = {
            let (registry, metrics, status) = (registry.clone(), metrics.clone(), status.clone());
            Supervisor::start_in_arbiter(&arbiter.handle(), move |_| {
                let actor = ConnectionActor::new(settings, conn_targets, registry, metrics, status);
                if clustered {
                    actor.on_standby()
                } else {
                    actor
                }
            })
        };
        arbiters.push(arbiter);
        targets.insert(
            pbx.name.clone(),
            RefreshTarget {
                endpoint,
                router: router.clone(),
            },
        );
        pbxs.push(PbxRuntime {
            name: pbx.name.clone(),
            status,
            connection,
            router,
        });
    }
    let limits = RefreshLimits {
        max_sessions: config.refresh_max_sessions,
        concurrency: config.refresh_concurrency,
        idle: config.refresh_idle,
        reap_every: config.refresh_reap_every,
        query_timeout: config.refresh_query_timeout,
        instance,
    };
    let refresh = {
        let (live, hub, persist) = (live.clone(), hub.clone(), persist.clone());
        let (metrics, registry) = (metrics.clone(), registry.clone());
        Supervisor::start(move |_| {
            RefreshManager::new(targets, live, hub, Some(persist), limits, metrics, registry)
        })
    };
    let ws_slots = crate::ws::slots::ClientSlots::new(config.ws_max_clients);
    let cluster = match (prepared, gate) {
        (Some(prepared), Some(gate)) => {
            let members = pbxs
                .iter()
                .map(|p| crate::cluster::controller::Member {
                    name: p.name.clone(),
                    router: p.router.clone(),
                    connection: p.connection.clone(),
                })
                .collect();
            Some(
                crate::cluster::ClusterRuntime::start(
                    prepared,
                    gate,
                    hub.clone(),
                    store.clone(),
                    members,
                )
                .context("starting the cluster thread")?,
            )
        }
        _ => None,
    };
    let state = web::Data::new(AppState {
        cluster: cluster.as_ref().map(|c| c.view.clone()),
        config,
        live,
        registry,
        metrics,
        hub,
        refresh,
        pbxs,
        store,
        writer,
        started_at: Utc::now(),
        static_dir: static_dir(),
        ws_slots,
        next_session: AtomicU64::new(0),
    });
    Ok(Service {
        state,
        arbiters,
        cluster,
    })
}

impl Service {
    /// The cluster's write gate (cluster mode only): for fault tests.
    pub fn cluster_gate(&self) -> Option<Addr<crate::cluster::gate::PersistGate>> {
        self.cluster.as_ref().map(|c| c.gate.clone())
    }

    /// Stops politely: Logoff on every AMI connection, refresh sessions closed,
    /// WebSocket clients told 1001 (going away), pending writes flushed.
    pub async fn shutdown(&self) {
        let s = &self.state;
        let logoffs = s.pbxs.iter().map(|p| p.connection.send(LogOff));
        let _ =
            tokio::time::timeout(Duration::from_secs(2), futures::future::join_all(logoffs)).await;
        if let Some(c) = &self.cluster {
            c.stop();
        }
        let _ = s.refresh.send(CloseSessions).await;
        let _ = s.hub.send(CloseAll).await;
        match tokio::time::timeout(Duration::from_secs(5), s.writer.send(Flush)).await {
            Ok(Ok(_)) => log::info!("store: pending writes flushed"),
            _ => log::error!("store: pending writes could not be flushed within 5 s"),
        }
        for a in &self.arbiters {
            a.stop();
        }
    }
}

/// Runs the HTTP server for `service` until SIGTERM or Ctrl-C, then shuts down gracefully.
pub async fn serve(service: Service) -> anyhow::Result<()> {
    let bind = service.state.config.http_bind;
    if let Some(warning) = open_to_network_warning(&service.state.config) {
        log::warn!("{warning}");
    }
    let data = service.state.clone();
    let server = HttpServer::new(move || {
        let data = data.clone();
        App::new()
            .wrap(crate::http::access_logger())
            .configure(move |cfg| crate::http::configure(cfg, data))
    })
    .workers(2)
    .disable_signals()
    // WebSocket changes are small frames pushed as they happen: with Nagle on, a
    // frame written while the previous one is unacknowledged waits for the ACK.
    .tcp_nodelay(true)
    .shutdown_timeout(3)
    // The request head (line and headers) must arrive within this; the body has
    // its own deadline, HTTP_BODY_TIMEOUT (see `http::edge`).
    .client_request_timeout(REQUEST_HEAD_TIMEOUT)
    .bind(bind)
    .with_context(|| format!("binding HTTP to {bind}"))?
    .run();
    log::info!("switchboard listening on http://{bind}");
    let handle = server.handle();
    let server_task = actix_web::rt::spawn(server);
    wait_for_signal().await;
    log::info!("shutting down: logging off, closing clients, flushing writes");
    service.shutdown().await;
    handle.stop(true).await;
    let _ = server_task.await;
    Ok(())
}

/// How long a client may take to send a request's line and headers.
pub const REQUEST_HEAD_TIMEOUT: Duration = Duration::from_secs(5);

/// The warning for a service that anyone on the network can read: no `API_TOKEN`
/// and a listening address other than loopback. `None` when either is not so.
pub fn open_to_network_warning(config: &Config) -> Option<String> {
    let bind = config.http_bind;
    (config.api_token.is_none() && !bind.ip().is_loopback()).then(|| {
        format!(
            "HTTP_BIND is {bind}, not loopback, and API_TOKEN is not set: every call \
             record (caller numbers and names), extension and the live feed is readable, \
             and refreshes can be started, by anyone who can reach this port; set API_TOKEN"
        )
    })
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
