//! The steps of [`super::start`], in the order it runs them. Each step starts
//! one part of the service and hands the next steps what they need.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use actix::prelude::*;
use actix_web::web;
use anyhow::Context as _;

use crate::actors::connection::{
    ConnectionActor, ConnectionSettings, ConnectionTargets, SharedStatus,
};
use crate::actors::hub::Hub;
use crate::actors::live::{LiveState, SharedLive};
use crate::actors::login::AmiEndpoint;
use crate::actors::refresh_manager::{RefreshLimits, RefreshManager, RefreshTarget};
use crate::actors::router::{EventRouterActor, RestoreCalls};
use crate::http::state::PbxRuntime;
use crate::model::{Call, Extension};
use crate::store::{Store, StoreOptions, StoreWriter, WriterConfig};

use super::mode::{Joined, Mode, PersistTargets};
use super::Shared;

/// What the store knew when the service last stopped.
pub(super) struct StoredState {
    pub extensions: Vec<Extension>,
    pub calls: Vec<Call>,
    /// Today's finished queue calls, counted into the queues' day figures.
    pub queue_waits: Vec<crate::store::QueueWait>,
}

/// Every PBX's running parts, and the threads they run on.
pub(super) struct StartedPbxs {
    pub pbxs: Vec<PbxRuntime>,
    pub targets: HashMap<String, RefreshTarget>,
    pub arbiters: Vec<Arbiter>,
}

/// Opens the store named by `DATABASE_URL` (on the blocking pool: it may migrate).
pub(super) async fn open_store(shared: &Shared) -> anyhow::Result<Store> {
    let url = shared.config.database_url.clone();
    let described = crate::store::redact_url(&url);
    let options = StoreOptions {
        read_pool_size: shared.config.store.read_connections,
        read_timeout: shared.config.store.read_timeout,
        ..StoreOptions::default()
    };
    let store = web::block(move || Store::open_with(&url, &options))
        .await
        .context("opening the store")?
        .map_err(|e| crate::start_error::StoreUnavailable {
            url: described,
            reason: e.to_string(),
        })?;
    log::info!("store: {}", store.describe());
    Ok(store)
}

/// Where this service's journal lives (`JOURNAL_DIR`, else next to the store).
pub(super) fn journal_path(shared: &Shared) -> std::path::PathBuf {
    let config = &shared.config;
    crate::store::journal::path_for(&config.database_url, config.store.journal_dir.as_deref())
}

/// Replays the journal a previous run left (ops it could not write before it
/// stopped), before anything reads the stored state or logs in, so calls end
/// with their real outcome instead of being closed by the resync.
pub(super) async fn replay_journal(shared: &Shared, store: &Store) -> anyhow::Result<()> {
    let path = journal_path(shared);
    if !path.exists() {
        return Ok(());
    }
    log::info!("store: replaying the journal {}", path.display());
    let store = store.clone();
    let shown = path.display().to_string();
    let report = web::block(move || store.replay_journal(&path))
        .await
        .context("replaying the journal")?
        .with_context(|| format!("replaying the journal {shown}"))?;
    log::info!("store: journal {shown} replayed ({report})");
    Ok(())
}

/// Starts the store writer, supervised, with the settings `mode` asks for.
pub(super) fn start_writer(shared: &Shared, mode: &Mode, store: &Store) -> Addr<StoreWriter> {
    let writer_config = WriterConfig {
        journal: Some(journal_path(shared)),
        max_backlog: shared.config.store.max_backlog,
        call_retention: shared.config.store.call_retention,
        refresh_retention: shared.config.store.refresh_retention,
        ..mode.writer_config(shared.config.retention)
    };
    let (store, registry, metrics) = (
        store.clone(),
        shared.registry.clone(),
        shared.metrics.clone(),
    );
    Supervisor::start(move |_| {
        StoreWriter::with_config(store, writer_config).supervised_by(registry, metrics)
    })
}

/// Reads the extensions and active calls the store kept over the last stop. A
/// failure is a database problem like a failure to open ([`StoreUnavailable`],
/// exit code 4): the database answered the migrations but not these reads.
///
/// [`StoreUnavailable`]: crate::start_error::StoreUnavailable
pub(super) async fn read_stored_state(
    shared: &Shared,
    store: &Store,
) -> anyhow::Result<StoredState> {
    let store = store.clone();
    let midnight = chrono::Utc::now()
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc())
        .unwrap_or_else(chrono::Utc::now);
    let (extensions, calls, queue_waits) = web::block(move || {
        Ok::<_, crate::store::StoreError>((
            store.list_extensions(None)?,
            store.list_active_calls(None)?,
            store.queue_waits_since(midnight)?,
        ))
    })
    .await
    .context("reading the stored state")?
    .map_err(|e| crate::start_error::StoreUnavailable {
        url: crate::store::redact_url(&shared.config.database_url),
        reason: format!("reading the stored state failed: {e}"),
    })?;
    Ok(StoredState {
        extensions,
        calls,
        queue_waits,
    })
}

/// The live view the service starts from: the stored extensions (a hint removed
/// before the stop stays out) and, when the routers do not take the stored calls
/// over, those calls to show.
pub(super) fn restore_live_view(mode: &Mode, stored: &StoredState) -> SharedLive {
    let mut live_state = LiveState::default();
    if !mode.restores_calls() {
        for c in &stored.calls {
            live_state
                .calls
                .insert((c.pbx.clone(), c.id.clone()), Arc::new(c.clone()));
        }
    }
    for e in stored
        .extensions
        .iter()
        .filter(|e| e.state != crate::state::extension::REMOVED)
    {
        live_state
            .extensions
            .insert((e.pbx.clone(), e.extension.clone()), Arc::new(e.clone()));
    }
    Arc::new(RwLock::new(live_state))
}

