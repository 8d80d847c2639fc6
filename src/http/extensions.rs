//! `GET /api/extensions`, `/api/extensions/{exten}`, `/api/extensions/{exten}/history`.
//!
//! Live state comes from the hub's live view (no database round trip); history and
//! "what was it at 10:32?" come from the store.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::error::{ApiError, ErrorCode};
use super::state::AppState;
use super::time_param::parse_opt_time;
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
    check_known_pbx(&state, params.pbx.as_deref())?;
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

/// The PBX `?pbx=` names (the first configured one when absent); 404 otherwise.
pub(super) fn pbx_name(state: &AppState, pbx: Option<&str>) -> Result<String, ApiError> {
    state
        .pbx(pbx)
        .map(|p| p.name.clone())
        .ok_or_else(|| ApiError::not_found(format!("no PBX named {:?}", pbx.unwrap_or(""))))
}

/// Answers 404 when `?pbx=` names a PBX that is not configured, so a typo is not
/// mistaken for a PBX with nothing on it.
pub fn check_known_pbx(state: &AppState, pbx: Option<&str>) -> Result<(), ApiError> {
    match pbx {
        Some(name) if state.pbx(Some(name)).is_none() => {
            Err(ApiError::not_found(format!("no PBX named {name:?}")))
        }
        _ => Ok(()),
    }
}

/// Whether the live view holds this extension.
fn is_live(state: &AppState, pbx: &str, exten: &str) -> bool {
    state.live.read().is_ok_and(|l| {
        l.extensions
            .contains_key(&(pbx.to_string(), exten.to_string()))
    })
}

fn check_exten(exten: &str) -> Result<(), ApiError> {
    check_path_segment(exten, 80, "not an extension number")
}

/// A name taken from the path (an extension, a queue): 400 `INVALID_PATH` with
/// `refusal` when it is empty, longer than `max` bytes or holds control characters.
pub(super) fn check_path_segment(
    text: &str,
    max: usize,
    refusal: &'static str,
) -> Result<(), ApiError> {
    if text.is_empty() || text.len() > max || text.chars().any(|c| c.is_control()) {
        return Err(ApiError::new(ErrorCode::InvalidPath, refusal));
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
        .map_err(|e| ApiError::store("reading an extension", e))?;
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
    /// Start of the range (read by [`parse_time`]).
    pub from: Option<String>,
    /// End of the range (read by [`parse_time`]).
    pub to: Option<String>,
    /// Also answer the state at this instant (read by [`parse_time`]).
    pub at: Option<String>,
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
    let from = parse_opt_time("from", params.from.as_deref())?;
    let to = parse_opt_time("to", params.to.as_deref())?;
    let at = parse_opt_time("at", params.at.as_deref())?;
    if let (Some(f), Some(t)) = (from, to) {
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
    let live = is_live(&state, &pbx, &exten);
    let store = state.store.clone();
    let (p, x) = (pbx.clone(), exten.clone());
    let to_end = to.map(crate::timefmt::end_of_millisecond);
    let at_end = at.map(crate::timefmt::end_of_millisecond);
    let found = web::block(move || {
        // Known = in the live view or the store; an unknown one is a 404, not an
        // empty history that reads like "nothing happened".
        if !live && store.get_extension(&p, &x)?.is_none() {
            return Ok(None);
        }
        let list = store.extension_history(&p, &x, from, to_end, limit)?;
        let at = match at_end {
            Some(at) => store.state_at(&p, &x, at)?,
            None => None,
        };
        Ok::<_, crate::store::StoreError>(Some((list, at)))
    })
    .await
    .map_err(|e| ApiError::internal("reading extension history", e))?
    .map_err(|e| ApiError::store("reading extension history", e))?;
    let (mut transitions, at_state) =
        found.ok_or_else(|| ApiError::not_found(format!("no extension {exten} on PBX {pbx}")))?;
    // A change of name (or a first confirmation) republishes the extension with its
    // state unchanged, and the store records that as a row identical to the one
    // before it; it is no transition, so it is not shown as one.
    transitions.dedup();
    Ok(super::error::ok(json!({
        "pbx": pbx,
        "extension": exten,
        "from": crate::timefmt::millis_json(from.as_ref()),
        "to": crate::timefmt::millis_json(to.as_ref()),
        "at": crate::timefmt::millis_json(at.as_ref()),
        "stateAt": at_state,
        "transitions": transitions,
    })))
}
