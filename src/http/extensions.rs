//! `GET /api/extensions`, `/api/extensions/{exten}`, `/api/extensions/{exten}/history`.
//!
//! Live state comes from the hub's live view (no database round trip); history and
//! "what was it at 10:32?" come from the store.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;

use super::error::{ApiError, ErrorCode};
use super::state::AppState;
use crate::model::ExtensionState;

/// Filters of the extension list.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// Only this PBX.
    pub pbx: Option<String>,
    /// Only this broad state (`idle`, `ringing`, `inUse`, `busy`, `onHold`, `unavailable`, `unknown`).
    pub state: Option<String>,
    /// Text search in number, name and hint.
    pub q: Option<String>,
}

/// The states `?state=` may name: a removed extension is never in the live view.
fn listable_states() -> impl Iterator<Item = ExtensionState> {
    ExtensionState::ALL
        .into_iter()
        .filter(|s| *s != ExtensionState::Removed)
}

/// Every extension's live state.
pub async fn list(
    state: web::Data<AppState>,
    params: web::Query<ListParams>,
) -> Result<HttpResponse, ApiError> {
    let wanted =
        match params.state.as_deref() {
            None => None,
            Some(word) => Some(listable_states().find(|s| s.as_str() == word).ok_or_else(
                || {
                    let words: Vec<&str> = listable_states().map(ExtensionState::as_str).collect();
                    ApiError::new(
                        ErrorCode::InvalidQuery,
                        format!("state must be one of {}", words.join(", ")),
                    )
                },
            )?),
        };
    let q = params.q.as_deref().map(str::to_lowercase);
    let list: Vec<_> = state
        .live
        .read()
        .map_err(|_| ApiError::internal("reading the live state", "lock poisoned"))?
        .extensions(params.pbx.as_deref())
        .into_iter()
        .filter(|e| wanted.is_none_or(|s| e.state == s))
        .filter(|e| {
            q.as_deref().is_none_or(|q| {
                e.extension.to_lowercase().contains(q)
                    || e.name
                        .as_deref()
                        .is_some_and(|n| n.to_lowercase().contains(q))
                    || e.hint
                        .as_deref()
                        .is_some_and(|h| h.to_lowercase().contains(q))
            })
        })
        .collect();
    Ok(super::error::ok_list(&list))
}

/// `pbx` parameter only.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PbxParam {
    /// The PBX (default: the first).
    pub pbx: Option<String>,
}

fn pbx_name(state: &AppState, pbx: Option<&str>) -> Result<String, ApiError> {
    state
        .pbx(pbx)
        .map(|p| p.name.clone())
        .ok_or_else(|| ApiError::not_found(format!("no PBX named {:?}", pbx.unwrap_or(""))))
}

fn check_exten(exten: &str) -> Result<(), ApiError> {
    if exten.is_empty() || exten.len() > 80 || exten.chars().any(|c| c.is_control()) {
        return Err(ApiError::new(
            ErrorCode::InvalidPath,
            "not an extension number",
        ));
    }
    Ok(())
}

/// One extension's live state (or its last stored state when not seen live yet).
pub async fn get(
    state: web::Data<AppState>,
    path: web::Path<String>,
    params: web::Query<PbxParam>,
) -> Result<HttpResponse, ApiError> {
    let exten = path.into_inner();
    check_exten(&exten)?;
    let pbx = pbx_name(&state, params.pbx.as_deref())?;
    let live = state
        .live
        .read()
        .ok()
        .and_then(|l| l.extensions.get(&(pbx.clone(), exten.clone())).cloned());
    if let Some(e) = live {
        return Ok(super::error::ok(e.as_ref()));
    }
    let store = state.store.clone();
    let (p, x) = (pbx.clone(), exten.clone());
    let stored = web::block(move || store.get_extension(&p, &x))
        .await
        .map_err(|e| ApiError::internal("reading an extension", e))?
        .map_err(|e| ApiError::internal("reading an extension", e))?;
    match stored {
        Some(e) => Ok(super::error::ok(e)),
        None => Err(ApiError::not_found(format!(
            "no extension {exten} on PBX {pbx}"
        ))),
    }
}

/// Range of an extension's history.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryParams {
    /// The PBX.
    pub pbx: Option<String>,
    /// Start of the range (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// End of the range (RFC 3339).
    pub to: Option<DateTime<Utc>>,
    /// Also answer the state at this instant.
    pub at: Option<DateTime<Utc>>,
    /// Most transitions (default 100, at most 1000).
    pub limit: Option<i64>,
}

/// An extension's state changes over a time range, and optionally its state at an instant.
pub async fn history(
    state: web::Data<AppState>,
    path: web::Path<String>,
    params: web::Query<HistoryParams>,
) -> Result<HttpResponse, ApiError> {
    let exten = path.into_inner();
    check_exten(&exten)?;
    let params = params.into_inner();
    if let (Some(f), Some(t)) = (params.from, params.to) {
        if f > t {
            return Err(ApiError::new(
                ErrorCode::InvalidQuery,
                "from must not be after to",
            ));
        }
    }
    let limit = params.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::new(
            ErrorCode::InvalidQuery,
            "limit must be between 1 and 1000",
        ));
    }
    let pbx = pbx_name(&state, params.pbx.as_deref())?;
    let store = state.store.clone();
    let (p, x) = (pbx.clone(), exten.clone());
    let to = params.to.map(crate::timefmt::end_of_millisecond);
    let at = params.at.map(crate::timefmt::end_of_millisecond);
    let (transitions, at_state) = web::block(move || {
        let list = store.extension_history(&p, &x, params.from, to, limit)?;
        let at = match at {
            Some(at) => store.state_at(&p, &x, at)?,
            None => None,
        };
        Ok::<_, crate::store::StoreError>((list, at))
    })
    .await
    .map_err(|e| ApiError::internal("reading extension history", e))?
    .map_err(|e| ApiError::internal("reading extension history", e))?;
    Ok(super::error::ok(json!({
        "pbx": pbx,
        "extension": exten,
        "from": crate::timefmt::millis_json(params.from.as_ref()),
        "to": crate::timefmt::millis_json(params.to.as_ref()),
        "at": crate::timefmt::millis_json(params.at.as_ref()),
        "stateAt": at_state,
        "transitions": transitions,
    })))
}
