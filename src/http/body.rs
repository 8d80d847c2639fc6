//! Checks on a request body made before and after reading it: a declared length
//! over the limit is refused at once (413) instead of waiting for bytes that may
//! never come, and a body that is not declared as JSON is refused (415).

use actix_web::http::header;
use actix_web::HttpRequest;

use super::error::{ApiError, ErrorCode};

/// 413 when the request's `Content-Length` announces more than `limit` bytes.
pub fn check_declared_length(req: &HttpRequest, limit: usize) -> Result<(), ApiError> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    match declared {
        Some(n) if n > limit as u64 => Err(ApiError::new(
            ErrorCode::BodyTooLarge,
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
            ErrorCode::UnsupportedMediaType,
            "send JSON with Content-Type: application/json",
        ))
    }
}

/// Reads the whole body within `deadline` and `limit`: 408 `BODY_TIMEOUT` when it
/// has not arrived by then (a sender trickling one byte a second would otherwise
/// hold the connection and a worker's attention as long as it likes), 413 when it
/// grows past `limit`, 400 when the stream breaks.
pub async fn read_within(
    payload: &mut actix_web::dev::Payload,
    limit: usize,
    deadline: std::time::Duration,
) -> Result<actix_web::web::Bytes, ApiError> {
    use futures::StreamExt;
    let until = tokio::time::Instant::now() + deadline;
    let mut body = actix_web::web::BytesMut::new();
    loop {
        let chunk = match tokio::time::timeout_at(until, payload.next()).await {
            Err(_) => return Err(body_timeout(deadline)),
            Ok(None) => return Ok(body.freeze()),
            Ok(Some(chunk)) => chunk.map_err(super::payload_error)?,
        };
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
}

fn too_large() -> ApiError {
    ApiError::new(ErrorCode::BodyTooLarge, "the request body is too large")
}

fn body_timeout(deadline: std::time::Duration) -> ApiError {
    ApiError::new(
        ErrorCode::BodyTimeout,
        format!(
            "the request body did not arrive within {} s (HTTP_BODY_TIMEOUT)",
            deadline.as_secs_f64()
        ),
    )
}
