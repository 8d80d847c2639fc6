//! [`RefreshSessionActor`]: one refresh over its own short-lived AMI login.
//!
//! Separate from the main connection so a refresh never disturbs it: log in, read
//! every known extension with many `ExtensionState` actions in flight on the one
//! socket (matched by ActionID — never one round trip at a time), or one
//! `ExtensionStateList` when nothing is known yet; hand the answers to the
//! ExtensionActors (which correct what was wrong and publish), log off, stop. The
//! manager ([`super::refresh_manager`]) caps concurrent logins and lets concurrent
//! requests join one refresh.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::prelude::*;
use chrono::{DateTime, Utc};
use futures::{SinkExt, StreamExt};
use serde::Serialize;
use thiserror::Error;
use tokio::net::TcpStream;
use tokio_util::codec::Framed;

use super::connection::read_state_fields;
use super::login::{connect_and_login, logoff, AmiEndpoint};
use super::messages::{ConfirmExtensions, ExtensionCorrection, ReadState};
use super::router::EventRouterActor;
use super::status::{ActorHandle, Registry};
use crate::ami::{Action, ActionIds, AmiCodec, AmiError, AmiMessage, Frame};
use crate::model::HintStatus;
use crate::state::extension::status_text;

/// Why a refresh failed.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum RefreshError {
    /// The PBX could not be reached (down, timed out): HTTP 503.
    #[error("the PBX is unreachable: {0}")]
    Unreachable(String),
    /// The PBX refused the refresh login: HTTP 502.
    #[error("the PBX refused the refresh login: {0}")]
    LoginRefused(String),
    /// Too many refresh logins are open: HTTP 503.
    #[error("{0} refresh sessions are already open; try again shortly")]
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

/// One extension's answer.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RefreshResult {
    /// The extension.
    pub extension: String,
    /// True when the PBX answered.
    pub success: bool,
    /// Numeric status, when answered.
    pub status: Option<HintStatus>,
    /// Status text.
    pub status_text: Option<String>,
    /// Broad state.
    pub state: Option<String>,
    /// Why it failed, when it did.
    pub error: Option<String>,
}

/// Query counts.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RefreshStatistics {
    /// Extensions the PBX answered for.
    pub successful_queries: usize,
    /// Extensions that failed or timed out.
    pub failed_queries: usize,
}

/// The `data` of a refresh answer.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RefreshReport {
    /// The refresh session's id.
    pub connection_id: String,
    /// The PBX.
    pub pbx: String,
    /// How many extensions were read.
    pub extensions_checked: usize,
    /// When the reading finished.
    pub last_query_time: DateTime<Utc>,
    /// Query counts.
    pub statistics: RefreshStatistics,
    /// Per-extension answers.
    pub results: Vec<RefreshResult>,
    /// States switchboard had wrong and corrected.
    pub corrections: Vec<ExtensionCorrection>,
    /// Wall time of the refresh, login to logoff, in milliseconds.
    pub duration_ms: f64,
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
    pub created_at: DateTime<Utc>,
    /// When it last sent or received.
    pub last_used: DateTime<Utc>,
    /// False once it failed.
    pub is_healthy: bool,
    /// `connecting`, `querying`, `loggingOff`, `closed`, `failed`.
    pub connection_state: String,
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

