//! The edge in front of every route (issue #16): with `API_TOKEN` set, every route
//! that shows PBX data or changes something answers 401 JSON without the token,
//! `/api/health` shows only its status, `/metrics` also takes `METRICS_TOKEN`, and
//! the dashboard's files stay public. Pages of other origins cannot POST or open
//! `/ws` unless listed in `ALLOWED_ORIGINS`.
//!
//! The service runs in-process against the simulator on loopback; requests whose
//! headers a client library would set for us (Host, Origin) go over raw TCP.

use crate::common::raw::request;
use crate::common::service::{Options, TestService};

const TOKEN: &str = "api-7d41c0e2-SECRET";
const SCRAPER: &str = "scrape-52a9b8f1-SECRET";

/// Who is asking.
#[derive(Debug, Clone, Copy)]
enum Caller {
    Anonymous,
    Wrong,
    Right,
    Scraper,
}

impl Caller {
    fn header(self) -> String {
        match self {
            Self::Anonymous => String::new(),
            Self::Wrong => "Authorization: Bearer not-the-token\r\n".to_string(),
            Self::Right => format!("Authorization: Bearer {TOKEN}\r\n"),
            Self::Scraper => format!("Authorization: Bearer {SCRAPER}\r\n"),
        }
    }
}

/// One raw request with `Connection: close`, the Host of the service and `extra` headers.
async fn send(
    ts: &TestService,
    method: &str,
    path: &str,
    extra: &str,
) -> crate::common::raw::RawResponse {
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: 0\r\n{extra}\r\n",
        ts.addr
    );
    request(ts.addr, req.as_bytes()).await
}

/// A WebSocket upgrade as a browser would send it: the answer's head, and its body
/// when it is a refusal (an accepted upgrade goes on with frames, not read here).
async fn upgrade(ts: &TestService, path: &str, extra: &str) -> crate::common::raw::RawResponse {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(ts.addr)
        .await
        .expect("connect");
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n",
        ts.addr
    );
    s.write_all(req.as_bytes()).await.expect("write");
    let deadline = tokio::time::Instant::now() + crate::common::raw::READ_LIMIT;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let head_end = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4);
        if let Some(h) = head_end {
            let head = String::from_utf8_lossy(&buf[..h]).to_ascii_lowercase();
            let status: u16 = head
                .split_whitespace()
                .nth(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if status == 101 || buf.len() >= h + len {
                let body = if status == 101 {
                    Vec::new()
                } else {
                    buf[h..h + len].to_vec()
                };
                return crate::common::raw::RawResponse { status, head, body };
            }
        }
        match tokio::time::timeout_at(deadline, s.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            other => panic!("no complete answer to the upgrade of {path}: {other:?}"),
        }
    }
}

fn assert_refused(res: &crate::common::raw::RawResponse, status: u16, code: &str, what: &str) {
    let body = String::from_utf8_lossy(&res.body);
    assert_eq!(res.status, status, "{what}: {body}");
    let v = res.json();
    assert_eq!(v["success"], false, "{what}: {body}");
    assert_eq!(v["error"]["code"], code, "{what}: {body}");
    assert!(!body.contains(TOKEN) && !body.contains(SCRAPER), "{what}");
}

