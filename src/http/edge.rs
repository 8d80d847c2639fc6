//! The edge: what every request passes before its route, in one place so that no
//! route can forget it. In order:
//!
//! 1. a page of another origin may not change anything or open `/ws`
//!    ([`super::origin`], 403 `CROSS_ORIGIN`);
//! 2. the route's zone decides which token it needs ([`super::auth`], 401
//!    `UNAUTHORIZED`); health learns how much it may show through [`Clearance`];
//! 3. a body is read whole within `HTTP_BODY_TIMEOUT` and `HTTP_BODY_LIMIT`
//!    ([`super::body::read_within`], 408 / 413) before any handler sees it, so a
//!    handler that reads its body, or one that ignores it, cannot be held open by
//!    a sender trickling bytes.
//!
//! Refusals are answers (not errors) so the access log records them.

use std::sync::Arc;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::http::{ConnectionType, Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, ResponseError};

use super::auth::{clearance, Clearance, Zone};
use super::error::ApiError;
use crate::config::Config;

/// Screens one request (see the module docs), then hands it to its route.
pub async fn screen(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
    config: Arc<Config>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if super::origin::needs_same_origin(req.request()) {
        if let Err(e) = super::origin::check(req.request(), &config.allowed_origins) {
            return Ok(refuse(req, &e, false));
        }
    }
    let zone = Zone::of(req.match_info().get_ref().path());
    match clearance(req.request(), zone, &config) {
        Ok(c) => {
            req.extensions_mut().insert(c);
        }
        Err(e) => return Ok(refuse(req, &e, false)),
    }
    if carries_body(req.method()) {
        if let Err(e) = buffer_body(&mut req, &config).await {
            // The rest of the body may still be on its way: the connection
            // cannot be reused for another request.
            return Ok(refuse(req, &e, true));
        }
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_boxed_body)
}

/// How much the caller may see; [`Clearance::Public`] when the edge did not run.
pub fn clearance_of(req: &actix_web::HttpRequest) -> Clearance {
    req.extensions()
        .get::<Clearance>()
        .copied()
        .unwrap_or(Clearance::Public)
}

/// True when the edge let the request through to a route that needs clearance:
/// handlers of guarded routes assert it (in debug builds) instead of checking.
pub fn cleared(req: &actix_web::HttpRequest) -> bool {
    clearance_of(req) == Clearance::Full
}

/// GET and HEAD have no body a handler reads; a WebSocket upgrade (a GET) keeps
/// its stream, which carries the frames.
fn carries_body(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD)
}

/// Replaces the request's streamed body by the same bytes read in full.
async fn buffer_body(req: &mut ServiceRequest, config: &Config) -> Result<(), ApiError> {
    let limit = config.http_body_limit;
    super::body::check_declared_length(req.request(), limit)?;
    let mut payload = req.take_payload();
    let bytes = super::body::read_within(&mut payload, limit, config.http_body_timeout).await?;
    req.set_payload(actix_web::dev::Payload::from(bytes));
    Ok(())
}

fn refuse(req: ServiceRequest, err: &ApiError, close: bool) -> ServiceResponse<BoxBody> {
    let mut res = err.error_response();
    if close {
        res.head_mut().set_connection_type(ConnectionType::Close);
    }
    if err.status == StatusCode::UNAUTHORIZED {
        res.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer"),
        );
    }
    req.into_response(res)
}
