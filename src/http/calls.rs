//! `GET /api/calls` (active), `/api/calls/history` (finished, paged), `/api/calls/{id}`.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::error::{ok, ApiError, ErrorCode};
use super::extensions::{check_known_pbx, PbxParam};
use super::state::AppState;
use super::time_param::parse_opt_time;
use crate::store::{CallHistoryQuery, HistoryCursor};

/// Active calls from the live view.
pub async fn active(
    state: web::Data<AppState>,
    params: web::Query<PbxParam>,
) -> Result<HttpResponse, ApiError> {
    check_known_pbx(&state, params.pbx.as_deref())?;
    let calls = state
        .live
        .read()
        .map_err(|_| ApiError::internal("reading the live state", "lock poisoned"))?
        .calls(params.pbx.as_deref());
    Ok(super::error::ok_list(&calls))
}

/// Filters and paging of the call history.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HistoryParams {
    /// Only this PBX.
    pub pbx: Option<String>,
    /// Only calls this extension took part in.
    pub extension: Option<String>,
    /// Started at or after (read by [`parse_time`](super::time_param::parse_time)).
    pub from: Option<String>,
    /// Started at or before (read by [`parse_time`](super::time_param::parse_time)).
    pub to: Option<String>,
    /// Page number from 1.
    pub page: Option<i64>,
    /// Page size (default 50, at most 500).
    pub page_size: Option<i64>,
    /// Continue after this cursor (the previous page's `pagination.next`)
    /// instead of counting pages: a deep page then costs what the first does.
    pub after: Option<String>,
}

/// Finished calls, newest first.
pub async fn history(
    state: web::Data<AppState>,
    params: web::Query<HistoryParams>,
) -> Result<HttpResponse, ApiError> {
    let p = params.into_inner();
    check_known_pbx(&state, p.pbx.as_deref())?;
    let page = p.page.unwrap_or(1);
    let size = p.page_size.unwrap_or(50);
    if page < 1 {
        return Err(ApiError::new(ErrorCode::InvalidQuery, "page starts at 1"));
    }
    if !(1..=500).contains(&size) {
        return Err(ApiError::new(
            ErrorCode::InvalidQuery,
            "pageSize must be between 1 and 500",
        ));
    }
    let from = parse_opt_time("from", p.from.as_deref())?;
    let to = parse_opt_time("to", p.to.as_deref())?;
    if let (Some(f), Some(t)) = (from, to) {
        if f > t {
            return Err(ApiError::new(
                ErrorCode::InvalidQuery,
                "from must not be after to",
            ));
        }
    }
    let after = match p.after.as_deref() {
        None => None,
        Some(_) if p.page.is_some() => {
            return Err(ApiError::new(
                ErrorCode::InvalidQuery,
                "give either page or after, not both",
            ))
        }
        Some(text) => Some(HistoryCursor::decode(text).ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidQuery,
                "after must be a pagination.next value from an earlier page",
            )
        })?),
    };
    let by_cursor = after.is_some();
    let query = CallHistoryQuery {
        pbx: p.pbx,
        extension: p.extension,
        from,
        to: to.map(crate::timefmt::end_of_millisecond),
        after,
        limit: size,
        offset: (page - 1).saturating_mul(size),
        count_total: !by_cursor,
    };
    let store = state.store.clone();
    let found = web::block(move || store.call_history(&query))
        .await
        .map_err(|e| ApiError::internal("reading call history", e))?
        .map_err(|e| ApiError::store("reading call history", e))?;
    let next = found.next.as_ref().map(HistoryCursor::encode);
    let pagination = if by_cursor {
        json!({ "pageSize": size, "next": next })
    } else {
        json!({ "page": page, "pageSize": size, "total": found.total, "next": next })
    };
    Ok(HttpResponse::Ok().json(json!({
        "success": true,
        "data": found.calls,
        "pagination": pagination,
    })))
}

/// One call, active or finished.
pub async fn get(
    state: web::Data<AppState>,
    path: web::Path<String>,
    params: web::Query<PbxParam>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    if id.is_empty() || id.len() > 200 {
        return Err(ApiError::new(ErrorCode::InvalidPath, "not a call id"));
    }
    let pbx = params.pbx.clone();
    let live = state.live.read().ok().and_then(|l| {
        l.calls
            .values()
            .chain(l.recent.iter())
            .find(|c| c.id == id && pbx.as_deref().is_none_or(|p| c.pbx == p))
            .cloned()
    });
    if let Some(c) = live {
        return Ok(ok(c.as_ref()));
    }
    let store = state.store.clone();
    let key = id.clone();
    let stored = web::block(move || store.get_call(pbx.as_deref(), &key))
        .await
        .map_err(|e| ApiError::internal("reading a call", e))?
        .map_err(|e| ApiError::store("reading a call", e))?;
    stored
        .map(ok)
        .ok_or_else(|| ApiError::not_found(format!("no call {id}")))
}
