//! `GET /api/health`: is the service telling the truth right now?
//!
//! `status` is `ok` when every PBX is connected and the store keeps up, `degraded`
//! otherwise (the answer stays 200 so dashboards can read why).

use actix_web::{web, HttpResponse};
use chrono::Utc;
use serde_json::json;

use super::error::ApiError;
use super::state::AppState;
use crate::actors::hub::GetHubStats;
use crate::store::GetStoreHealth;

/// The health report.
pub async fn health(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let store = state.writer.send(GetStoreHealth).await.ok();
    let (seq, subscribers) = state.hub.send(GetHubStats).await.unwrap_or((0, 0));
    let connections: Vec<_> = state
        .pbxs
        .iter()
        .filter_map(|p| p.status.read().ok().map(|s| s.clone()))
        .collect();
    let all_connected = connections.iter().all(|c| c.state == "connected");
    let store_ok = store.as_ref().is_some_and(|s| s.state == "ok");
    let status = if all_connected && store_ok {
        "ok"
    } else {
        "degraded"
    };
    let (active, extensions) = state
        .live
        .read()
        .map(|l| (l.calls.len(), l.extensions.len()))
        .unwrap_or((0, 0));
    Ok(HttpResponse::Ok().json(json!({
        "success": true,
        "data": {
            "status": status,
            "service": {
                "name": "switchboard",
                "version": env!("CARGO_PKG_VERSION"),
                "startedAt": state.started_at,
                "uptimeSecs": (Utc::now() - state.started_at).num_seconds(),
            },
            "ami": connections.first(),
            "pbxs": connections,
            "store": store,
            "websocket": { "subscribers": subscribers, "seq": seq },
            "state": { "activeCalls": active, "extensions": extensions },
        }
    })))
}
