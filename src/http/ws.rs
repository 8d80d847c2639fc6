//! `GET /ws`: upgrades to a WebSocket and starts a [`WsSession`] actor.
//!
//! Query parameters: `token` (when `API_TOKEN` is set and no header can be sent),
//! `kind` (`all`, `extensions`, `calls`, `queues`), `extensions` (comma list),
//! `queues` (comma list of queue names), `pbx`, `lastSeq` (resume).

use std::collections::HashSet;

use actix::{Actor, AsyncContext};
use actix_web::{web, HttpRequest, HttpResponse};
use futures::StreamExt;

use super::auth::url_query_param;
use super::error::{ApiError, ErrorCode};
use super::state::AppState;
use crate::delivery::{Filter, FilterError, FilterKind};
use crate::ws::session::{SessionSettings, WsSession};
use crate::ws::transport::accept;

fn filter_from_query(query: &str) -> Result<(Filter, Option<u64>), ApiError> {
    let kind = match url_query_param(query, "kind").as_deref() {
        None | Some("all") => FilterKind::All,
        Some("extensions") => FilterKind::Extensions,
        Some("calls") => FilterKind::Calls,
        Some("queues") => FilterKind::Queues,
        Some(other) => {
            return Err(ApiError::new(
                ErrorCode::InvalidQuery,
                format!("kind must be all, extensions, calls or queues, not {other:?}"),
            ))
        }
    };
    let list = |name: &str| {
        url_query_param(query, name).map(|list| {
            list.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect::<HashSet<String>>()
        })
    };
    let extensions = list("extensions");
    let queues = list("queues");
    let last_seq = match url_query_param(query, "lastSeq") {
        Some(s) => Some(s.parse::<u64>().map_err(|_| {
            ApiError::new(ErrorCode::InvalidQuery, "lastSeq must be a whole number")
        })?),
        None => None,
    };
    let filter = Filter {
        kind,
        extensions,
        pbx: url_query_param(query, "pbx"),
        queues,
    };
    filter.check().map_err(|e| {
        let code = match e {
            FilterError::TooManyExtensions { .. } => ErrorCode::TooManyExtensions,
            FilterError::TooManyQueues { .. } => ErrorCode::TooManyQueues,
        };
        ApiError::new(code, e.to_string())
    })?;
    Ok((filter, last_seq))
}

/// A request without `Upgrade: websocket` (a browser tab, curl) gets a 426 JSON
/// that says what the route wants, instead of the handshake's empty 400.
fn check_upgrade(req: &HttpRequest) -> Result<(), ApiError> {
    let asks_websocket = req
        .headers()
        .get(actix_web::http::header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("websocket"));
    if asks_websocket {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::UpgradeRequired,
            "this route is a WebSocket: send a WebSocket handshake (Upgrade: websocket)",
        ))
    }
}

/// Upgrades the connection.
pub async fn connect(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, actix_web::Error> {
    // A bad query is named first: it is wrong with or without the handshake.
    let (filter, last_seq) = filter_from_query(req.query_string())?;
    // A PBX that is not configured is a 404, as on every route naming one.
    super::extensions::check_known_pbx(&state, filter.pbx.as_deref())?;
    check_upgrade(&req)?;
    let Some(slot) = state.ws_slots.try_take() else {
        state
            .metrics
            .ws_refused
            .with_label_values(&["tooManyClients"])
            .inc();
        log::warn!(
            "websocket upgrade refused: {} clients open (WS_MAX_CLIENTS)",
            state.ws_slots.max()
        );
        return Err(ApiError::new(
            ErrorCode::TooManyClients,
            "too many WebSocket clients are connected; try again later",
        )
        .into());
    };
    // Half the byte bound for the queue, the rest for the backlog behind it (see
    // the session's `check_backlog`).
    let (response, outbox, frames) = accept(
        &req,
        payload,
        state.config.ws_queue,
        state.config.ws_queue_bytes / 2,
    )?;
    // The slot lives as long as the session's frame stream, which the session
    // drops when it stops.
    let frames = frames.map(move |frame| {
        let _held = &slot;
        frame
    });
    let settings = SessionSettings {
        hub: state.hub.clone(),
        metrics: state.metrics.clone(),
        registry: state.registry.clone(),
        backlog_limit: state.config.ws_queue.max(64),
        queue_bytes: state.config.ws_queue_bytes,
        control_rate: state.config.ws_control_rate,
    };
    let id = state.session_id();
    WsSession::create(move |ctx| {
        ctx.add_stream(frames);
        WsSession::new(id, settings, outbox, filter, last_seq)
    });
    Ok(response)
}
