//! `GET /api/queues` and `GET /api/queues/{name}`: the queues of the live view
//! (callers waiting, members, today's figures), waits counted up to the answer.

use actix_web::{web, HttpResponse};
use chrono::Utc;

use super::error::{ApiError, ErrorCode};
use super::extensions::{check_known_pbx, check_path_segment, pbx_name, PbxParam};
use super::state::AppState;
use crate::model::queue::Queue;

/// Every queue, optionally of one PBX (`?pbx=`), sorted by PBX then name.
pub async fn list(
    state: web::Data<AppState>,
    params: web::Query<PbxParam>,
) -> Result<HttpResponse, ApiError> {
    check_known_pbx(&state, params.pbx.as_deref())?;
    let now = Utc::now();
    let list: Vec<Queue> = state
        .live
        .read()
        .map_err(|_| ApiError::internal("reading the live state", "lock poisoned"))?
        .queues(params.pbx.as_deref())
        .iter()
        .map(|q| q.as_of(now))
        .collect();
    Ok(super::error::ok_list(&list))
}

/// One queue of the PBX named by `?pbx=` (default: the first PBX);
/// 404 `QUEUE_NOT_FOUND` when it has no queue of that name.
pub async fn get(
    state: web::Data<AppState>,
    path: web::Path<String>,
    params: web::Query<PbxParam>,
) -> Result<HttpResponse, ApiError> {
    let name = path.into_inner();
    check_path_segment(&name, 128, "not a queue name")?;
    let pbx = pbx_name(&state, params.pbx.as_deref())?;
    let queue = state
        .live
        .read()
        .map_err(|_| ApiError::internal("reading the live state", "lock poisoned"))?
        .queues
        .get(&(pbx.clone(), name.clone()))
        .cloned();
    match queue {
        Some(q) => Ok(super::error::ok(q.as_of(Utc::now()))),
        None => Err(ApiError::new(
            ErrorCode::QueueNotFound,
            format!("no queue {name:?} on PBX {pbx}"),
        )),
    }
}
