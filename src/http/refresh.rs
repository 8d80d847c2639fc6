//! `POST /api/extensions/hybrid-refresh`, `GET …/status`, `POST …/close`.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::error::{ApiError, ErrorCode};
use super::state::AppState;
use crate::actors::refresh::{RefreshError, RefreshReport, RefreshStatistics};
use crate::actors::refresh_manager::{CloseSessions, ListSessions, StartRefresh};

/// Optional body of a refresh request.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshBody {
    /// The PBX to refresh; all when absent.
    pub pbx: Option<String>,
}

fn refresh_error(e: RefreshError) -> ApiError {
    let code = match &e {
        RefreshError::Unreachable(_) => ErrorCode::PbxUnreachable,
        RefreshError::LoginRefused(_) => ErrorCode::PbxLoginRefused,
        RefreshError::Busy(_) => ErrorCode::RefreshBusy,
        RefreshError::UnknownPbx(_) => ErrorCode::NotFound,
        RefreshError::Closed => ErrorCode::RefreshClosed,
    };
    ApiError::new(code, e.to_string())
}

/// Merges the reports of several PBXs into one answer of the same shape.
fn merge(mut reports: Vec<RefreshReport>) -> Option<RefreshReport> {
    if reports.len() <= 1 {
        return reports.pop();
    }
    let mut first = reports.remove(0);
    let mut stats = RefreshStatistics {
        successful_queries: first.statistics.successful_queries,
        failed_queries: first.statistics.failed_queries,
    };
    for r in reports {
        first.connection_id = format!("{},{}", first.connection_id, r.connection_id);
        first.pbx = format!("{},{}", first.pbx, r.pbx);
        first.extensions_checked += r.extensions_checked;
        first.last_query_time = first.last_query_time.max(r.last_query_time);
        stats.successful_queries += r.statistics.successful_queries;
        stats.failed_queries += r.statistics.failed_queries;
        first.results.extend(r.results);
        first.corrections.extend(r.corrections);
        first.duration_ms = first.duration_ms.max(r.duration_ms);
    }
    first.statistics = stats;
    Some(first)
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
    let pbx = match body.pbx {
        Some(p) => Some(p),
        None if state.pbxs.len() == 1 => state.pbxs.first().map(|p| p.name.clone()),
        None => None,
    };
    not_held_here(&state, pbx.as_deref())?;
    let reports = state
        .refresh
        .send(StartRefresh { pbx })
        .await
        .map_err(|e| ApiError::internal("starting a refresh", e))?
        .map_err(refresh_error)?;
    let report = merge(reports).ok_or_else(|| ApiError::not_found("no PBX to refresh"))?;
    let message = format!(
        "Refreshed {} extensions: {} answered, {} failed, {} corrected",
        report.extensions_checked,
        report.statistics.successful_queries,
        report.statistics.failed_queries,
        report.corrections.len()
    );
    Ok(super::error::ok_with_message(&message, &report))
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
    Ok(super::error::ok(
        json!({ "activeConnections": sessions.len(), "connections": sessions }),
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
    Ok(HttpResponse::Ok().json(json!({ "success": true, "closedConnections": closed })))
}
