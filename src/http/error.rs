//! [`ApiError`]: every failure of the HTTP API as `{success: false, error: {code, message}}`.
//!
//! Causes are logged where they happen; clients get a code and a message meant for
//! them, never internal error text or a secret.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use thiserror::Error;

/// Every code the API answers with. Each owns its HTTP status, so a code never
/// travels with a status that contradicts it; serialized as today's
/// `SCREAMING_SNAKE_CASE` strings, which clients match on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    /// 400: a request the dashboard files cannot serve.
    BadRequest,
    /// 400: a body that could not be read.
    BadBody,
    /// 400: a body that is not the expected JSON.
    InvalidJson,
    /// 400: a path parameter of the wrong form.
    InvalidPath,
    /// 400: a query parameter of the wrong form.
    InvalidQuery,
    /// 400: a subscription filter naming more extensions than allowed.
    TooManyExtensions,
    /// 400: a subscription filter naming more queues than allowed.
    TooManyQueues,
    /// 401: no valid API token.
    Unauthorized,
    /// 403: a browser request from another site's page.
    CrossOrigin,
    /// 404: nothing at this route or id.
    NotFound,
    /// 404: no call with this id (active, recent or stored).
    CallNotFound,
    /// 404: no queue of that name on the PBX(s) asked about.
    QueueNotFound,
    /// 405: the route exists, the method does not.
    MethodNotAllowed,
    /// 408: the body took too long to arrive.
    BodyTimeout,
    /// 409: this instance does not hold the PBX (cluster).
    NotHolder,
    /// 413: the body is over the limit.
    BodyTooLarge,
    /// 415: a body that is not `application/json`.
    UnsupportedMediaType,
    /// 426: a plain request to the WebSocket route (answered with `Upgrade: websocket`).
    UpgradeRequired,
    /// 500: a failure inside the service (the cause is logged, not sent).
    Internal,
    /// 503: the WebSocket client limit is reached.
    TooManyClients,
    /// 503: a refresh could not reach the PBX.
    PbxUnreachable,
    /// 502: the PBX refused the refresh's login.
    PbxLoginRefused,
    /// 503: a refresh of this PBX is already running at the limit.
    RefreshBusy,
    /// 503: the refresh service is shutting down.
    RefreshClosed,
    /// 503: every read connection of the store is in use, or the read ran past
    /// its time limit; try again shortly.
    StoreBusy,
}

impl ErrorCode {
    /// The HTTP status this code is answered with.
    pub fn status(self) -> StatusCode {
        match self {
            Self::BadRequest
            | Self::BadBody
            | Self::InvalidJson
            | Self::InvalidPath
            | Self::InvalidQuery
            | Self::TooManyExtensions
            | Self::TooManyQueues => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::CrossOrigin => StatusCode::FORBIDDEN,
            Self::NotFound | Self::CallNotFound | Self::QueueNotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::NotHolder => StatusCode::CONFLICT,
            Self::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::UpgradeRequired => StatusCode::UPGRADE_REQUIRED,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Self::TooManyClients
            | Self::PbxUnreachable
            | Self::RefreshBusy
            | Self::RefreshClosed
            | Self::StoreBusy => StatusCode::SERVICE_UNAVAILABLE,
            Self::PbxLoginRefused => StatusCode::BAD_GATEWAY,
        }
    }

    /// The code as clients see it (`BODY_TOO_LARGE`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadRequest => "BAD_REQUEST",
            Self::BadBody => "BAD_BODY",
            Self::InvalidJson => "INVALID_JSON",
            Self::InvalidPath => "INVALID_PATH",
            Self::InvalidQuery => "INVALID_QUERY",
            Self::TooManyExtensions => "TOO_MANY_EXTENSIONS",
            Self::TooManyQueues => "TOO_MANY_QUEUES",
            Self::Unauthorized => "UNAUTHORIZED",
            Self::CrossOrigin => "CROSS_ORIGIN",
            Self::NotFound => "NOT_FOUND",
            Self::CallNotFound => "CALL_NOT_FOUND",
            Self::QueueNotFound => "QUEUE_NOT_FOUND",
            Self::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            Self::BodyTimeout => "BODY_TIMEOUT",
            Self::NotHolder => "NOT_HOLDER",
            Self::BodyTooLarge => "BODY_TOO_LARGE",
            Self::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            Self::UpgradeRequired => "UPGRADE_REQUIRED",
            Self::Internal => "INTERNAL",
            Self::TooManyClients => "TOO_MANY_CLIENTS",
            Self::PbxUnreachable => "PBX_UNREACHABLE",
            Self::PbxLoginRefused => "PBX_LOGIN_REFUSED",
            Self::RefreshBusy => "REFRESH_BUSY",
            Self::RefreshClosed => "REFRESH_CLOSED",
            Self::StoreBusy => "STORE_BUSY",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An API error with its HTTP status.
#[derive(Debug, Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    /// HTTP status: the code's own, unless [`ApiError::with_status`] kept another.
    pub status: StatusCode,
    /// Stable machine-readable code.
    pub code: ErrorCode,
    /// Human-readable explanation.
    pub message: String,
}

