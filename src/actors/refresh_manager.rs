//! [`RefreshManager`]: starts refresh sessions, caps them, queues the rest, lets
//! requests join, reaps idle ones.
//!
//! At most one refresh per PBX runs at a time: a request that arrives while one is
//! in flight (or waiting its turn) joins it and gets the same answer, so a crowd of
//! supervisors pressing "refresh" costs the PBX one login. Across PBXs at most
//! `max_sessions` logins are open at once; the refreshes of other PBXs wait in a
//! first-come queue and start as sessions finish, so a whole-board refresh of any
//! number of PBXs runs them all, `max_sessions` at a time, and answers when the last
//! is done.
//!
//! The queue holds each PBX at most once (a second request joins), so it never
//! grows past the number of PBXs; what a crowd can grow is the requests waiting on
//! one PBX's refresh. Those are capped at [`WAITERS_PER_SESSION`] ×
//! `max_sessions` per PBX; one more is answered [`RefreshError::Busy`] at once
//! rather than held. Sessions idle longer than the limit (a PBX that stopped
//! answering mid-refresh) are closed by a periodic check.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::prelude::*;
use chrono::Utc;
use tokio::sync::oneshot;

use super::hub::Hub;
use super::live::SharedLive;
use super::login::AmiEndpoint;
use super::messages::{Change, InjectPanic, Publish};
use super::refresh::{
    CloseSession, RefreshError, RefreshJob, RefreshReport, RefreshSessionActor, SessionInfo,
    SharedInfo,
};
use super::router::EventRouterActor;
use crate::delivery::Persist;
use crate::metrics::Metrics;
use crate::supervision::guarded;
use crate::supervision::{ActorHandle, Registry};

/// A PBX that can be refreshed.
#[derive(Clone)]
pub struct RefreshTarget {
    /// Where to log in.
    pub endpoint: AmiEndpoint,
    /// Its router.
    pub router: Addr<EventRouterActor>,
}

/// Limits of the manager.
#[derive(Debug, Clone)]
pub struct RefreshLimits {
    /// Refresh logins open at once.
    pub max_sessions: usize,
    /// Actions in flight per refresh.
    pub concurrency: usize,
    /// A session idle this long is closed.
    pub idle: Duration,
    /// How often to look for idle sessions.
    pub reap_every: Duration,
    /// Limit on one refresh's reading phase.
    pub query_timeout: Duration,
    /// Where display names come from.
    pub names: crate::state::names::NameSettings,
    /// ActionID prefix of this process.
    pub instance: u32,
}

/// Requests that may wait on one PBX's refresh, per allowed session.
pub const WAITERS_PER_SESSION: usize = 64;

type Waiter = oneshot::Sender<Result<RefreshReport, RefreshError>>;

/// Starts a refresh of one PBX (`None`: every PBX, `max_sessions` at a time).
#[derive(Message)]
#[rtype(result = "RefreshRun")]
pub struct StartRefresh {
    /// The PBX, or all.
    pub pbx: Option<String>,
}

/// One PBX's part of a run.
#[derive(Debug, Clone)]
pub struct PbxRefresh {
    /// The PBX.
    pub pbx: String,
    /// Its report, or why it has none.
    pub result: Result<RefreshReport, RefreshError>,
}

/// What a [`StartRefresh`] answers: every PBX asked for, in name order.
#[derive(Debug, Clone)]
pub struct RefreshRun {
    /// The run's id: the session's own for one PBX, a fresh one for several.
    pub connection_id: String,
    /// Each PBX's outcome.
    pub pbxs: Vec<PbxRefresh>,
}

/// Counts open and queued refreshes.
#[derive(Message)]
#[rtype(result = "usize")]
pub struct QueuedRefreshes;

/// Lists open refresh sessions.
#[derive(Message)]
#[rtype(result = "Vec<SessionInfo>")]
pub struct ListSessions;

/// Closes every open refresh session; answers how many.
#[derive(Message)]
#[rtype(result = "usize")]
pub struct CloseSessions;

struct Open {
    addr: Addr<RefreshSessionActor>,
    info: SharedInfo,
}

/// The refresh manager.
pub struct RefreshManager {
    targets: HashMap<String, RefreshTarget>,
    live: SharedLive,
    hub: Addr<Hub>,
    store: Option<Recipient<Persist>>,
    limits: RefreshLimits,
    sessions: HashMap<String, Open>,
    /// Requests per PBX, running or queued.
    inflight: HashMap<String, Vec<Waiter>>,
    /// PBXs waiting for a session slot, first come first served.
    queue: VecDeque<String>,
    metrics: Arc<Metrics>,
    registry: Registry,
    handle: Option<ActorHandle>,
    next_id: u64,
}

