//! The HTTP API, the WebSocket endpoint and the dashboard, on actix-web.
//!
//! [`configure`] is the one route table (routes listed in the README, "HTTP API"). Every answer is JSON
//! `{success: true, data}` or `{success: false, error: {code, message}}`; extractor
//! failures (bad JSON, bad query parameters, bodies over the limit) and unknown
//! routes or methods are turned into the same error shape here.

pub mod admin;
pub mod auth;
pub mod body;
pub mod calls;
pub mod calls_csv;
pub mod edge;
pub mod error;
pub mod extensions;
pub mod health;
pub mod origin;
pub mod queues;
pub mod refresh;
pub mod refresh_answer;
pub mod state;
pub mod static_files;
pub mod time_param;
pub mod ws;

use actix_web::dev::ServiceRequest;
use actix_web::error::{JsonPayloadError, PathError, PayloadError, QueryPayloadError};
use actix_web::middleware::Logger;
use actix_web::{web, HttpRequest, HttpResponse};

pub use error::{ApiError, ErrorCode};
pub use state::AppState;

fn method_not_allowed() -> ApiError {
    ApiError::new(
        ErrorCode::MethodNotAllowed,
        "this method is not allowed on this route",
    )
}

async fn not_allowed() -> Result<HttpResponse, ApiError> {
    Err(method_not_allowed())
}

async fn api_not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::not_found(format!("no route {}", req.path())))
}

/// The access log: client, request line, status, size, time. The request line is
/// written with the value of any query parameter whose name, percent-decoded and in
/// any case, contains `token` replaced by `***`: browsers pass the API token to
/// `/ws` and the dashboard that way, and it must never reach a log however a
/// client spells the key.
pub fn access_logger() -> Logger {
    Logger::new("%a \"%{r}xi\" %s %b %Dms")
        .custom_request_replace("r", redacted_request_line)
        .exclude("/metrics")
}

fn redacted_request_line(req: &ServiceRequest) -> String {
    let query = req.query_string();
    let query = if query.is_empty() {
        String::new()
    } else {
        let parts: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, _)) if names_a_token(k) => format!("{k}=***"),
                _ => pair.to_string(),
            })
            .collect();
        format!("?{}", parts.join("&"))
    };
    format!(
        "{} {}{} {:?}",
        req.method(),
        req.path(),
        query,
        req.version()
    )
}

/// `token`, `Token`, `%74oken`, `access_token`, `api+token`…
fn names_a_token(key: &str) -> bool {
    auth::percent_decode(key)
        .to_ascii_lowercase()
        .contains("token")
}

