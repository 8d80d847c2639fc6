//! The dashboard's files from `static/`, with every error answered as API JSON.
//!
//! actix-files already refuses to leave its directory (`..` segments are resolved
//! inside it, encoded `/` and hidden or odd segments are refused), but it answers
//! those refusals, and wrong methods, in plain text. A client probing paths gets the
//! same `{success: false, error: {code, message}}` as everywhere else instead, and
//! nothing about the file system (no path, no OS error) is echoed.

use std::path::PathBuf;

use actix_web::body::EitherBody;
use actix_web::dev::{HttpServiceFactory, ServiceResponse};
use actix_web::http::{header, StatusCode};
use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers};
use actix_web::{web, ResponseError};

use super::error::{ApiError, ErrorCode};

/// The dashboard under `/`, for the last place of the route table.
pub fn service(dir: PathBuf) -> impl HttpServiceFactory {
    web::scope("")
        .wrap(ErrorHandlers::new().default_handler(as_json))
        .service(
            actix_files::Files::new("/", dir)
                .index_file("index.html")
                .default_handler(web::to(super::api_not_found)),
        )
}

/// Replaces a non-JSON error answer by the API's error shape.
fn as_json<B>(res: ServiceResponse<B>) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if json {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let error = match status {
        StatusCode::BAD_REQUEST => ApiError::new(
            ErrorCode::InvalidPath,
            "this path cannot name a file of the dashboard",
        ),
        StatusCode::NOT_FOUND => ApiError::not_found(format!("no route {}", res.request().path())),
        StatusCode::METHOD_NOT_ALLOWED => ApiError::new(
            ErrorCode::MethodNotAllowed,
            "this method is not allowed on this route",
        ),
        s if s.is_server_error() => ApiError::new(
            ErrorCode::Internal,
            "reading a dashboard file failed; see the service log",
        ),
        s => ApiError::new(ErrorCode::BadRequest, "the request cannot be served").with_status(s),
    };
    let (req, _) = res.into_parts();
    let res = ServiceResponse::new(req, error.error_response());
    Ok(ErrorHandlerResponse::Response(
        res.map_body(|_, b| EitherBody::right(b)),
    ))
}
