//! [`ApiError`]: every failure of the HTTP API as `{success: false, error: {code, message}}`.
//!
//! Causes are logged where they happen; clients get a code and a message meant for
//! them, never internal error text or a secret.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use thiserror::Error;

/// An API error with its HTTP status.
#[derive(Debug, Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code, e.g. `NOT_FOUND`.
    pub code: &'static str,
    /// Human-readable explanation.
    pub message: String,
}

impl ApiError {
    /// An error with any status.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NOT_FOUND", message)
    }

    /// 400.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 401.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "a valid API token is required (Authorization: Bearer <token>)",
        )
    }

    /// 500, with the cause logged here and not sent.
    pub fn internal(context: &str, cause: impl std::fmt::Display) -> Self {
        log::error!("{context}: {cause}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL",
            format!("{context} failed; see the service log"),
        )
    }

    /// 503 for a part of the service that is not available.
    pub fn unavailable(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, code, message)
    }
}

#[derive(Serialize)]
struct Body<'a> {
    success: bool,
    error: Detail<'a>,
}

#[derive(Serialize)]
struct Detail<'a> {
    code: &'a str,
    message: &'a str,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status).json(Body {
            success: false,
            error: Detail {
                code: self.code,
                message: &self.message,
            },
        })
    }
}

/// `{success: true, data}` — the envelope of every successful answer.
pub fn ok<T: Serialize>(data: T) -> HttpResponse {
    HttpResponse::Ok().json(SuccessBody {
        count: None,
        data,
        message: None,
        success: true,
    })
}

/// `{success: true, count, data}` — a list and its length.
pub fn ok_list<T: Serialize>(data: &[T]) -> HttpResponse {
    HttpResponse::Ok().json(SuccessBody {
        count: Some(data.len()),
        data,
        message: None,
        success: true,
    })
}

/// `{success: true, message, data}` — an action's result with a sentence for people.
pub fn ok_with_message<T: Serialize>(message: &str, data: T) -> HttpResponse {
    HttpResponse::Ok().json(SuccessBody {
        count: None,
        data,
        message: Some(message),
        success: true,
    })
}

/// A successful answer written straight from `data`. `json!` first copies the data
/// into a `serde_json::Value` tree, one allocation per field: for a refresh of 1,000
/// extensions that copy and the report's other conversions took 40–80 % of the
/// time the server spent after the AMI session ended (timed in two runs). Fields
/// are declared in the order `json!` printed them (its map sorts keys), so answers
/// read the same.
#[derive(Serialize)]
struct SuccessBody<'a, T: Serialize> {
    #[serde(skip_serializing_if = "Option::is_none")]
    count: Option<usize>,
    data: T,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'a str>,
    success: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::MessageBody;

    fn body(r: HttpResponse) -> serde_json::Value {
        let bytes = r.into_body().try_into_bytes().expect("a complete body");
        serde_json::from_slice(&bytes).expect("JSON")
    }

    #[test]
    fn envelopes_carry_only_their_own_fields() {
        assert_eq!(
            body(ok(serde_json::json!({"a": 1}))),
            serde_json::json!({"success": true, "data": {"a": 1}})
        );
        assert_eq!(
            body(ok_list(&["x", "y"])),
            serde_json::json!({"success": true, "count": 2, "data": ["x", "y"]})
        );
        assert_eq!(
            body(ok_list::<u8>(&[])),
            serde_json::json!({"success": true, "count": 0, "data": []})
        );
        assert_eq!(
            body(ok_with_message("done", 7)),
            serde_json::json!({"success": true, "message": "done", "data": 7})
        );
    }

    #[test]
    fn fields_come_in_the_order_json_printed_them() {
        let r = ok_with_message("m", [1]);
        let bytes = r.into_body().try_into_bytes().expect("a complete body");
        assert_eq!(&bytes[..], br#"{"data":[1],"message":"m","success":true}"#);
    }
}
