//! Cross-origin refusal: a web page on another site must not be able to make a
//! browser POST to the API (refresh, close) or open `/ws` with the user's
//! network position. Browsers say where a request comes from in `Origin` (and
//! `Sec-Fetch-Site`); clients that send neither (curl, services) are not browsers
//! acting for a page and pass.
//!
//! The request's own origin is its `Host` header. `X-Forwarded-Host` is ignored:
//! behind a proxy that rewrites `Host`, list the public origin in `ALLOWED_ORIGINS`.
//! The scheme only counts through its default port, because the service does not
//! terminate TLS and cannot know whether the browser spoke `https` to a proxy.

use actix_web::http::{header, Method};
use actix_web::HttpRequest;

use super::error::{ApiError, ErrorCode};
use crate::config::Origin;

/// True for requests a page could use to change something or to read the live
/// feed: every method but GET/HEAD/OPTIONS, and WebSocket upgrades.
pub fn needs_same_origin(req: &HttpRequest) -> bool {
    let upgrade = req
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("websocket"));
    upgrade || !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS)
}

/// 403 `CROSS_ORIGIN` when the request comes from a page of another origin that is
/// not in `allowed`.
pub fn check(req: &HttpRequest, allowed: &[Origin]) -> Result<(), ApiError> {
    let headers = req.headers();
    let origin = headers
        .get(header::ORIGIN)
        .map(|v| v.to_str().unwrap_or(""));
    let cross_site = headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("cross-site"));
    let parsed = origin.map(Origin::parse);
    let listed = matches!(&parsed, Some(Some(o)) if allowed.contains(o));
    if listed {
        return Ok(());
    }
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let foreign = match (&parsed, host) {
        (None, _) => false,
        (Some(Some(o)), Some(h)) => !o.is_host(h),
        // `Origin: null`, an unparsable origin, or no Host to compare with.
        (Some(_), _) => true,
    };
    if foreign || cross_site {
        return Err(ApiError::new(ErrorCode::CrossOrigin,
            "requests from another site's page are refused; list that origin in ALLOWED_ORIGINS to allow it",
        ));
    }
    Ok(())
}