#[actix_rt::test]
async fn every_route_with_pbx_data_needs_the_token() {
    let ts = TestService::with(
        Options::default()
            .env("API_TOKEN", TOKEN)
            .env("METRICS_TOKEN", SCRAPER),
    )
    .await;
    // Route, method, and the status it answers with the right token.
    let routes: [(&str, &str, u16); 16] = [
        ("GET", "/api/extensions", 200),
        ("GET", "/api/queues", 200),
        ("GET", "/api/queues/no-such-queue", 404),
        ("GET", "/api/extensions/1001", 200),
        ("GET", "/api/extensions/1001/history", 200),
        ("GET", "/api/calls", 200),
        ("GET", "/api/calls/history", 200),
        ("GET", "/api/calls/no-such-call", 404),
        ("GET", "/api/extensions/hybrid-refresh/status", 200),
        ("POST", "/api/extensions/hybrid-refresh", 200),
        ("POST", "/api/extensions/hybrid-refresh/close", 200),
        ("GET", "/api/admin/actors", 200),
        ("GET", "/api/no-such-route", 404),
        // The router decodes `%61` to `a`: the edge sees the path it routes.
        ("GET", "/%61pi/admin/actors", 200),
        // `?token=` is for /ws only.
        ("GET", "/api/admin/actors?token=api-7d41c0e2-SECRET", 200),
        ("GET", "/metrics", 200),
    ];
    let logins_before = ts.sim.stats().logins_ok;
    let mut refreshes = 0;
    for (method, path, right_status) in routes {
        for caller in [
            Caller::Anonymous,
            Caller::Wrong,
            Caller::Scraper,
            Caller::Right,
        ] {
            let what = format!("{method} {path} as {caller:?}");
            let res = send(&ts, method, path, &caller.header()).await;
            let expected = match caller {
                Caller::Right => right_status,
                Caller::Scraper if path == "/metrics" => 200,
                _ => 401,
            };
            if expected == 401 {
                assert_refused(&res, 401, "UNAUTHORIZED", &what);
                assert!(res.head.contains("www-authenticate: bearer"), "{what}");
                continue;
            }
            let body = String::from_utf8_lossy(&res.body);
            assert_eq!(res.status, expected, "{what}: {body}");
            assert!(!body.contains(TOKEN), "{what}");
            if path == "/metrics" {
                assert!(body.contains("# TYPE"), "{what}: not the metrics page");
            } else {
                assert_eq!(res.json()["success"], expected == 200, "{what}: {body}");
            }
            if path == "/api/extensions/hybrid-refresh" {
                refreshes += 1;
            }
        }
    }
    // Only the authorised refresh logged in to the PBX.
    assert_eq!(refreshes, 1);
    assert_eq!(ts.sim.stats().logins_ok, logins_before + 1);

    // The WebSocket: header or ?token=, nothing else.
    for (path, caller, expected) in [
        ("/ws", Caller::Anonymous, 401),
        ("/ws", Caller::Wrong, 401),
        ("/ws", Caller::Scraper, 401),
        ("/ws?token=wrong", Caller::Anonymous, 401),
        ("/ws", Caller::Right, 101),
        ("/ws?token=api-7d41c0e2-SECRET", Caller::Anonymous, 101),
    ] {
        let what = format!("upgrade {path} as {caller:?}");
        let res = upgrade(&ts, path, &caller.header()).await;
        if expected == 401 {
            assert_refused(&res, 401, "UNAUTHORIZED", &what);
        } else {
            assert_eq!(res.status, 101, "{what}");
        }
    }

    // Health: its status for anyone, the full report with the API token only.
    for caller in [Caller::Anonymous, Caller::Wrong, Caller::Scraper] {
        let res = send(&ts, "GET", "/api/health", &caller.header()).await;
        assert_eq!(res.status, 200, "{caller:?}");
        let v = res.json();
        assert_eq!(v["success"], true);
        let data = v["data"].as_object().expect("data is an object");
        assert_eq!(
            data.keys().collect::<Vec<_>>(),
            ["status"],
            "{caller:?}: {v}"
        );
        assert!(["ok", "degraded"].contains(&data["status"].as_str().unwrap_or("")));
        assert!(!String::from_utf8_lossy(&res.body).contains("default"));
    }
    let full = send(&ts, "GET", "/api/health", &Caller::Right.header())
        .await
        .json();
    assert_eq!(full["data"]["status"], "ok", "{full}");
    assert_eq!(full["data"]["service"]["name"], "switchboard");
    assert_eq!(full["data"]["pbxs"][0]["pbx"], "default", "{full}");

    // The dashboard's files carry no PBX data and stay public.
    let page = send(&ts, "GET", "/", "").await;
    assert_eq!(page.status, 200);
    assert!(String::from_utf8_lossy(&page.body).contains("<html"));
    ts.stop().await;
}

