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
use tokio_util::codec::Framed;

use super::connection::read_state_fields;
use super::messages::ReadState;
use super::refresh::{touch, RefreshError, RefreshJob, SessionPhase, SharedInfo};
use crate::ami::{Action, ActionIds, AmiCodec, AmiMessage, Frame};

/// Each asked extension with the PBX's state or why there is none.
pub type Answers = Vec<(String, Result<ReadState, String>)>;

/// Reads every extension with one `ExtensionStateList`.
pub async fn read_list(
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
pub async fn read_known(
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
    touch(info, SessionPhase::Querying, true);
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