impl RefreshManager {
    /// A manager for `targets`.
    pub fn new(
        targets: HashMap<String, RefreshTarget>,
        live: SharedLive,
        hub: Addr<Hub>,
        store: Option<Recipient<Persist>>,
        limits: RefreshLimits,
        metrics: Arc<Metrics>,
        registry: Registry,
    ) -> Self {
        Self {
            targets,
            live,
            hub,
            store,
            limits,
            sessions: HashMap::new(),
            inflight: HashMap::new(),
            queue: VecDeque::new(),
            metrics,
            registry,
            handle: None,
            next_id: 0,
        }
    }

    /// Most requests that may wait on one PBX's refresh.
    fn waiter_limit(&self) -> usize {
        WAITERS_PER_SESSION.saturating_mul(self.limits.max_sessions.max(1))
    }

    fn fresh_id(&mut self) -> String {
        self.next_id += 1;
        format!(
            "refresh-{}-{}",
            Utc::now().format("%Y%m%d%H%M%S"),
            self.next_id
        )
    }

    /// Joins `pbx`'s running or queued refresh, or queues a new one and starts what
    /// the session cap allows.
    fn request(&mut self, pbx: &str, waiter: Waiter, ctx: &mut Context<Self>) {
        let limit = self.waiter_limit();
        if let Some(waiters) = self.inflight.get_mut(pbx) {
            if waiters.len() >= limit {
                self.metrics.refreshes.with_label_values(&["busy"]).inc();
                let _ = waiter.send(Err(RefreshError::Busy(waiters.len())));
                return;
            }
            self.metrics.refreshes.with_label_values(&["joined"]).inc();
            waiters.push(waiter);
            return;
        }
        if !self.targets.contains_key(pbx) {
            let _ = waiter.send(Err(RefreshError::UnknownPbx(pbx.to_string())));
            return;
        }
        self.inflight.insert(pbx.to_string(), vec![waiter]);
        self.queue.push_back(pbx.to_string());
        self.start_queued(ctx);
    }

    /// Starts queued refreshes while session slots are free.
    fn start_queued(&mut self, ctx: &mut Context<Self>) {
        while self.sessions.len() < self.limits.max_sessions.max(1) {
            let Some(pbx) = self.queue.pop_front() else {
                break;
            };
            self.start_one(&pbx, ctx);
        }
    }

    fn start_one(&mut self, pbx: &str, ctx: &mut Context<Self>) {
        let Some(target) = self.targets.get(pbx).cloned() else {
            for waiter in self.inflight.remove(pbx).unwrap_or_default() {
                let _ = waiter.send(Err(RefreshError::UnknownPbx(pbx.to_string())));
            }
            return;
        };
        let id = self.fresh_id();
        let extensions: Vec<(String, String)> = self
            .live
            .read()
            .map(|l| {
                l.extensions(Some(pbx))
                    .iter()
                    .map(|e| (e.extension.clone(), e.context.clone()))
                    .collect()
            })
            .unwrap_or_default();
        let info: SharedInfo = Arc::new(Mutex::new(SessionInfo::logging_in(
            id.clone(),
            pbx.to_string(),
        )));
        let job = RefreshJob {
            id: id.clone(),
            endpoint: target.endpoint,
            extensions,
            router: target.router,
            concurrency: self.limits.concurrency,
            query_timeout: self.limits.query_timeout,
            names: self.limits.names.clone(),
            instance: self.limits.instance,
        };
        let (tx, rx) = oneshot::channel();
        let addr = RefreshSessionActor::new(job, info.clone(), tx, self.registry.clone()).start();
        self.sessions.insert(id.clone(), Open { addr, info });
        self.metrics
            .refresh_sessions
            .set(self.sessions.len() as i64);
        let pbx = pbx.to_string();
        ctx.spawn(
            async move { rx.await.unwrap_or(Err(RefreshError::Closed)) }
                .into_actor(self)
                .map(move |res, act, ctx| {
                    act.finished(&pbx, &id, res);
                    act.start_queued(ctx);
                }),
        );
    }

    fn finished(&mut self, pbx: &str, id: &str, res: Result<RefreshReport, RefreshError>) {
        self.sessions.remove(id);
        self.metrics
            .refresh_sessions
            .set(self.sessions.len() as i64);
        let result = if res.is_ok() { "ok" } else { "failed" };
        self.metrics.refreshes.with_label_values(&[result]).inc();
        // The callers first: the event for subscribers and the store's copy are
        // built after, off the path of the HTTP answer they are waiting for.
        for waiter in self.inflight.remove(pbx).unwrap_or_default() {
            let _ = waiter.send(res.clone());
        }
        if let Ok(report) = &res {
            log::info!(
                "refresh {id} of pbx {pbx}: {} extensions, {} ok, {} failed, {} corrected, {:.1} ms",
                report.extensions_checked,
                report.statistics.successful_queries,
                report.statistics.failed_queries,
                report.corrections.len(),
                report.duration_ms
            );
            let report = Arc::new(report.clone());
            self.hub.do_send(Publish::new(
                Change::RefreshCompleted(Arc::clone(&report)),
                None,
            ));
            if let Some(store) = &self.store {
                store.do_send(Persist::Change(Change::RefreshCompleted(report)));
            }
        }
    }
}

