//! How a refresh session reads the PBX: one `ExtensionStateList`, then
//! `ExtensionState` only for what the list lacks, many in flight on one socket.
//!
//! Kept apart from the session actor so the actor holds the lifecycle (login, phases,
//! reply) and this file the AMI exchange. Each answer is logged at debug level in the
//! words of the service switchboard replaces (`Querying extension 1001 via separate
//! connection` / `Extension 1001: online (0)`), which admins grep for.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_util::codec::Framed;

use super::connection::{read_state, read_state_fields};
use super::messages::ReadState;
use super::refresh::{touch, RefreshError, RefreshJob, SessionPhase, SharedInfo};
use crate::ami::{Action, AmiCodec, AmiMessage, Correlated, Correlator, Frame, Response};
use crate::model::DisplayName;
use crate::state::names::{plan, NameQuery, NameSettings};

/// Each asked extension with the PBX's state or why there is none.
pub type Answers = Vec<(String, Result<ReadState, String>)>;

/// What a refresh action waits for (the correlator's token).
pub enum Asked {
    /// The one `ExtensionStateList`.
    List,
    /// `ExtensionState` of this extension.
    Extension(String),
    /// A display-name question: the index of the extension in the names being read.
    Name(usize),
}

/// The refresh login's socket with the correlator that matches its replies and
/// collects its event lists (the same one the main connection uses).
pub struct Exchange<'a> {
    /// The logged-in socket.
    pub framed: &'a mut Framed<TcpStream, AmiCodec>,
    /// Pending actions by ActionID.
    pub correlator: Correlator<Asked>,
}

/// Why no more replies come.
enum Silence {
    /// The deadline passed.
    TimedOut,
    /// The PBX closed the socket.
    Closed,
    /// The socket failed.
    Failed(std::io::Error),
}

impl Exchange<'_> {
    /// Queues `action` (sent at the next flush) and waits for its reply until
    /// `deadline`.
    async fn ask(
        &mut self,
        action: Action,
        token: Asked,
        deadline: Instant,
    ) -> Result<(), RefreshError> {
        let action = self.correlator.register(action, token, deadline.into_std());
        self.framed.feed(&action).await.map_err(RefreshError::from)
    }

    async fn flush(&mut self) -> Result<(), RefreshError> {
        SinkExt::<&Action>::flush(self.framed)
            .await
            .map_err(RefreshError::from)
    }

    /// The next reply or finished list of an action of ours; live events and
    /// anything else the PBX says on the way are skipped.
    async fn next_answer(&mut self, deadline: Instant) -> Result<(Asked, Answer), Silence> {
        loop {
            let frame = match tokio::time::timeout_at(deadline, self.framed.next()).await {
                Err(_) => return Err(Silence::TimedOut),
                Ok(None) => return Err(Silence::Closed),
                Ok(Some(Err(e))) => return Err(Silence::Failed(e)),
                Ok(Some(Ok(frame))) => frame,
            };
            let Frame::Message(raw) = frame else {
                continue;
            };
            let Ok(msg) = AmiMessage::classify(raw) else {
                continue;
            };
            match self.correlator.accept(msg) {
                Correlated::Reply { token, response } => {
                    return Ok((token, Answer::Reply(response)))
                }
                Correlated::List {
                    token,
                    response,
                    items,
                    ..
                } => return Ok((token, Answer::List(response, items))),
                Correlated::Live(_) | Correlated::Absorbed | Correlated::Stale(_) => {}
            }
        }
    }
}

/// A reply: a single response, or the items of a finished event list.
enum Answer {
    Reply(Response),
    List(Response, Vec<crate::ami::Event>),
}

const CLOSED: &str = "the PBX closed the refresh connection";

/// Reads every extension with one `ExtensionStateList`.
pub async fn read_list(ex: &mut Exchange<'_>, limit: Duration) -> Result<Answers, RefreshError> {
    let deadline = Instant::now() + limit;
    ex.ask(Action::extension_state_list(), Asked::List, deadline)
        .await?;
    ex.flush().await?;
    loop {
        match ex.next_answer(deadline).await {
            Ok((Asked::List, Answer::List(_, items))) => {
                return Ok(items
                    .iter()
                    .filter_map(read_state)
                    .map(|s| (s.exten.clone(), Ok(s)))
                    .collect())
            }
            // Asterisk answers an error when there are no hints at all.
            Ok((Asked::List, Answer::Reply(_))) => return Ok(Vec::new()),
            Ok((Asked::Extension(_) | Asked::Name(_), _)) => {}
            Err(Silence::TimedOut) => {
                return Err(RefreshError::Unreachable(
                    "the extension list timed out".into(),
                ))
            }
            // A failed read ends the stream: reported as the close it is.
            Err(Silence::Closed | Silence::Failed(_)) => {
                return Err(RefreshError::Unreachable(CLOSED.into()))
            }
        }
    }
}