/// Starts the hub on the pipeline arbiter, watching the connections' status cells.
pub(super) fn start_hub(
    shared: &Shared,
    mode: &Mode,
    pipeline: &Arbiter,
    live: &SharedLive,
    persist: &PersistTargets,
    cells: Vec<SharedStatus>,
) -> Addr<Hub> {
    let (live, metrics, registry) = (
        live.clone(),
        shared.metrics.clone(),
        shared.registry.clone(),
    );
    let history = shared.config.ws_history;
    let store_rcpt = persist.many.clone();
    let first_seq = mode.first_seq();
    Supervisor::start_in_arbiter(&pipeline.handle(), move |_| {
        Hub::new(live, history, Some(store_rcpt), metrics, registry)
            .starting_at(first_seq)
            .watching(cells)
    })
}

/// Starts each PBX's router (on the pipeline arbiter) and connection (on an
/// arbiter of its own, or on the pipeline's as `AMI_THREADS` says), handing the
/// router the stored calls when `mode` says so.
pub(super) fn start_pbxs(
    shared: &Shared,
    mode: &Mode,
    pipeline: Arbiter,
    hub: &Addr<Hub>,
    stored: &StoredState,
    cells: Vec<SharedStatus>,
) -> StartedPbxs {
    let stored_calls = &stored.calls;
    let config = &shared.config;
    let instance = shared.instance;
    let mut arbiters = vec![pipeline];
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let share_pipeline = config.ami_threads.shares_pipeline_thread(cores);
    if share_pipeline {
        log::info!("AMI connections read on the pipeline's thread ({cores} cores, AMI_THREADS)");
    }
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
                shared.registry.clone(),
                shared.metrics.clone(),
            );
            let timeout = config.call_timeout;
            let max_extensions = config.max_extensions_per_pbx;
            let sla = config.queue_sla_secs;
            let queue_history: Vec<_> = stored
                .queue_waits
                .iter()
                .filter(|w| w.pbx == pbx.name)
                .map(|w| (w.queue.clone(), w.wait_secs, w.abandoned))
                .collect();
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
                .with_queue_sla(sla)
                .with_queue_history(queue_history)
            })
        };
        let mine: Vec<_> = stored_calls
            .iter()
            .filter(|c| c.pbx == pbx.name)
            .cloned()
            .collect();
        if !mine.is_empty() && mode.restores_calls() {
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
            names: config.names.clone(),
            event_filter: config.ami_event_filter.clone(),
        };
        let conn_targets = ConnectionTargets {
            events: router.clone().recipient(),
            channels: router.clone().recipient(),
            extensions: router.clone().recipient(),
            names: router.clone().recipient(),
            queues: router.clone().recipient(),
            publish: hub.clone().recipient(),
        };
        let own = (!share_pipeline).then(Arbiter::new);
        let thread = own
            .as_ref()
            .map_or_else(|| arbiters[0].handle(), Arbiter::handle);
        let connection = {
            let (registry, metrics, status) = (
                shared.registry.clone(),
                shared.metrics.clone(),
                status.clone(),
            );
            let mode = mode.clone();
            Supervisor::start_in_arbiter(&thread, move |_| {
                mode.connection(ConnectionActor::new(
                    settings,
                    conn_targets,
                    registry,
                    metrics,
                    status,
                ))
            })
        };
        arbiters.extend(own);
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
    StartedPbxs {
        pbxs,
        targets,
        arbiters,
    }
}

/// Starts the refresh manager, which runs `POST /api/refresh` sessions against
/// each PBX's AMI endpoint.
pub(super) fn start_refresh(
    shared: &Shared,
    targets: HashMap<String, RefreshTarget>,
    live: &SharedLive,
    hub: &Addr<Hub>,
    persist: &PersistTargets,
) -> Addr<RefreshManager> {
    let config = &shared.config;
    let limits = RefreshLimits {
        max_sessions: config.refresh_max_sessions,
        concurrency: config.refresh_concurrency,
        idle: config.refresh_idle,
        reap_every: config.refresh_reap_every,
        query_timeout: config.refresh_query_timeout,
        names: config.names.clone(),
        instance: shared.instance,
    };
    let (live, hub, persist) = (live.clone(), hub.clone(), persist.one.clone());
    let (metrics, registry) = (shared.metrics.clone(), shared.registry.clone());
    Supervisor::start(move |_| {
        RefreshManager::new(targets, live, hub, Some(persist), limits, metrics, registry)
    })
}

/// Cluster mode: starts the thread that holds leases and reads the change feed,
/// driving every PBX's router and connection.
pub(super) fn start_cluster(
    joined: Joined,
    hub: &Addr<Hub>,
    store: &Store,
    pbxs: &[PbxRuntime],
    metrics: &crate::metrics::Metrics,
) -> anyhow::Result<crate::cluster::ClusterRuntime> {
    let members = pbxs
        .iter()
        .map(|p| crate::cluster::controller::Member {
            name: p.name.clone(),
            router: p.router.clone(),
            connection: p.connection.clone(),
        })
        .collect();
    crate::cluster::ClusterRuntime::start(
        joined.prepared,
        joined.gate,
        hub.clone(),
        store.clone(),
        members,
        metrics.store_pruned.clone(),
    )
    .context("starting the cluster thread")
}