#[actix_rt::test]
async fn a_metrics_token_alone_guards_only_metrics() {
    let ts = TestService::with(Options::default().env("METRICS_TOKEN", SCRAPER)).await;
    let anon = send(&ts, "GET", "/metrics", "").await;
    assert_refused(&anon, 401, "UNAUTHORIZED", "/metrics without a token");
    let wrong = send(&ts, "GET", "/metrics", &Caller::Wrong.header()).await;
    assert_refused(&wrong, 401, "UNAUTHORIZED", "/metrics with a wrong token");
    let scraper = send(&ts, "GET", "/metrics", &Caller::Scraper.header()).await;
    assert_eq!(scraper.status, 200);
    assert!(String::from_utf8_lossy(&scraper.body).contains("# TYPE"));
    // Without API_TOKEN the rest stays open, health in full.
    assert_eq!(send(&ts, "GET", "/api/extensions", "").await.status, 200);
    let health = send(&ts, "GET", "/api/health", "").await.json();
    assert_eq!(health["data"]["service"]["name"], "switchboard", "{health}");
    ts.stop().await;
}

#[actix_rt::test]
async fn pages_of_other_origins_cannot_post_or_open_the_websocket() {
    let listed = "http://wallboard.example:8443";
    let ts = TestService::with(Options::default().env("ALLOWED_ORIGINS", listed)).await;
    let own = format!("http://{}", ts.addr);
    let other_port = format!("http://127.0.0.1:{}", ts.addr.port().wrapping_add(1).max(1));
    let refused_origins = [
        "Origin: http://evil.example\r\n".to_string(),
        format!("Origin: {other_port}\r\n"),
        format!("Origin: https://{}\r\n", ts.addr.ip()),
        "Origin: null\r\n".to_string(),
        "Sec-Fetch-Site: cross-site\r\n".to_string(),
        format!("Origin: {own}\r\nSec-Fetch-Site: cross-site\r\n"),
    ];
    let allowed_origins = [
        String::new(),
        format!("Origin: {own}\r\n"),
        format!("Origin: {own}\r\nSec-Fetch-Site: same-origin\r\n"),
        "Sec-Fetch-Site: none\r\n".to_string(),
        format!("Origin: {listed}\r\nSec-Fetch-Site: cross-site\r\n"),
        "Origin: HTTP://WallBoard.Example:8443\r\n".to_string(),
    ];
    let posts = [
        "/api/extensions/hybrid-refresh",
        "/api/extensions/hybrid-refresh/close",
    ];
    let logins_before = ts.sim.stats().logins_ok;
    for path in posts {
        for h in &refused_origins {
            let res = send(&ts, "POST", path, h).await;
            assert_refused(
                &res,
                403,
                "CROSS_ORIGIN",
                &format!("POST {path} with {h:?}"),
            );
        }
    }
    // No refused POST reached the PBX.
    assert_eq!(ts.sim.stats().logins_ok, logins_before);
    for h in &refused_origins {
        let res = upgrade(&ts, "/ws", h).await;
        assert_refused(&res, 403, "CROSS_ORIGIN", &format!("upgrade with {h:?}"));
    }
    // Reading is not refused: without CORS headers a foreign page cannot read the answer.
    let read = send(
        &ts,
        "GET",
        "/api/extensions",
        "Origin: http://evil.example\r\n",
    )
    .await;
    assert_eq!(read.status, 200);

    for path in posts {
        for h in &allowed_origins {
            let res = send(&ts, "POST", path, h).await;
            let body = String::from_utf8_lossy(&res.body);
            assert_eq!(res.status, 200, "POST {path} with {h:?}: {body}");
            assert_eq!(
                res.json()["success"],
                true,
                "POST {path} with {h:?}: {body}"
            );
        }
    }
    for h in &allowed_origins {
        assert_eq!(
            upgrade(&ts, "/ws", h).await.status,
            101,
            "upgrade with {h:?}"
        );
    }
    ts.stop().await;
}
