//! Ties the cluster together: [`prepare`] opens the feed session before the
//! service reads its stored state, [`ClusterRuntime::start`] runs the [`Worker`]
//! thread and turns its verdicts into messages to the PBXs' actors.
//!
//! Taking over a PBX: the feed is read to its end (by the worker), the hub has
//! applied it, the gate starts passing the PBX's writes, the router forgets what it
//! had and restores the calls the store says are live, every instance's view of
//! the calls is set to the store's (a [`crate::delivery::CallsSnapshot`] through
//! the feed), and the ConnectionActor logs in — whose resync closes the calls that
//! ended meanwhile and adopts the ones it did not know. Losing a PBX: the ConnectionActor stands by at once, the
//! gate stops its writes, the router forgets it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use actix::prelude::*;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

use super::gate::{Hold, PersistGate};
use super::tap::Tap;
use super::view::ClusterView;
use super::worker::{Verdict, Worker};
use super::ClusterError;
use crate::actors::connection::{ConnectionActor, SetActive};
use crate::actors::hub::{GetHubStats, Hub};
use crate::actors::router::{EventRouterActor, ResetPbx, RestoreCalls};
use crate::config::ClusterConfig;
use crate::delivery::calls_snapshot::{CallsSnapshot, SyncCalls, RECENT_ENDED};
use crate::store::{CallHistoryQuery, Store};

/// The feed session, opened (and positioned) before the stored state is read.
pub struct Prepared {
    tap: Tap,
    config: ClusterConfig,
    url: String,
}

/// Opens the feed session when the cluster is on (blocking: run it off the loop).
pub fn prepare(config: &ClusterConfig, url: &str) -> Result<Option<Prepared>, ClusterError> {
    if !config.enabled {
        return Ok(None);
    }
    let tap = Tap::connect(url, &config.instance_id)?;
    Ok(Some(Prepared {
        tap,
        config: config.clone(),
        url: url.to_string(),
    }))
}

/// One PBX's actors, as the controller drives them.
#[derive(Clone)]
pub struct Member {
    /// The PBX.
    pub name: String,
    /// Its router.
    pub router: Addr<EventRouterActor>,
    /// Its connection (started on standby).
    pub connection: Addr<ConnectionActor>,
}

/// The running cluster parts of one instance.
pub struct ClusterRuntime {
    /// Who holds what (health).
    pub view: Arc<ClusterView>,
    /// The write gate in front of the store writer.
    pub gate: Addr<PersistGate>,
    stop: Arc<AtomicBool>,
}

struct Parts {
    hub: Addr<Hub>,
    gate: Addr<PersistGate>,
    store: Store,
    members: Vec<Member>,
}

impl ClusterRuntime {
    /// Starts the worker thread and the verdict handler (inside an actix system).
    pub fn start(
        prepared: Prepared,
        gate: Addr<PersistGate>,
        hub: Addr<Hub>,
        store: Store,
        members: Vec<Member>,
        pruned: prometheus::IntCounterVec,
    ) -> std::io::Result<Self> {
        let Prepared { tap, config, url } = prepared;
        let view = Arc::new(ClusterView::new(&config.instance_id));
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = unbounded_channel();
        let worker = Worker {
            url,
            pbxs: members.iter().map(|m| m.name.clone()).collect(),
            config,
            tap,
            hub: hub.clone(),
            verdicts: tx,
            view: view.clone(),
            stop: stop.clone(),
            pruned,
        };
        std::thread::Builder::new()
            .name("cluster".to_string())
            .spawn(move || worker.run())?;
        let parts = Parts {
            hub,
            gate: gate.clone(),
            store,
            members,
        };
        actix::spawn(handle_verdicts(rx, parts));
        Ok(Self { view, gate, stop })
    }

    /// Ends the worker thread (the lease session closes with the process).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

async fn handle_verdicts(mut rx: UnboundedReceiver<Verdict>, parts: Parts) {
    while let Some(verdict) = rx.recv().await {
        match verdict {
            Verdict::Acquired(pbx) => take_over(&parts, &pbx).await,
            Verdict::Lost(list) => {
                for pbx in list {
                    stand_by(&parts, &pbx);
                }
            }
        }
    }
}

async fn take_over(parts: &Parts, pbx: &str) {
    let Some(m) = parts.members.iter().find(|m| m.name == pbx) else {
        return;
    };
    // The rows the worker read before reporting are in the hub's mailbox: once it
    // answers, they are applied and their (dropped) writes are queued at the gate.
    let _ = parts.hub.send(GetHubStats).await;
    let _ = parts
        .gate
        .send(Hold {
            pbx: pbx.to_string(),
            held: true,
        })
        .await;
    let _ = m.router.send(ResetPbx).await;
    let store = parts.store.clone();
    let name = pbx.to_string();
    let read = tokio::task::spawn_blocking(move || {
        let live = store.list_active_calls(Some(&name))?;
        let ended = store
            .call_history(&CallHistoryQuery {
                pbx: Some(name),
                limit: RECENT_ENDED,
                count_total: false,
                ..CallHistoryQuery::default()
            })?
            .calls;
        Ok::<_, crate::store::StoreError>((live, ended))
    })
    .await;
    match read {
        Ok(Ok((live, ended))) => {
            log::info!(
                "pbx {pbx}: taking over with {} calls live in the store; logging in to resynchronise",
                live.len()
            );
            let snapshot = CallsSnapshot {
                pbx: pbx.to_string(),
                live: live.iter().cloned().map(Arc::new).collect(),
                ended: ended.into_iter().map(Arc::new).collect(),
            };
            let _ = m.router.send(RestoreCalls(live)).await;
            // Every instance's view of the calls is brought to the store's before
            // the resync's corrections (see `snapshot.rs` for why).
            let _ = parts
                .hub
                .send(SyncCalls {
                    snapshot: Arc::new(snapshot),
                    feed: true,
                })
                .await;
        }
        Ok(Err(e)) => log::error!("pbx {pbx}: cannot read its calls to take over: {e}"),
        Err(e) => log::error!("pbx {pbx}: cannot read its calls to take over: {e}"),
    }
    m.connection.do_send(SetActive(true));
}

fn stand_by(parts: &Parts, pbx: &str) {
    let Some(m) = parts.members.iter().find(|m| m.name == pbx) else {
        return;
    };
    m.connection.do_send(SetActive(false));
    parts.gate.do_send(Hold {
        pbx: pbx.to_string(),
        held: false,
    });
    m.router.do_send(ResetPbx);
}
