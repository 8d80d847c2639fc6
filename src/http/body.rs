//! Checks on a request body made before and after reading it: a declared length
//! over the limit is refused at once (413) instead of waiting for bytes that may
//! never come, and a body that is not declared as JSON is refused (415).

use actix_web::http::{header, StatusCode};
use actix_web::HttpRequest;

use super::error::ApiError;

/// 413 when the request's `Content-Length` announces more than `limit` bytes.
pub fn check_declared_length(req: &HttpRequest, limit: usize) -> Result<(), ApiError> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    match declared {
        Some(n) if n > limit as u64 => Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "BODY_TOO_LARGE",
            "the request body is too large",
        )),
        _ => Ok(()),
    }
}

/// 415 unless the request says its body is JSON (`application/json`, any parameters).
pub fn require_json_type(req: &HttpRequest) -> Result<(), ApiError> {
    let json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"));
    if json {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            "send JSON with Content-Type: application/json",
        ))
    }
}