impl Actor for RefreshManager {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        if self.handle.is_none() {
            self.handle = Some(self.registry.register("refreshManager", "refresh"));
        }
        ctx.run_interval(self.limits.reap_every, |act, _| {
            let idle = chrono::Duration::from_std(act.limits.idle).unwrap_or(chrono::Duration::MAX);
            let now = Utc::now();
            for (id, open) in &act.sessions {
                let last = open.info.lock().map(|i| i.last_used).unwrap_or(now);
                if now - last > idle {
                    log::warn!("refresh session {id} idle since {last}; closing it");
                    open.addr.do_send(CloseSession);
                }
            }
        });
    }
}

impl Handler<StartRefresh> for RefreshManager {
    type Result = ResponseFuture<RefreshRun>;

    fn handle(&mut self, msg: StartRefresh, ctx: &mut Context<Self>) -> Self::Result {
        if let Some(h) = &self.handle {
            h.handled();
        }
        let pbxs: Vec<String> = match msg.pbx {
            Some(p) => vec![p],
            None => {
                let mut all: Vec<String> = self.targets.keys().cloned().collect();
                all.sort();
                all
            }
        };
        let run_id = (pbxs.len() != 1).then(|| self.fresh_id());
        let mut receivers = Vec::with_capacity(pbxs.len());
        let mut requests = Vec::with_capacity(pbxs.len());
        for pbx in pbxs {
            let (tx, rx) = oneshot::channel();
            requests.push((pbx.clone(), tx));
            receivers.push((pbx, rx));
        }
        // A panic while queueing drops the waiters not yet queued: their callers
        // get `Closed` below, and the supervisor restarts the manager.
        guarded(self, ctx, "StartRefresh", |act, ctx| {
            for (pbx, tx) in requests {
                act.request(&pbx, tx, ctx);
            }
        });
        Box::pin(async move {
            let mut out = Vec::with_capacity(receivers.len());
            for (pbx, rx) in receivers {
                let result = rx.await.unwrap_or(Err(RefreshError::Closed));
                out.push(PbxRefresh { pbx, result });
            }
            let connection_id = run_id.unwrap_or_else(|| {
                out.first()
                    .and_then(|p| p.result.as_ref().ok())
                    .map(|r| r.connection_id.clone())
                    .unwrap_or_default()
            });
            RefreshRun {
                connection_id,
                pbxs: out,
            }
        })
    }
}

impl Handler<QueuedRefreshes> for RefreshManager {
    type Result = usize;

    fn handle(&mut self, _: QueuedRefreshes, _: &mut Context<Self>) -> usize {
        self.queue.len()
    }
}

impl Handler<ListSessions> for RefreshManager {
    type Result = MessageResult<ListSessions>;

    fn handle(&mut self, _: ListSessions, _: &mut Context<Self>) -> Self::Result {
        let mut list: Vec<SessionInfo> = self
            .sessions
            .values()
            .filter_map(|o| o.info.lock().ok().map(|i| i.clone()))
            .collect();
        list.sort_by_key(|a| a.created_at);
        MessageResult(list)
    }
}

impl Handler<CloseSessions> for RefreshManager {
    type Result = usize;

    /// Queued refreshes are cancelled too (answered `Closed`): a close is also how
    /// shutdown stops refreshing, and a queued one would otherwise log in after it.
    fn handle(&mut self, _: CloseSessions, _: &mut Context<Self>) -> usize {
        for pbx in std::mem::take(&mut self.queue) {
            for waiter in self.inflight.remove(&pbx).unwrap_or_default() {
                let _ = waiter.send(Err(RefreshError::Closed));
            }
        }
        for open in self.sessions.values() {
            open.addr.do_send(CloseSession);
        }
        self.sessions.len()
    }
}

impl Supervised for RefreshManager {
    /// A restart cancels the futures that waited for the refreshes in flight, so
    /// their sessions are closed and their callers answered (`Closed`) now rather
    /// than never; a new request then starts a fresh refresh.
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        if let Some(h) = &self.handle {
            h.restarted();
        }
        self.metrics
            .actor_restarts
            .with_label_values(&["refreshManager"])
            .inc();
        for (_, open) in self.sessions.drain() {
            open.addr.do_send(CloseSession);
        }
        self.metrics.refresh_sessions.set(0);
        // The queued PBXs' callers are answered below; a queue left behind would
        // start sessions nobody waits for.
        self.queue.clear();
        for (_, waiters) in self.inflight.drain() {
            for waiter in waiters {
                let _ = waiter.send(Err(RefreshError::Closed));
            }
        }
    }
}

impl Handler<InjectPanic> for RefreshManager {
    type Result = ();

    fn handle(&mut self, _: InjectPanic, ctx: &mut Context<Self>) {
        guarded(self, ctx, "InjectPanic", |_, _| {
            panic!("injected panic (fault test)")
        });
    }
}
