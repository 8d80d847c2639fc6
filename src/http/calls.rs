//! `GET /api/calls` (active), `/api/calls/history` (finished, paged), `/api/calls/{id}`.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::error::{ok, ApiError, ErrorCode};
use super::extensions::{check_known_pbx, PbxParam};
use super::state::AppState;
use super::time_param::parse_opt_time;
use crate::model::{Call, CallOutcome, Direction};
use crate::store::{CallHistoryQuery, HistoryCursor, MAX_SEARCH_CHARS};

/// Active calls from the live view, their durations running up to now.
pub async fn active(
    state: web::Data<AppState>,
    params: web::Query<PbxParam>,
) -> Result<HttpResponse, ApiError> {
    check_known_pbx(&state, params.pbx.as_deref())?;
    let now = chrono::Utc::now();
    let calls: Vec<Call> = state
        .live
        .read()
        .map_err(|_| ApiError::internal("reading the live state", "lock poisoned"))?
        .calls(params.pbx.as_deref())
        .iter()
        .map(|c| c.running_at(now))
        .collect();
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
    /// Only calls that went through this queue.
    pub queue: Option<String>,
    /// Only calls with a party of exactly this number (caller, callee or a
    /// leg's extension); unlike `extension`, an unknown one is an empty page.
    pub number: Option<String>,
    /// Search: calls whose caller's or callee's number or name, or a word of the
    /// name, starts with this text, letter case aside.
    pub q: Option<String>,
    /// Only calls that ended this way (a [`CallOutcome`] word).
    pub outcome: Option<String>,
    /// Only calls in this direction (a [`Direction`] word).
    pub direction: Option<String>,
    /// Page number from 1.
    pub page: Option<i64>,
    /// Page size (default 50, at most 500).
    pub page_size: Option<i64>,
    /// Continue after this cursor (the previous page's `pagination.next`)
    /// instead of counting pages: a deep page then costs what the first does.
    pub after: Option<String>,
    /// `json` (default) or `csv`: the whole filtered history as a download, the
    /// paging ignored (see [`super::calls_csv`]).
    pub format: Option<String>,
}

/// What `?format=` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HistoryFormat {
    Json,
    Csv,
}

fn history_format(word: Option<&str>) -> Result<HistoryFormat, ApiError> {
    match word {
        None | Some("json") => Ok(HistoryFormat::Json),
        Some("csv") => Ok(HistoryFormat::Csv),
        Some(_) => Err(ApiError::new(
            ErrorCode::InvalidQuery,
            "format must be json or csv",
        )),
    }
}

/// `?outcome=`: one of [`CallOutcome`]'s words; any other names them all.
fn outcome_param(word: Option<&str>) -> Result<Option<CallOutcome>, ApiError> {
    let Some(word) = word.filter(|w| !w.is_empty()) else {
        return Ok(None);
    };
    CallOutcome::parse(word).map(Some).ok_or_else(|| {
        let words: Vec<&str> = CallOutcome::ALL.iter().map(|o| o.as_str()).collect();
        ApiError::new(
            ErrorCode::InvalidQuery,
            format!("outcome must be one of {}", words.join(", ")),
        )
    })
}

/// `?direction=`: one of [`Direction`]'s words; any other names them all.
fn direction_param(word: Option<&str>) -> Result<Option<Direction>, ApiError> {
    match word {
        None | Some("") => Ok(None),
        Some("inbound") => Ok(Some(Direction::Inbound)),
        Some("outbound") => Ok(Some(Direction::Outbound)),
        Some("internal") => Ok(Some(Direction::Internal)),
        Some("unknown") => Ok(Some(Direction::Unknown)),
        Some(_) => Err(ApiError::new(
            ErrorCode::InvalidQuery,
            "direction must be one of inbound, outbound, internal, unknown",
        )),
    }
}

/// `?q=`: trimmed; at most as long as the longest stored search term, so a
/// match is never a guess.
fn search_param(text: Option<String>) -> Result<Option<String>, ApiError> {
    let Some(text) = text.map(|t| t.trim().to_string()).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if text.chars().count() > MAX_SEARCH_CHARS {
        return Err(ApiError::new(
            ErrorCode::InvalidQuery,
            format!("q must be at most {MAX_SEARCH_CHARS} characters"),
        ));
    }
    Ok(Some(text))
}

