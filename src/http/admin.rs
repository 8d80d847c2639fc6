//! `GET /api/admin/actors` (every actor's status) and `GET /metrics` (Prometheus).

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use super::auth::require;
use super::error::ApiError;
use super::state::AppState;

/// Every live actor with kind, name, state, start, restarts, messages and last message.
pub async fn actors(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    require(&req, state.config.api_token.as_ref(), false)?;
    let actors = state.registry.snapshot();
    let mut counts = std::collections::BTreeMap::<&str, usize>::new();
    for a in &actors {
        *counts.entry(a.kind).or_default() += 1;
    }
    Ok(HttpResponse::Ok().json(json!({
        "success": true,
        "count": actors.len(),
        "byKind": counts,
        "data": actors,
    })))
}

/// Prometheus text exposition.
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render())
}