fn touch(info: &SharedInfo, state: &str, healthy: bool) {
    if let Ok(mut i) = info.lock() {
        i.last_used = Utc::now();
        i.connection_state = state.to_string();
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
            let mut ids =
                ActionIds::new(job.instance, 0x5EF0_0000 + u64::from(rand::random::<u16>()));
            let session = connect_and_login(&job.endpoint, &mut ids).await?;
            touch(&info, "querying", true);
            let mut framed = session.framed;
            let states = if job.extensions.is_empty() {
                read_list(&mut framed, &mut ids, job.query_timeout).await?
            } else {
                read_known(&mut framed, &mut ids, &job, &info).await?
            };
            touch(&info, "loggingOff", true);
            logoff(&mut framed, &mut ids).await;
            Ok::<_, RefreshError>(states)
        };
        ctx.spawn(work.into_actor(self).then(move |res, act, _| {
            let router = act.job.router.clone();
            let pbx = act.job.endpoint.pbx.clone();
            let id = act.job.id.clone();
            let checked = act.job.extensions.clone();
            async move {
                let results = res?;
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
                    if healthy { "closed" } else { "failed" },
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

type Answers = Vec<(String, Result<ReadState, String>)>;

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

/// Reads every extension with one `ExtensionStateList`.
async fn read_list(
    framed: &mut Framed<TcpStream, AmiCodec>,
    ids: &mut ActionIds,
    limit: Duration,
) -> Result<Answers, RefreshError> {
    let id = ids.next_id();
    framed
        .send(&Action::extension_state_list().with_id(id.clone()))
        .await
        .map_err(RefreshError::from)?;
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let frame = tokio::time::timeout_at(deadline, framed.next())
            .await
            .map_err(|_| RefreshError::Unreachable("the extension list timed out".into()))?;
        let Some(frame) = frame else {
            return Err(RefreshError::Unreachable(
                "the PBX closed the refresh connection".into(),
            ));
        };
        let Ok(Frame::Message(raw)) = frame.map_err(|e| RefreshError::Unreachable(e.to_string()))
        else {
            continue;
        };
        match AmiMessage::classify(raw) {
            // Asterisk answers an error when there are no hints at all.
            Ok(AmiMessage::Response(r))
                if r.action_id() == Some(id.as_str()) && !r.is_success() =>
            {
                return Ok(out);
            }
            Ok(AmiMessage::Event(e)) if e.action_id() == Some(id.as_str()) => {
                if e.event_list()
                    .is_some_and(|v| v.eq_ignore_ascii_case("Complete"))
                {
                    return Ok(out);
                }
                if let Some(s) = read_state_fields(|k| e.get(k)) {
                    out.push((s.exten.clone(), Ok(s)));
                }
            }
            _ => {}
        }
    }
}

/// Reads every known extension: one `ExtensionStateList` first (a single action whose
/// answer streams every hint — on loopback a thousand extensions take a few
/// milliseconds, where even pipelined `ExtensionState` actions cost a reply each),
/// then `ExtensionState` only for the known extensions the list did not name (a hint
/// removed since, or a PBX without the list action), so each still gets the PBX's
/// own answer or error. Answers come back in the job's order.
async fn read_known(
    framed: &mut Framed<TcpStream, AmiCodec>,
    ids: &mut ActionIds,
    job: &RefreshJob,
    info: &SharedInfo,
) -> Result<Answers, RefreshError> {
    let listed = read_list(framed, ids, job.query_timeout).await?;
    let mut by_key: HashMap<(String, String), ReadState> = HashMap::with_capacity(listed.len());
    for (_, state) in listed {
        if let Ok(s) = state {
            by_key.insert((s.exten.clone(), s.context.clone()), s);
        }
    }
    let missing: Vec<(String, String)> = job
        .extensions
        .iter()
        .filter(|k| !by_key.contains_key(*k))
        .cloned()
        .collect();
    touch(info, "querying", true);
    let mut asked: HashMap<String, Result<ReadState, String>> = if missing.is_empty() {
        HashMap::new()
    } else {
        read_each(framed, ids, &missing, job, info)
            .await?
            .into_iter()
            .collect()
    };
    Ok(job
        .extensions
        .iter()
        .map(|key| {
            let answer = match by_key.remove(key) {
                Some(s) => Ok(s),
                None => asked
                    .remove(&key.0)
                    .unwrap_or_else(|| Err("no answer before the refresh timed out".into())),
            };
            (key.0.clone(), answer)
        })
        .collect())
}

/// Reads each of `extensions` with `ExtensionState`, `job.concurrency` actions in
/// flight.
async fn read_each(
    framed: &mut Framed<TcpStream, AmiCodec>,
    ids: &mut ActionIds,
    extensions: &[(String, String)],
    job: &RefreshJob,
    info: &SharedInfo,
) -> Result<Answers, RefreshError> {
    let mut todo: VecDeque<&(String, String)> = extensions.iter().collect();
    let mut inflight: HashMap<String, &str> = HashMap::new();
    let mut answers: HashMap<String, Result<ReadState, String>> = HashMap::new();
    let deadline = tokio::time::Instant::now() + job.query_timeout;
    while !todo.is_empty() || !inflight.is_empty() {
        let mut sent = false;
        while inflight.len() < job.concurrency {
            let Some((exten, context)) = todo.pop_front() else {
                break;
            };
            let id = ids.next_id();
            framed
                .feed(&Action::extension_state(exten, context).with_id(id.clone()))
                .await
                .map_err(RefreshError::from)?;
            inflight.insert(id, exten.as_str());
            sent = true;
        }
        if sent {
            SinkExt::<&Action>::flush(framed)
                .await
                .map_err(RefreshError::from)?;
        }
        let frame = match tokio::time::timeout_at(deadline, framed.next()).await {
            Ok(Some(Ok(frame))) => frame,
            Ok(Some(Err(e))) => return Err(RefreshError::Unreachable(e.to_string())),
            Ok(None) => {
                return Err(RefreshError::Unreachable(
                    "the PBX closed the refresh connection".into(),
                ))
            }
            Err(_) => break,
        };
        let Frame::Message(raw) = frame else {
            continue;
        };
        let Ok(AmiMessage::Response(r)) = AmiMessage::classify(raw) else {
            continue;
        };
        let Some(exten) = r.action_id().and_then(|id| inflight.remove(id)) else {
            continue;
        };
        let answer = if r.is_success() {
            read_state_fields(|k| r.get(k))
                .map(|mut s| {
                    s.exten = exten.to_string();
                    s
                })
                .ok_or_else(|| "the PBX's answer had no Status".to_string())
        } else {
            Err(r
                .message()
                .unwrap_or("the PBX answered an error")
                .to_string())
        };
        answers.insert(exten.to_string(), answer);
        if answers.len() % 64 == 0 {
            touch(info, "querying", true);
        }
    }
    Ok(extensions
        .iter()
        .map(|(exten, _)| {
            let answer = answers
                .remove(exten)
                .unwrap_or_else(|| Err("no answer before the refresh timed out".to_string()));
            (exten.clone(), answer)
        })
        .collect())
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
            "closed",
            self.info.lock().map(|i| i.is_healthy).unwrap_or(false),
        );
        ctx.stop();
    }
}
