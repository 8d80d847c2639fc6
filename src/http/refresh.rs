//! `POST /api/extensions/hybrid-refresh`, `GET …/status`, `POST …/close`.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::error::{ApiError, ErrorCode};
use super::refresh_answer::{answer, RefreshAnswer, REFRESH_MESSAGE};
use super::state::AppState;
use crate::actors::refresh_manager::{CloseSessions, ListSessions, QueuedRefreshes, StartRefresh};

/// Optional body of a refresh request.
///
/// Unknown fields are ignored, not refused: the old service's page sends
/// `useSeparateConnection` and `timestamp`, and clients written against it may send
/// more. The known fields are typed, so a wrong type is still a 400.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefreshBody {
    /// The PBX to refresh; all when absent.
    pub pbx: Option<String>,
    /// The old service's choice of a separate login: accepted and ignored, since
    /// every refresh logs in on its own connection anyway.
    pub use_separate_connection: Option<bool>,
    /// The old page's click time (epoch milliseconds): accepted and ignored.
    pub timestamp: Option<u64>,
}

/// The refresh answer: the old service's envelope, with the counts in words.
#[derive(Serialize)]
struct RefreshEnvelope<'a> {
    success: bool,
    message: &'static str,
    summary: String,
    data: &'a RefreshAnswer,
}

/// Re-reads every extension over a separate AMI login.
pub async fn start(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    debug_assert!(super::edge::cleared(&req), "the edge screens every route");
    super::body::check_declared_length(&req, state.config.http_body_limit)?;
    // Read here rather than by the `Bytes` extractor, whose over-limit error is a
    // plain-text 413 outside the API's JSON error shape.
    let body = payload
        .to_bytes_limited(state.config.http_body_limit)
        .await
        .map_err(|_| super::payload_error(actix_web::error::PayloadError::Overflow))?
        .map_err(|e| ApiError::new(ErrorCode::BadBody, format!("cannot read the body: {e}")))?;
    let body: RefreshBody = if body.iter().all(u8::is_ascii_whitespace) {
        RefreshBody::default()
    } else {
        super::body::require_json_type(&req)?;
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::new(
                ErrorCode::InvalidJson,
                format!("the body is not a valid refresh request: {e}"),
            )
        })?
    };
    not_held_here(&state, body.pbx.as_deref())?;
    let run = state
        .refresh
        .send(StartRefresh { pbx: body.pbx })
        .await
        .map_err(|e| ApiError::internal("starting a refresh", e))?;
    let data = answer(run)?;
    Ok(HttpResponse::Ok().json(RefreshEnvelope {
        success: true,
        message: REFRESH_MESSAGE,
        summary: data.summary(),
        data: &data,
    }))
}

/// Cluster mode: a refresh corrects the state through the PBX's router, which only
/// the lease holder runs, so another instance answers 409 naming the holder.
fn not_held_here(state: &AppState, pbx: Option<&str>) -> Result<(), ApiError> {
    let Some(view) = &state.cluster else {
        return Ok(());
    };
    let elsewhere: Vec<String> = state
        .pbxs
        .iter()
        .filter(|p| pbx.is_none_or(|n| n == p.name))
        .map(|p| (p.name.as_str(), view.holding(&p.name)))
        .filter(|(_, h)| !h.held_here)
        .map(|(name, h)| match h.held_by {
            Some(by) => format!("{name} (held by instance {by})"),
            None => format!("{name} (held by no instance right now)"),
        })
        .collect();
    if elsewhere.is_empty() {
        return Ok(());
    }
    Err(ApiError::new(
        ErrorCode::NotHolder,
        format!(
            "instance {} does not hold {}; send the refresh to the holder",
            view.instance,
            elsewhere.join(", ")
        ),
    ))
}

/// Lists the refresh sessions open now.
pub async fn status(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    debug_assert!(super::edge::cleared(&req), "the edge screens every route");
    let sessions = state
        .refresh
        .send(ListSessions)
        .await
        .map_err(|e| ApiError::internal("listing refresh sessions", e))?;
    let queued = state
        .refresh
        .send(QueuedRefreshes)
        .await
        .map_err(|e| ApiError::internal("counting queued refreshes", e))?;
    Ok(super::error::ok_with_message(
        "Separate connection status retrieved successfully",
        json!({
            "activeConnections": sessions.len(),
            "connections": sessions,
            "queuedRefreshes": queued,
        }),
    ))
}

/// Closes every open refresh session.
pub async fn close(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    debug_assert!(super::edge::cleared(&req), "the edge screens every route");
    let closed = state
        .refresh
        .send(CloseSessions)
        .await
        .map_err(|e| ApiError::internal("closing refresh sessions", e))?;
    Ok(HttpResponse::Ok().json(json!({
        "success": true,
        "message": "All separate connections closed successfully",
        "closedConnections": closed,
    })))
}
