//! Who may see what: the API token (`API_TOKEN`) and the scrapers' token
//! (`METRICS_TOKEN`), decided for every request in one place by [`clearance`],
//! from the route's [`Zone`], so a new route under `/api` is guarded without a
//! call in its handler.
//!
//! Tokens are compared in constant time; only their length can leak through
//! timing. Browsers cannot set headers on a WebSocket, so `/ws` also accepts
//! `?token=`.

use actix_web::HttpRequest;
use subtle::ConstantTimeEq;

use super::error::ApiError;
use crate::config::Config;
use crate::secret::Secret;

/// What a path exposes, and therefore which token it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    /// The dashboard's files: no PBX data, always public.
    Dashboard,
    /// `/api/health`: a bare status for anyone, the full report with the API token.
    Health,
    /// Everything else under `/api`: PBX data and actions, API token.
    Api,
    /// `/metrics`: API token or `METRICS_TOKEN`.
    Metrics,
    /// `/ws`: API token, by header or `?token=`.
    WebSocket,
}

impl Zone {
    /// The zone of `path` as the router sees it (percent-decoded where routing decodes).
    pub fn of(path: &str) -> Self {
        match path {
            "/api/health" => Self::Health,
            "/metrics" => Self::Metrics,
            "/ws" => Self::WebSocket,
            p if p == "/api" || p.starts_with("/api/") => Self::Api,
            _ => Self::Dashboard,
        }
    }
}

/// What the caller may see, stored in the request for handlers that answer
/// differently (health).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clearance {
    /// Everything the route has.
    Full,
    /// Only what is public (health's bare status).
    Public,
}

/// Decides whether the request may go on: `Err(401)` when its zone needs a token
/// that was not given, else how much it may see.
pub fn clearance(req: &HttpRequest, zone: Zone, config: &Config) -> Result<Clearance, ApiError> {
    let api = config.api_token.as_ref();
    let api_ok = || api.is_none_or(|t| presented(req, t, zone == Zone::WebSocket));
    match zone {
        Zone::Dashboard => Ok(Clearance::Full),
        Zone::Health => Ok(if api_ok() {
            Clearance::Full
        } else {
            Clearance::Public
        }),
        Zone::Api | Zone::WebSocket => granted(api_ok()),
        Zone::Metrics => granted(match (config.metrics_token.as_ref(), api) {
            (None, None) => true,
            (scraper, api) => [scraper, api]
                .into_iter()
                .flatten()
                .any(|t| presented(req, t, false)),
        }),
    }
}

fn granted(ok: bool) -> Result<Clearance, ApiError> {
    if ok {
        Ok(Clearance::Full)
    } else {
        Err(ApiError::unauthorized())
    }
}

/// True when the request carries `expected` as its bearer token (or, when
/// `allow_query` and there is no `Authorization` header, as `?token=`).
fn presented(req: &HttpRequest, expected: &Secret, allow_query: bool) -> bool {
    let header = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    let query = allow_query
        .then(|| url_query_param(req.query_string(), "token"))
        .flatten();
    let given = header.map(str::to_string).or(query);
    given.is_some_and(|g| bool::from(g.as_bytes().ct_eq(expected.expose().as_bytes())))
}

/// One parameter of a query string, percent-decoded.
pub fn url_query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then(|| percent_decode(v))
    })
}

pub(crate) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zones_follow_the_route_table() {
        assert_eq!(Zone::of("/api/health"), Zone::Health);
        assert_eq!(Zone::of("/api/health/"), Zone::Api);
        assert_eq!(Zone::of("/api/calls/history"), Zone::Api);
        assert_eq!(Zone::of("/api/not-yet-written"), Zone::Api);
        assert_eq!(Zone::of("/api"), Zone::Api);
        assert_eq!(Zone::of("/metrics"), Zone::Metrics);
        assert_eq!(Zone::of("/ws"), Zone::WebSocket);
        assert_eq!(Zone::of("/"), Zone::Dashboard);
        assert_eq!(Zone::of("/app.js"), Zone::Dashboard);
        assert_eq!(Zone::of("/apix"), Zone::Dashboard);
    }

    #[test]
    fn decodes_query_values() {
        assert_eq!(
            url_query_param("a=1&token=ab%20c%2B", "token").as_deref(),
            Some("ab c+")
        );
        assert_eq!(
            url_query_param("token=%zz", "token").as_deref(),
            Some("%zz")
        );
        assert_eq!(url_query_param("x=1", "token"), None);
    }
}
