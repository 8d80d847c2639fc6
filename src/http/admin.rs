//! `GET /api/admin/actors` (every actor's status) and `GET /metrics` (Prometheus).

use actix_web::{web, HttpResponse};
use serde_json::json;

use super::error::ApiError;
use super::state::AppState;

/// Every live actor with kind, name, state, start, restarts, messages and last message.
pub async fn actors(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
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

/// Prometheus text exposition. The store writer's journaled count is read at
/// scrape time (only the writer knows it), and its backlog with it: the writer
/// sets the backlog gauge as it accepts and commits ops, but not when it moves
/// ops to the journal, so the scrape reads the exact figure.
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    if let Ok(store) = state.writer.send(crate::store::GetStoreHealth).await {
        state
            .metrics
            .store_pending
            .set(i64::try_from(store.pending).unwrap_or(i64::MAX));
        state
            .metrics
            .store_journaled
            .set(i64::try_from(store.journaled).unwrap_or(i64::MAX));
    }
    if let Ok(live) = state.live.read() {
        let queues = live.queues(None);
        drop(live);
        state.metrics.set_queues(&queues, chrono::Utc::now());
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render())
}