impl ApiError {
    /// An error answered with its code's status.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status: code.status(),
            code,
            message: message.into(),
        }
    }

    /// The same error answered with `status`: for a status actix chose itself (an
    /// unusual 4xx) that is rewritten into the API's shape without changing it.
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    /// 401.
    pub fn unauthorized() -> Self {
        Self::new(
            ErrorCode::Unauthorized,
            "a valid API token is required (Authorization: Bearer <token>)",
        )
    }

    /// A store read's failure: 503 `STORE_BUSY` when the readers' pool is full or
    /// the read hit its time limit (the client may retry), else a 500.
    pub fn store(context: &str, error: crate::store::StoreError) -> Self {
        use crate::store::StoreError;
        match error {
            StoreError::Busy { .. } | StoreError::ReadTimedOut { .. } => {
                log::debug!("{context}: {error}");
                Self::new(ErrorCode::StoreBusy, format!("{context}: {error}"))
            }
            other => Self::internal(context, other),
        }
    }

    /// 500, with the cause logged here and not sent.
    pub fn internal(context: &str, cause: impl std::fmt::Display) -> Self {
        log::error!("{context}: {cause}");
        Self::new(
            ErrorCode::Internal,
            format!("{context} failed; see the service log"),
        )
    }
}

#[derive(Serialize)]
struct Body<'a> {
    success: bool,
    error: Detail<'a>,
}

#[derive(Serialize)]
struct Detail<'a> {
    code: ErrorCode,
    message: &'a str,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut answer = HttpResponse::build(self.status);
        if self.code == ErrorCode::UpgradeRequired {
            // RFC 9110 §15.5.22: a 426 names the protocol to switch to.
            answer.insert_header((actix_web::http::header::UPGRADE, "websocket"));
        }
        answer.json(Body {
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
/// extensions that copy was a large share of the time the server spent after the
/// AMI session ended (docs/PERFORMANCE.md, "Refresh"). Fields
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
    fn each_code_owns_its_status_and_its_wire_name() {
        assert_eq!(
            ErrorCode::BodyTooLarge.status(),
            StatusCode::PAYLOAD_TOO_LARGE
        );
        assert_eq!(ErrorCode::NotHolder.status(), StatusCode::CONFLICT);
        assert_eq!(
            ErrorCode::TooManyClients.status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(ErrorCode::CrossOrigin.status(), StatusCode::FORBIDDEN);
        for code in [
            ErrorCode::BadRequest,
            ErrorCode::BadBody,
            ErrorCode::InvalidJson,
            ErrorCode::InvalidPath,
            ErrorCode::InvalidQuery,
            ErrorCode::TooManyExtensions,
            ErrorCode::TooManyQueues,
            ErrorCode::Unauthorized,
            ErrorCode::CrossOrigin,
            ErrorCode::NotFound,
            ErrorCode::CallNotFound,
            ErrorCode::QueueNotFound,
            ErrorCode::MethodNotAllowed,
            ErrorCode::BodyTimeout,
            ErrorCode::NotHolder,
            ErrorCode::BodyTooLarge,
            ErrorCode::UnsupportedMediaType,
            ErrorCode::UpgradeRequired,
            ErrorCode::Internal,
            ErrorCode::TooManyClients,
            ErrorCode::PbxUnreachable,
            ErrorCode::PbxLoginRefused,
            ErrorCode::RefreshBusy,
            ErrorCode::RefreshClosed,
        ] {
            assert_eq!(
                serde_json::to_value(code).expect("a code serializes"),
                serde_json::json!(code.as_str())
            );
        }
    }

    #[test]
    fn the_filter_refusal_keeps_the_code_the_websocket_sends() {
        let refusal = crate::delivery::FilterError::TooManyExtensions { got: 2, max: 1 };
        assert_eq!(ErrorCode::TooManyExtensions.as_str(), refusal.code());
        let refusal = crate::delivery::FilterError::TooManyQueues { got: 2, max: 1 };
        assert_eq!(ErrorCode::TooManyQueues.as_str(), refusal.code());
    }

    #[test]
    fn an_error_answers_with_its_codes_status_and_the_same_json() {
        let r = ApiError::new(ErrorCode::BodyTooLarge, "too big").error_response();
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let bytes = r.into_body().try_into_bytes().expect("a complete body");
        assert_eq!(
            &bytes[..],
            br#"{"success":false,"error":{"code":"BODY_TOO_LARGE","message":"too big"}}"#
        );
        let kept = ApiError::new(ErrorCode::BadRequest, "x").with_status(StatusCode::URI_TOO_LONG);
        assert_eq!(kept.error_response().status(), StatusCode::URI_TOO_LONG);
    }

    #[test]
    fn fields_come_in_the_order_json_printed_them() {
        let r = ok_with_message("m", [1]);
        let bytes = r.into_body().try_into_bytes().expect("a complete body");
        assert_eq!(&bytes[..], br#"{"data":[1],"message":"m","success":true}"#);
    }
}
