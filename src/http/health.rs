//! `GET /api/health`: is the service telling the truth right now?
//!
//! `status` is `ok` when every PBX is connected and the store keeps up, `degraded`
//! otherwise (the answer stays 200 so dashboards can read why).
//!
//! With `API_TOKEN` set, a caller without it gets only `{status}`: load balancers
//! and uptime checks need no token, while the banner, PBX names, errors and
//! instance ids stay with those who have one.

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;
use serde_json::json;

use super::error::{ok, ApiError};
use super::state::AppState;
use crate::actors::hub::GetHubStats;
use crate::model::AmiConnectionState;
use crate::store::GetStoreHealth;

/// The health report (only its status without clearance).
pub async fn health(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let store = state.writer.send(GetStoreHealth).await.ok();
    let (seq, subscribers) = state.hub.send(GetHubStats).await.unwrap_or((0, 0));
    let connections: Vec<_> = state
        .pbxs
        .iter()
        .filter_map(|p| p.status.read().ok().map(|s| s.clone()))
        .collect();
    // On standby another instance holds the PBX: fine, as long as one does.
    let all_connected = connections.iter().all(|c| {
        c.state == AmiConnectionState::Connected
            || (c.state == AmiConnectionState::Standby
                && state
                    .cluster
                    .as_ref()
                    .is_some_and(|v| v.holding(&c.pbx).held_by.is_some()))
    });
    let store_ok = store
        .as_ref()
        .is_some_and(|s| s.state == crate::store::StoreState::Ok);
    let status = if all_connected && store_ok {
        "ok"
    } else {
        "degraded"
    };
    if super::edge::clearance_of(&req) == super::auth::Clearance::Public {
        return Ok(ok(json!({ "status": status })));
    }
    let (active, extensions) = state
        .live
        .read()
        .map(|l| (l.calls.len(), l.extensions.len()))
        .unwrap_or((0, 0));
    Ok(ok(json!({
            "status": status,
            "service": {
                "name": "switchboard",
                "version": env!("CARGO_PKG_VERSION"),
                "startedAt": crate::timefmt::millis(&state.started_at),
                "uptimeSecs": (Utc::now() - state.started_at).num_seconds(),
            },
            "ami": connections.first(),
            "pbxs": with_leases(&state, &connections),
            "cluster": state.cluster.as_ref().map(|v| json!({
                "instance": v.instance,
                "leaseSession": v.lease_session(),
            })),
            "store": store,
            "websocket": { "subscribers": subscribers, "seq": seq },
            "state": { "activeCalls": active, "extensions": extensions },
    })))
}

/// Each PBX's connection, with its lease (`heldBy`, `heldHere`, `instance`) in
/// cluster mode.
fn with_leases(
    state: &AppState,
    connections: &[crate::model::ConnectionStatus],
) -> Vec<serde_json::Value> {
    connections
        .iter()
        .map(|c| {
            let mut v = serde_json::to_value(c).unwrap_or_else(|_| json!({ "pbx": c.pbx }));
            if let (Some(view), Some(obj)) = (&state.cluster, v.as_object_mut()) {
                let h = view.holding(&c.pbx);
                obj.insert("heldBy".into(), json!(h.held_by));
                obj.insert("heldHere".into(), json!(h.held_here));
                obj.insert("instance".into(), json!(h.instance));
            }
            v
        })
        .collect()
}
