//! Single instance or one of a cluster: decided once from the config, so every
//! place where the two differ is a named method here rather than a branch inside
//! the start-up sequence.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use anyhow::Context as _;
use chrono::Utc;

use crate::actors::connection::ConnectionActor;
use crate::cluster::gate::PersistGate;
use crate::cluster::Prepared;
use crate::config::ClusterConfig;
use crate::delivery::{Persist, PersistMany};
use crate::store::{Store, StoreWriter, WriterConfig};

use super::Shared;

/// How this instance shares its PBXs with others.
#[derive(Clone)]
pub(super) enum Mode {
    /// The only instance: it holds every PBX, writes straight to the store and
    /// picks up the calls that were active when it last stopped.
    Single,
    /// One of several instances on one PostgreSQL database: leases decide who
    /// holds a PBX, and everyone's changes arrive through the change feed.
    Cluster(ClusterConfig),
}

/// What cluster mode adds before the stored state is read: the change-feed
/// session (positioned first, so every change committed after the read is
/// replayed) and the gate that holds writes while this instance holds no lease.
pub(super) struct Joined {
    pub prepared: Prepared,
    pub gate: Addr<PersistGate>,
}

/// Where the pipeline's writes go: straight to the writer, or through the gate.
pub(super) struct PersistTargets {
    pub one: Recipient<Persist>,
    pub many: Recipient<PersistMany>,
}

impl Mode {
    /// The mode `CLUSTER_*` settings ask for.
    pub fn of(config: &crate::config::Config) -> Self {
        if config.cluster.enabled {
            Mode::Cluster(config.cluster.clone())
        } else {
            Mode::Single
        }
    }

    /// The writer's settings: in a cluster it flushes on the cluster's interval and
    /// writes every change into the feed under this instance's name.
    pub fn writer_config(&self, retention: Duration) -> WriterConfig {
        let base = WriterConfig {
            retention,
            ..WriterConfig::default()
        };
        match self {
            Mode::Single => base,
            Mode::Cluster(cluster) => WriterConfig {
                flush_interval: cluster.flush,
                feed_instance: Some(Arc::from(cluster.instance_id.as_str())),
                ..base
            },
        }
    }

    /// Cluster mode: opens the change-feed session and starts the write gate.
    /// `None` for a single instance.
    pub async fn join(
        &self,
        shared: &Shared,
        store: &Store,
        writer: &Addr<StoreWriter>,
    ) -> anyhow::Result<Option<Joined>> {
        let Mode::Cluster(cluster) = self else {
            return Ok(None);
        };
        let prepared = {
            let (cluster, url) = (cluster.clone(), shared.config.database_url.clone());
            actix_web::web::block(move || crate::cluster::prepare(&cluster, &url))
                .await
                .context("opening the change-feed session")?
                .context("opening the change-feed session")?
        };
        let Some(prepared) = prepared else {
            return Ok(None);
        };
        log::info!(
            "cluster: instance {} on {} (PBX leases and change feed)",
            cluster.instance_id,
            store.describe()
        );
        let gate = {
            let (writer, registry, metrics) = (
                writer.clone(),
                shared.registry.clone(),
                shared.metrics.clone(),
            );
            Supervisor::start(move |_| PersistGate::new(writer).supervised_by(registry, metrics))
        };
        Ok(Some(Joined { prepared, gate }))
    }

    /// Where the pipeline's writes go: through the gate when there is one.
    pub fn persist_targets(joined: Option<&Joined>, writer: &Addr<StoreWriter>) -> PersistTargets {
        match joined {
            Some(j) => PersistTargets {
                one: j.gate.clone().recipient(),
                many: j.gate.clone().recipient(),
            },
            None => PersistTargets {
                one: writer.clone().recipient(),
                many: writer.clone().recipient(),
            },
        }
    }

    /// Whether the routers take over the calls stored as active. In a cluster,
    /// whoever holds a PBX tracks its calls; the others only show them.
    pub fn restores_calls(&self) -> bool {
        matches!(self, Mode::Single)
    }

    /// The hub's first sequence number. In a cluster each instance numbers its
    /// changes from its start time in microseconds, so a `lastSeq` from another
    /// instance gets a snapshot.
    pub fn first_seq(&self) -> u64 {
        match self {
            Mode::Single => 0,
            Mode::Cluster(_) => u64::try_from(Utc::now().timestamp_micros()).unwrap_or(0),
        }
    }

    /// A PBX connection as this mode starts it: in a cluster, on standby until
    /// this instance holds the PBX's lease.
    pub fn connection(&self, actor: ConnectionActor) -> ConnectionActor {
        match self {
            Mode::Single => actor,
            Mode::Cluster(_) => actor.on_standby(),
        }
    }
}
