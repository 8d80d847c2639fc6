//! [`RefreshSessionActor`]: one refresh over its own short-lived AMI login.
//!
//! Separate from the main connection so a refresh never disturbs it: log in, read
//! every known extension with many `ExtensionState` actions in flight on the one
//! socket (matched by ActionID — never one round trip at a time), or one
//! `ExtensionStateList` when nothing is known yet; hand the answers to the
//! ExtensionActors (which correct what was wrong and publish), log off, stop. The
//! manager ([`super::refresh_manager`]) caps concurrent logins and lets concurrent
//! requests join one refresh.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::prelude::*;
use chrono::{DateTime, Utc};
use serde::Serialize;
use thiserror::Error;

use super::login::{connect_and_login, logoff, AmiEndpoint};
use super::messages::{ConfirmExtensions, NamesRead, ReadState};
use super::refresh_read::{
    log_answers, log_queries, read_known, read_list, read_names, Answers, Exchange,
};
use super::router::EventRouterActor;
use crate::ami::{ActionIds, AmiError, Correlator};
pub use crate::model::refresh::{
    ExtensionCorrection, RefreshReport, RefreshResult, RefreshStatistics,
};
use crate::state::extension::status_text;
use crate::supervision::{ActorHandle, Registry};

/// Why a refresh failed.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum RefreshError {
    /// The PBX could not be reached (down, timed out): HTTP 503.
    #[error("the PBX is unreachable: {0}")]
    Unreachable(String),
    /// The PBX refused the refresh login: HTTP 502.
    #[error("the PBX refused the refresh login: {0}")]
    LoginRefused(String),
    /// Too many requests already wait for this PBX's refresh: HTTP 503.
    #[error("{0} requests already wait for this PBX's refresh; try again shortly")]
    Busy(usize),
    /// No such PBX: HTTP 404.
    #[error("no PBX named {0:?}")]
    UnknownPbx(String),
    /// The session stopped before answering (closed by request or by the reaper).
    #[error("the refresh session was closed before it finished")]
    Closed,
}

impl From<AmiError> for RefreshError {
    fn from(e: AmiError) -> Self {
        match e {
            AmiError::LoginRefused(m) => Self::LoginRefused(m),
            other => Self::Unreachable(other.to_string()),
        }
    }
}

/// Where a session is in its life; the status endpoint shows it as `phase`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum SessionPhase {
    /// Connecting and logging in.
    LoggingIn,
    /// Logged in, reading extension states.
    Querying,
    /// Sending `Logoff`.
    LoggingOff,
    /// Finished or closed on request.
    Closed,
    /// Failed (the PBX refused, went away or timed out).
    Failed,
}

/// The login's state in the old service's words (`connectionState`), which clients
/// compare with `connected`; the finer [`SessionPhase`] sits beside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ConnectionState {
    /// Not logged in yet.
    Connecting,
    /// Logged in.
    Connected,
    /// Logged off, closed or failed.
    Closed,
}

impl SessionPhase {
    /// The login's state during this phase.
    pub fn connection_state(self) -> ConnectionState {
        match self {
            Self::LoggingIn => ConnectionState::Connecting,
            Self::Querying | Self::LoggingOff => ConnectionState::Connected,
            Self::Closed | Self::Failed => ConnectionState::Closed,
        }
    }
}

/// What the status endpoint shows of a session.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionInfo {
    /// Its id.
    pub connection_id: String,
    /// The PBX.
    pub pbx: String,
    /// When it started.
    #[serde(serialize_with = "crate::timefmt::utc")]
    pub created_at: DateTime<Utc>,
    /// When it last sent or received.
    #[serde(serialize_with = "crate::timefmt::utc")]
    pub last_used: DateTime<Utc>,
    /// False once it failed.
    pub is_healthy: bool,
    /// `connecting`, `connected` (logged in) or `closed`.
    pub connection_state: ConnectionState,
    /// The finer phase.
    pub phase: SessionPhase,
}

impl SessionInfo {
    /// A session about to log in.
    pub fn logging_in(connection_id: String, pbx: String) -> Self {
        let now = Utc::now();
        Self {
            connection_id,
            pbx,
            created_at: now,
            last_used: now,
            is_healthy: true,
            connection_state: ConnectionState::Connecting,
            phase: SessionPhase::LoggingIn,
        }
    }
}

/// Shared, lock-protected view of a session (the manager reads it for status).
pub type SharedInfo = Arc<Mutex<SessionInfo>>;

/// What one refresh needs.
#[derive(Clone)]
pub struct RefreshJob {
    /// Session id.
    pub id: String,
    /// Where to log in.
    pub endpoint: AmiEndpoint,
    /// Extensions to read (empty: ask for the whole list).
    pub extensions: Vec<(String, String)>,
    /// The router of that PBX (applies the answers).
    pub router: Addr<EventRouterActor>,
    /// ActionIDs in flight at once.
    pub concurrency: usize,
    /// Limit on the reading phase.
    pub query_timeout: Duration,
    /// Where display names come from (read after the states).
    pub names: crate::state::names::NameSettings,
    /// This process's instance number (ActionID prefix).
    pub instance: u32,
}

/// One refresh session.
pub struct RefreshSessionActor {
    job: RefreshJob,
    info: SharedInfo,
    reply: Option<tokio::sync::oneshot::Sender<Result<RefreshReport, RefreshError>>>,
    registry: Registry,
    handle: Option<ActorHandle>,
}

