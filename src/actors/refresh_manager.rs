//! [`RefreshManager`]: starts refresh sessions, caps them, lets requests join, reaps idle ones.
//!
//! At most one refresh per PBX runs at a time: a request that arrives while one is
//! in flight joins it and gets the same answer, so a crowd of supervisors pressing
//! "refresh" costs the PBX one login. Across PBXs at most `max_sessions` logins are
//! open at once. Sessions idle longer than the limit (a PBX that stopped answering
//! mid-refresh) are closed by a periodic check.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::prelude::*;
use chrono::Utc;
use tokio::sync::oneshot;

use super::guard::guarded;
use super::hub::Hub;
use super::live::SharedLive;
use super::login::AmiEndpoint;
use super::messages::{Change, InjectPanic, Publish};
use super::refresh::{
    CloseSession, RefreshError, RefreshJob, RefreshReport, RefreshSessionActor, SessionInfo,
    SharedInfo,
};
use super::router::EventRouterActor;
use super::status::{ActorHandle, Registry};
use crate::delivery::Persist;
use crate::metrics::Metrics;

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
    /// ActionID prefix of this process.
    pub instance: u32,
}

type Waiter = oneshot::Sender<Result<RefreshReport, RefreshError>>;

/// Starts a refresh of one PBX (`None`: the only PBX, or every PBX in turn).
#[derive(Message)]
#[rtype(result = "Result<Vec<RefreshReport>, RefreshError>")]
pub struct StartRefresh {
    /// The PBX, or all.
    pub pbx: Option<String>,
}

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
    inflight: HashMap<String, Vec<Waiter>>,
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
            metrics,
            registry,
            handle: None,
            next_id: 0,
        }
    }

    fn start_one(&mut self, pbx: &str, waiter: Waiter, ctx: &mut Context<Self>) {
        if let Some(waiters) = self.inflight.get_mut(pbx) {
            self.metrics.refreshes.with_label_values(&["joined"]).inc();
            waiters.push(waiter);
            return;
        }
        let Some(target) = self.targets.get(pbx).cloned() else {
            let _ = waiter.send(Err(RefreshError::UnknownPbx(pbx.to_string())));
            return;
        };
        if self.sessions.len() >= self.limits.max_sessions {
            self.metrics.refreshes.with_label_values(&["busy"]).inc();
            let _ = waiter.send(Err(RefreshError::Busy(self.sessions.len())));
            return;
        }
        self.next_id += 1;
        let id = format!(
            "refresh-{}-{}",
            Utc::now().format("%Y%m%d%H%M%S"),
            self.next_id
        );
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
        let info: SharedInfo = Arc::new(Mutex::new(SessionInfo {
            connection_id: id.clone(),
            pbx: pbx.to_string(),
            created_at: Utc::now(),
            last_used: Utc::now(),
            is_healthy: true,
            connection_state: "connecting".to_string(),
        }));
        let job = RefreshJob {
            id: id.clone(),
            endpoint: target.endpoint,
            extensions,
            router: target.router,
            concurrency: self.limits.concurrency,
            query_timeout: self.limits.query_timeout,
            instance: self.limits.instance,
        };
        let (tx, rx) = oneshot::channel();
        let addr = RefreshSessionActor::new(job, info.clone(), tx, self.registry.clone()).start();
        self.sessions.insert(id.clone(), Open { addr, info });
        self.metrics
            .refresh_sessions
            .set(self.sessions.len() as i64);
        self.inflight.insert(pbx.to_string(), vec![waiter]);
        let pbx = pbx.to_string();
        ctx.spawn(
            async move { rx.await.unwrap_or(Err(RefreshError::Closed)) }
                .into_actor(self)
                .map(move |res, act, _| act.finished(&pbx, &id, res)),
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
            let value = Arc::new(serde_json::to_value(report).unwrap_or_default());
            self.hub.do_send(Publish::new(
                Change::RefreshCompleted(Arc::clone(&value)),
                None,
            ));
            if let Some(store) = &self.store {
                store.do_send(Persist::Change(Change::RefreshCompleted(value)));
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
    type Result = ResponseFuture<Result<Vec<RefreshReport>, RefreshError>>;

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
        let mut receivers = Vec::with_capacity(pbxs.len());
        for pbx in &pbxs {
            let (tx, rx) = oneshot::channel();
            self.start_one(pbx, tx, ctx);
            receivers.push(rx);
        }
        Box::pin(async move {
            let mut reports = Vec::with_capacity(receivers.len());
            for rx in receivers {
                reports.push(rx.await.unwrap_or(Err(RefreshError::Closed))?);
            }
            Ok(reports)
        })
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

    fn handle(&mut self, _: CloseSessions, _: &mut Context<Self>) -> usize {
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
