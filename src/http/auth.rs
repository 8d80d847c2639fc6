//! API token checks for the refresh, admin and WebSocket endpoints.
//!
//! The token is compared in constant time; only its length can leak through timing.
//! Browsers cannot set headers on a WebSocket, so `/ws` also accepts `?token=`.

use actix_web::HttpRequest;
use subtle::ConstantTimeEq;

use super::error::ApiError;
use crate::secret::Secret;

/// Checks the request's bearer token (or, when `allow_query`, its `token` parameter).
pub fn require(
    req: &HttpRequest,
    token: Option<&Secret>,
    allow_query: bool,
) -> Result<(), ApiError> {
    let Some(expected) = token else {
        return Ok(());
    };
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
    match given {
        Some(g) if bool::from(g.as_bytes().ct_eq(expected.expose().as_bytes())) => Ok(()),
        _ => Err(ApiError::unauthorized()),
    }
}

/// One parameter of a query string, percent-decoded.
pub fn url_query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
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