impl RefreshSessionActor {
    /// A session that answers on `reply` when done.
    pub fn new(
        job: RefreshJob,
        info: SharedInfo,
        reply: tokio::sync::oneshot::Sender<Result<RefreshReport, RefreshError>>,
        registry: Registry,
    ) -> Self {
        Self {
            job,
            info,
            reply: Some(reply),
            registry,
            handle: None,
        }
    }
}

/// Records activity and the phase a session is in.
pub(super) fn touch(info: &SharedInfo, phase: SessionPhase, healthy: bool) {
    if let Ok(mut i) = info.lock() {
        i.last_used = Utc::now();
        i.phase = phase;
        i.connection_state = phase.connection_state();
        i.is_healthy = healthy;
    }
}

impl Actor for RefreshSessionActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.handle = Some(self.registry.register("refresh", self.job.id.clone()));
        let job = self.job.clone();
        let info = self.info.clone();
        let started = Instant::now();
        let work = async move {
            let epoch = 0x5EF0_0000 + u64::from(rand::random::<u16>());
            let mut ids = ActionIds::new(job.instance, epoch);
            let session = connect_and_login(&job.endpoint, &mut ids).await?;
            touch(&info, SessionPhase::Querying, true);
            let mut framed = session.framed;
            // Its own ActionID epoch, so the Logoff below never reuses a query's ID.
            let mut ex = Exchange {
                framed: &mut framed,
                correlator: Correlator::new(ActionIds::new(job.instance, epoch + 0x1_0000)),
            };
            let states = if job.extensions.is_empty() {
                log::debug!("Querying the extension list via separate connection");
                read_list(&mut ex, job.query_timeout).await?
            } else {
                log_queries(&job.extensions);
                read_known(&mut ex, &job, &info).await?
            };
            log_answers(&states);
            let listed: Vec<(String, Option<String>)> = states
                .iter()
                .filter_map(|(exten, r)| r.as_ref().ok().map(|s| (exten.clone(), s.hint.clone())))
                .collect();
            let names = read_names(
                &mut ex,
                &listed,
                &job.names,
                &job.endpoint.pbx,
                job.concurrency,
                job.query_timeout,
            )
            .await?;
            touch(&info, SessionPhase::LoggingOff, true);
            logoff(&mut framed, &mut ids).await;
            Ok::<_, RefreshError>((states, names))
        };
        ctx.spawn(work.into_actor(self).then(move |res, act, _| {
            let router = act.job.router.clone();
            let pbx = act.job.endpoint.pbx.clone();
            let id = act.job.id.clone();
            let checked = act.job.extensions.clone();
            async move {
                let (results, names) = res?;
                let at = Utc::now();
                let states: Vec<ReadState> =
                    results.iter().filter_map(|(_, r)| r.clone().ok()).collect();
                let corrections = router
                    .send(ConfirmExtensions {
                        pbx: Arc::from(pbx.as_str()),
                        states,
                        at,
                    })
                    .await
                    .unwrap_or_default();
                router.do_send(NamesRead {
                    pbx: Arc::from(pbx.as_str()),
                    names,
                });
                Ok(build_report(
                    id,
                    pbx,
                    checked.len(),
                    results,
                    corrections,
                    at,
                    started,
                ))
            }
            .into_actor(act)
            .map(|res: Result<RefreshReport, RefreshError>, act, ctx| {
                let healthy = res.is_ok();
                touch(
                    &act.info,
                    if healthy {
                        SessionPhase::Closed
                    } else {
                        SessionPhase::Failed
                    },
                    healthy,
                );
                if let Err(e) = &res {
                    log::warn!(
                        "refresh {} of pbx {} failed: {e}",
                        act.job.id,
                        act.job.endpoint.pbx
                    );
                }
                if let Some(tx) = act.reply.take() {
                    let _ = tx.send(res);
                }
                ctx.stop();
            })
        }));
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        if let Some(tx) = self.reply.take() {
            let _ = tx.send(Err(RefreshError::Closed));
        }
    }
}

fn build_report(
    id: String,
    pbx: String,
    asked: usize,
    answers: Answers,
    corrections: Vec<ExtensionCorrection>,
    at: DateTime<Utc>,
    started: Instant,
) -> RefreshReport {
    let mut stats = RefreshStatistics::default();
    let results: Vec<RefreshResult> = answers
        .into_iter()
        .map(|(exten, r)| match r {
            Ok(s) => {
                stats.successful_queries += 1;
                RefreshResult {
                    extension: exten,
                    pbx: pbx.clone(),
                    success: true,
                    status: Some(s.status),
                    status_text: Some(
                        s.status_text
                            .unwrap_or_else(|| status_text(s.status).to_string()),
                    ),
                    state: Some(s.status.kind().to_string()),
                    error: None,
                }
            }
            Err(e) => {
                stats.failed_queries += 1;
                RefreshResult {
                    extension: exten,
                    pbx: pbx.clone(),
                    success: false,
                    status: None,
                    status_text: None,
                    state: None,
                    error: Some(e),
                }
            }
        })
        .collect();
    RefreshReport {
        connection_id: id,
        pbx,
        extensions_checked: asked.max(results.len()),
        last_query_time: at,
        statistics: stats,
        results,
        corrections,
        duration_ms: started.elapsed().as_secs_f64() * 1000.0,
    }
}

/// Stops a refresh session (close request, idle reaper, shutdown).
#[derive(Message)]
#[rtype(result = "()")]
pub struct CloseSession;

impl Handler<CloseSession> for RefreshSessionActor {
    type Result = ();

    fn handle(&mut self, _: CloseSession, ctx: &mut Context<Self>) {
        touch(
            &self.info,
            SessionPhase::Closed,
            self.info.lock().map(|i| i.is_healthy).unwrap_or(false),
        );
        ctx.stop();
    }
}