/// Registers every route; `static_dir` holds the dashboard.
pub fn configure(cfg: &mut web::ServiceConfig, state: web::Data<AppState>) {
    let limit = state.config.http_body_limit;
    cfg.app_data(state.clone())
        .app_data(web::PayloadConfig::new(limit))
        .app_data(
            web::JsonConfig::default()
                .limit(limit)
                .error_handler(|err, _| json_error(err).into()),
        )
        .app_data(web::QueryConfig::default().error_handler(|err, _| query_error(err).into()))
        .app_data(web::PathConfig::default().error_handler(|err, _| path_error(err).into()));
    let config = state.config.clone();
    // Every route sits inside the edge's scope: origins, tokens and body deadlines
    // are decided there for all of them (see `edge`).
    let edge =
        actix_web::middleware::from_fn(move |req, next| edge::screen(req, next, config.clone()));
    cfg.service(
        web::scope("")
            .wrap(edge)
            .service(
                web::resource("/api/health")
                    .route(web::get().to(health::health))
                    .default_service(web::to(not_allowed)),
            )
            .service(
                web::resource("/api/extensions/hybrid-refresh")
                    .route(web::post().to(refresh::start))
                    .default_service(web::to(not_allowed)),
            )
            .service(
                web::resource("/api/extensions/hybrid-refresh/status")
                    .route(web::get().to(refresh::status))
                    .default_service(web::to(not_allowed)),
            )
            .service(
                web::resource("/api/extensions/hybrid-refresh/close")
                    .route(web::post().to(refresh::close))
                    .default_service(web::to(not_allowed)),
            )
            .service(
                web::resource("/api/extensions")
                    .route(web::get().to(extensions::list))
                    .default_service(web::to(not_allowed)),
            )
            .service(
                web::resource("/api/extensions/{exten}")
                    .route(web::get().to(extensions::get))
                    .default_service(web::to(not_allowed)),
            )
            .service(
                web::resource("/api/extensions/{exten}/history")
                    .route(web::get().to(extensions::history))
                    .default_service(web::to(not_allowed)),
            )
            .service(
                web::resource("/api/queues")
                    .route(web::get().to(queues::list))
                    .default_service(web::to(not_allowed)),
            )
            .service(
                web::resource("/api/queues/{name}")
                    .route(web::get().to(queues::get))
                    .default_service(web::to(not_allowed)),
            )
            .service(
                web::resource("/api/calls")
                    .route(web::get().to(calls::active))
                    .default_service(web::to(not_allowed)),
            )
            .service(
                web::resource("/api/calls/history")
                    .route(web::get().to(calls::history))
                    .default_service(web::to(not_allowed)),
            )
            .service(
                web::resource("/api/calls/{id}")
                    .route(web::get().to(calls::get))
                    .default_service(web::to(not_allowed)),
            )
            .service(
                web::resource("/api/admin/actors")
                    .route(web::get().to(admin::actors))
                    .default_service(web::to(not_allowed)),
            )
            .service(
                web::resource("/metrics")
                    .route(web::get().to(admin::metrics))
                    .default_service(web::to(not_allowed)),
            )
            .service(
                web::resource("/ws")
                    .route(web::get().to(ws::connect))
                    .default_service(web::to(not_allowed)),
            )
            .service(web::scope("/api").default_service(web::to(api_not_found)))
            .service(static_files::service(state.static_dir.clone())),
    );
}

fn json_error(err: JsonPayloadError) -> ApiError {
    match err {
        JsonPayloadError::OverflowKnownLength { .. } | JsonPayloadError::Overflow { .. } => {
            ApiError::new(ErrorCode::BodyTooLarge, "the request body is too large")
        }
        JsonPayloadError::ContentType => ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "send JSON with Content-Type: application/json",
        ),
        other => ApiError::new(
            ErrorCode::InvalidJson,
            format!("the body is not valid JSON: {other}"),
        ),
    }
}

fn query_error(err: QueryPayloadError) -> ApiError {
    ApiError::new(
        ErrorCode::InvalidQuery,
        format!("bad query parameters: {err}"),
    )
}

fn path_error(err: PathError) -> ApiError {
    ApiError::new(ErrorCode::InvalidPath, format!("bad path: {err}"))
}

/// Maps a body read failure (size limit, broken stream) to an API error.
pub fn payload_error(err: PayloadError) -> ApiError {
    match err {
        PayloadError::Overflow => {
            ApiError::new(ErrorCode::BodyTooLarge, "the request body is too large")
        }
        other => ApiError::new(ErrorCode::BadBody, format!("cannot read the body: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logged(uri: &str) -> String {
        redacted_request_line(&actix_web::test::TestRequest::with_uri(uri).to_srv_request())
    }

    #[test]
    fn every_spelling_of_a_token_key_is_redacted() {
        for key in [
            "token",
            "Token",
            "TOKEN",
            "tOkEn",
            "%74oken",
            "%54OKEN",
            "t%6Fk%65n",
            "access_token",
            "api_token",
            "Access%5FToken",
        ] {
            let line = logged(&format!("/ws?kind=calls&{key}=s3cr3t-value&pbx=a"));
            assert!(!line.contains("s3cr3t"), "{key}: {line}");
            assert!(line.contains(&format!("&{key}=***&pbx=a")), "{key}: {line}");
        }
        assert_eq!(
            logged("/api/calls?page=2&tok=x"),
            "GET /api/calls?page=2&tok=x HTTP/1.1"
        );
    }
}