/// Reads every known extension: one `ExtensionStateList` first (a single action whose
/// answer streams every hint, where even pipelined `ExtensionState` actions cost a
/// reply each: docs/PERFORMANCE.md, "Refresh"),
/// then `ExtensionState` only for the known extensions the list did not name (a hint
/// removed since, or a PBX without the list action), so each still gets the PBX's
/// own answer or error. Answers come back in the job's order.
pub async fn read_known(
    ex: &mut Exchange<'_>,
    job: &RefreshJob,
    info: &SharedInfo,
) -> Result<Answers, RefreshError> {
    let listed = read_list(ex, job.query_timeout).await?;
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
    touch(info, SessionPhase::Querying, true);
    let mut asked: HashMap<String, Result<ReadState, String>> = if missing.is_empty() {
        HashMap::new()
    } else {
        read_each(ex, &missing, job, info)
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
    ex: &mut Exchange<'_>,
    extensions: &[(String, String)],
    job: &RefreshJob,
    info: &SharedInfo,
) -> Result<Answers, RefreshError> {
    let mut todo: VecDeque<&(String, String)> = extensions.iter().collect();
    let mut answers: HashMap<String, Result<ReadState, String>> = HashMap::new();
    let deadline = Instant::now() + job.query_timeout;
    while !todo.is_empty() || ex.correlator.pending() > 0 {
        let mut sent = false;
        while ex.correlator.pending() < job.concurrency {
            let Some((exten, context)) = todo.pop_front() else {
                break;
            };
            let action = Action::extension_state(exten, context);
            ex.ask(action, Asked::Extension(exten.clone()), deadline)
                .await?;
            sent = true;
        }
        if sent {
            ex.flush().await?;
        }
        let (exten, r) = match ex.next_answer(deadline).await {
            Ok((Asked::Extension(exten), Answer::Reply(r))) => (exten, r),
            Ok(_) => continue,
            Err(Silence::TimedOut) => break,
            Err(Silence::Failed(e)) => return Err(RefreshError::Unreachable(e.to_string())),
            Err(Silence::Closed) => return Err(RefreshError::Unreachable(CLOSED.into())),
        };
        let answer = if r.is_success() {
            read_state_fields(|k| r.get(k))
                .map(|mut s| {
                    s.exten = exten.clone();
                    s
                })
                .ok_or_else(|| "the PBX's answer had no Status".to_string())
        } else {
            Err(r
                .message()
                .unwrap_or("the PBX answered an error")
                .to_string())
        };
        answers.insert(exten, answer);
        if answers.len() % 64 == 0 {
            touch(info, SessionPhase::Querying, true);
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

/// Reads the display name of each `(exten, hint)` the refresh read, `concurrency`
/// questions in flight, each extension's sources asked in order until one answers
/// (see `state::names`). Unanswered by `limit`: no name change for that extension.
pub async fn read_names(
    ex: &mut Exchange<'_>,
    listed: &[(String, Option<String>)],
    settings: &NameSettings,
    pbx: &str,
    concurrency: usize,
    limit: Duration,
) -> Result<Vec<(String, Option<DisplayName>)>, RefreshError> {
    let deadline = Instant::now() + limit;
    let mut found: Vec<Option<Option<DisplayName>>> = vec![None; listed.len()];
    let mut queues: Vec<VecDeque<NameQuery>> = Vec::with_capacity(listed.len());
    let mut todo: VecDeque<usize> = VecDeque::new();
    for (i, (exten, hint)) in listed.iter().enumerate() {
        match plan(settings, pbx, exten, hint.as_deref()) {
            Ok(name) => {
                found[i] = Some(Some(name));
                queues.push(VecDeque::new());
            }
            Err(q) => {
                queues.push(q.into());
                todo.push_back(i);
            }
        }
    }
    let mut asking: HashMap<usize, NameQuery> = HashMap::new();
    while !todo.is_empty() || !asking.is_empty() {
        let mut sent = false;
        while asking.len() < concurrency.max(1) {
            let Some(i) = todo.pop_front() else { break };
            match queues[i].pop_front() {
                Some(q) => {
                    ex.ask(q.action.clone(), Asked::Name(i), deadline).await?;
                    asking.insert(i, q);
                    sent = true;
                }
                None => found[i] = Some(None),
            }
        }
        if sent {
            ex.flush().await?;
        }
        let (i, answer) = match ex.next_answer(deadline).await {
            Ok((Asked::Name(i), answer)) => (i, answer),
            Ok(_) => continue,
            Err(Silence::TimedOut) => break,
            Err(Silence::Failed(e)) => return Err(RefreshError::Unreachable(e.to_string())),
            Err(Silence::Closed) => return Err(RefreshError::Unreachable(CLOSED.into())),
        };
        let Some(query) = asking.remove(&i) else {
            continue;
        };
        let name = match &answer {
            Answer::Reply(r) => query.read(r, &[]),
            Answer::List(r, items) => query.read(r, items),
        };
        match name {
            Some(n) => found[i] = Some(Some(n)),
            None => todo.push_front(i),
        }
    }
    Ok(listed
        .iter()
        .zip(found)
        .filter_map(|((exten, _), f)| f.map(|name| (exten.clone(), name)))
        .collect())
}

/// Logs, at debug level, each extension a refresh is about to ask for.
pub fn log_queries(extensions: &[(String, String)]) {
    if !log::log_enabled!(log::Level::Debug) {
        return;
    }
    for (exten, _) in extensions {
        log::debug!("Querying extension {exten} via separate connection");
    }
}

/// Logs, at debug level, each answer: the state word and the numeric status, or why
/// the extension failed.
pub fn log_answers(answers: &Answers) {
    if !log::log_enabled!(log::Level::Debug) {
        return;
    }
    for (exten, answer) in answers {
        match answer {
            Ok(s) => log::debug!(
                "Extension {exten}: {} ({})",
                state_word(s.status),
                s.status.0
            ),
            Err(e) => log::debug!("Extension {exten}: failed ({e})"),
        }
    }
}

/// The old service's word for a status: `online` for an idle, registered device,
/// `offline` for an unavailable or removed one, the broad state otherwise.
pub fn state_word(status: crate::model::HintStatus) -> &'static str {
    match status.0 {
        0 => "online",
        s if s < 0 || s & 4 != 0 => "offline",
        _ => status.kind().as_str(),
    }
}