/// Finished calls, newest first.
pub async fn history(
    state: web::Data<AppState>,
    params: web::Query<HistoryParams>,
) -> Result<HttpResponse, ApiError> {
    let p = params.into_inner();
    check_known_pbx(&state, p.pbx.as_deref())?;
    let format = history_format(p.format.as_deref())?;
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
    let number = p.number.filter(|n| !n.is_empty());
    if p.extension.is_some() && number.is_some() {
        return Err(ApiError::new(
            ErrorCode::InvalidQuery,
            "give either extension or number, not both",
        ));
    }
    let by_cursor = after.is_some();
    let query = CallHistoryQuery {
        pbx: p.pbx,
        extension: p.extension,
        number,
        search: search_param(p.q)?,
        outcome: outcome_param(p.outcome.as_deref())?,
        direction: direction_param(p.direction.as_deref())?,
        from,
        to: to.map(crate::timefmt::end_of_millisecond),
        queue: p.queue.filter(|q| !q.is_empty()),
        after,
        limit: size,
        offset: (page - 1).saturating_mul(size),
        count_total: !by_cursor,
        count_limit: state.config.store.history_count_limit,
    };
    if format == HistoryFormat::Csv {
        return super::calls_csv::export(state.store.clone(), query);
    }
    let store = state.store.clone();
    let named = NamedExtension::of(&state, &query);
    let unknown = named
        .extension
        .as_ref()
        .map(|x| format!("no extension {x} on {}", named.pbxs.join(", ")));
    let (found, known) = web::block(move || {
        let found = store.call_history(&query)?;
        let known = !found.calls.is_empty() || named.known(&store)?;
        Ok::<_, crate::store::StoreError>((found, known))
    })
    .await
    .map_err(|e| ApiError::internal("reading call history", e))?
    .map_err(|e| ApiError::store("reading call history", e))?;
    if let (false, Some(message)) = (known, unknown) {
        return Err(ApiError::not_found(message));
    }
    let next = found.next.as_ref().map(HistoryCursor::encode);
    let pagination = if by_cursor {
        json!({ "pageSize": size, "next": next })
    } else {
        json!({
            "page": page,
            "pageSize": size,
            "total": found.total,
            "totalExact": found.total_exact,
            "next": next,
        })
    };
    Ok(HttpResponse::Ok().json(json!({
        "success": true,
        "data": found.calls,
        "pagination": pagination,
    })))
}

/// The extension `?extension=` names: an unknown one is a 404, as on every route
/// naming an extension, while a known one without calls in the range is an empty
/// page. Known = in the live view or the store on the PBX(s) asked about, or in
/// the history itself (a device without a hint still takes calls).
struct NamedExtension {
    extension: Option<String>,
    pbxs: Vec<String>,
    live: bool,
}

impl NamedExtension {
    fn of(state: &AppState, query: &CallHistoryQuery) -> Self {
        let pbxs: Vec<String> = match &query.pbx {
            Some(p) => vec![p.clone()],
            None => state.pbxs.iter().map(|p| p.name.clone()).collect(),
        };
        let live = query.extension.as_ref().is_some_and(|x| {
            state.live.read().is_ok_and(|l| {
                pbxs.iter()
                    .any(|p| l.extensions.contains_key(&(p.clone(), x.clone())))
            })
        });
        Self {
            extension: query.extension.clone(),
            pbxs,
            live,
        }
    }

    /// No extension named, or one the live view or the store knows.
    fn known(&self, store: &crate::store::Store) -> Result<bool, crate::store::StoreError> {
        let Some(x) = &self.extension else {
            return Ok(true);
        };
        if self.live {
            return Ok(true);
        }
        for p in &self.pbxs {
            if store.get_extension(p, x)?.is_some() {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// One call, active or finished; an id the service never saw (on `?pbx=`, when
/// given) is 404 `CALL_NOT_FOUND`.
pub async fn get(
    state: web::Data<AppState>,
    path: web::Path<String>,
    params: web::Query<PbxParam>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    if id.is_empty() || id.len() > 200 {
        return Err(ApiError::new(ErrorCode::InvalidPath, "not a call id"));
    }
    check_known_pbx(&state, params.pbx.as_deref())?;
    let pbx = params.pbx.clone();
    let live = state.live.read().ok().and_then(|l| {
        l.calls
            .values()
            .chain(l.recent.iter())
            .find(|c| c.id == id && pbx.as_deref().is_none_or(|p| c.pbx == p))
            .cloned()
    });
    if let Some(c) = live {
        return Ok(ok(c.running_at(chrono::Utc::now())));
    }
    let store = state.store.clone();
    let key = id.clone();
    let stored = web::block(move || store.get_call(pbx.as_deref(), &key))
        .await
        .map_err(|e| ApiError::internal("reading a call", e))?
        .map_err(|e| ApiError::store("reading a call", e))?;
    stored.map(ok).ok_or_else(|| {
        ApiError::new(
            ErrorCode::CallNotFound,
            format!("no call {id} (active, recent or in the history)"),
        )
    })
}
