//! Hostile input from the HTTP and WebSocket side, over real sockets (raw TCP where
//! a client library would refuse to send the bytes): malformed JSON and wrong
//! content types, oversized and lying bodies, oversized, binary, invalid-UTF-8 and
//! broken WebSocket frames, floods of connections and subscriptions, path tricks,
//! bad tokens, and request lines and headers that are huge or not UTF-8.
//!
//! Each test checks the answer (status, JSON error code, close code) and that the
//! service still serves afterwards, with nothing refreshed or leaked by the attempt.

use std::time::Duration;

use crate::common::raw::{client_frame, request, RawWs};
use crate::common::service::{Options, TestService};
use crate::common::wait::{wait_until, DEADLINE};
use serde_json::{json, Value};

const TOKEN: &str = "tok-hostile-7c1d";
const REFRESH: &str = "/api/extensions/hybrid-refresh";
const WAIT: Duration = Duration::from_secs(10);

#[track_caller]
fn assert_error(body: &Value, code: &str) {
    assert_eq!(body["success"], false, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(body["error"]["message"].is_string(), "{body}");
}

fn post(path: &str, content_type: Option<&str>, body: &[u8]) -> Vec<u8> {
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(ct) = content_type {
        req.push_str(&format!("Content-Type: {ct}\r\n"));
    }
    req.push_str("\r\n");
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// The service answers a plain request normally.
async fn still_serving(ts: &TestService) {
    let (status, body) = ts.get("/api/health").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["success"], true);
}

#[actix_rt::test]
async fn malformed_json_wrong_content_types_and_oversized_bodies_are_json_errors() {
    let ts = TestService::with(Options::default().env("HTTP_BODY_LIMIT", "1024")).await;
    let json_ct = Some("application/json");
    for bad in [
        &b"{"[..],
        b"[1, 2",
        b"{\"pbx\": }",
        b"\xff\xfe\x00garbage",
        b"{\"pbx\": \"caf\xc3\x28\"}",
        b"null",
        b"{\"pbx\": 12}",
        b"{\"useSeparateConnection\": \"yes\"}",
    ] {
        let res = request(ts.addr, &post(REFRESH, json_ct, bad)).await;
        assert_eq!(res.status, 400, "{:?}", String::from_utf8_lossy(bad));
        assert_error(&res.json(), "INVALID_JSON");
    }
    for ct in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        let res = request(ts.addr, &post(REFRESH, ct, br#"{"pbx":"default"}"#)).await;
        assert_eq!(res.status, 415, "{ct:?}");
        assert_error(&res.json(), "UNSUPPORTED_MEDIA_TYPE");
    }
    // A body over HTTP_BODY_LIMIT.
    let big = format!("{{\"pbx\": \"{}\"}}", "x".repeat(4096));
    let res = request(ts.addr, &post(REFRESH, json_ct, big.as_bytes())).await;
    assert_eq!(res.status, 413);
    assert_error(&res.json(), "BODY_TOO_LARGE");
    // A Content-Length announcing 10 GB, with one byte sent: refused at once from
    // the header (the read deadline would fail the test if the server waited).
    let lying = b"POST /api/extensions/hybrid-refresh HTTP/1.1\r\nHost: 127.0.0.1\r\n\
        Content-Type: application/json\r\nContent-Length: 10000000000\r\n\r\n{";
    let started = std::time::Instant::now();
    let res = request(ts.addr, lying).await;
    assert_eq!(res.status, 413, "{res:?}");
    assert_error(&res.json(), "BODY_TOO_LARGE");
    assert!(
        started.elapsed() < crate::common::raw::READ_LIMIT,
        "answered before the body came"
    );
    // Chunked bodies that grow past the limit.
    let mut chunked = b"POST /api/extensions/hybrid-refresh HTTP/1.1\r\nHost: 127.0.0.1\r\n\
        Connection: close\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        .to_vec();
    for _ in 0..8 {
        chunked.extend_from_slice(format!("400\r\n{}\r\n", "y".repeat(0x400)).as_bytes());
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let res = request(ts.addr, &chunked).await;
    assert_eq!(res.status, 413);
    assert_error(&res.json(), "BODY_TOO_LARGE");
    // Bad query parameters are JSON 400s too.
    let (status, body) = ts.get("/api/calls/history?page=-1&pageSize=%ff").await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["success"], false);

    // None of them started a refresh login; a good request still works.
    assert_eq!(ts.sim.stats().logins_ok, 1);
    let res = request(ts.addr, &post(REFRESH, json_ct, b"{}")).await;
    assert_eq!(res.status, 200, "{:?}", res.json());
    still_serving(&ts).await;
    ts.stop().await;
}

#[actix_rt::test]
async fn websocket_frames_too_large_binary_not_utf8_or_broken_are_closed_with_their_code() {
    let ts = TestService::start().await;
    let open = || async {
        let mut ws = RawWs::connect(ts.addr, "/ws", "")
            .await
            .expect("upgrade accepted");
        let snap = ws.next_json(WAIT).await.expect("snapshot");
        assert_eq!(snap["type"], "snapshot");
        ws
    };
    // A text frame announcing 1 GB: closed 1009 from its header alone, with only
    // a few bytes of it ever sent.
    let mut ws = open().await;
    let mut header = client_frame(0x81, b"", true, Some(1 << 30));
    header.extend_from_slice(b"{\"type\":");
    ws.send_raw(&header).await;
    assert_eq!(ws.close_code(WAIT).await, Some(1009), "1 GB frame");
    // One just over the 64 KB limit, sent whole.
    let mut ws = open().await;
    ws.send_raw(&client_frame(0x81, &vec![b' '; 64 * 1024 + 1], true, None))
        .await;
    assert_eq!(ws.close_code(WAIT).await, Some(1009), "64 KB + 1 frame");

    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        (
            "binary frame",
            client_frame(0x82, b"\x00\x01\x02", true, None),
            1003,
        ),
        (
            "text that is not UTF-8",
            client_frame(0x81, b"{\"type\":\"\xff\xfe\"}", true, None),
            1007,
        ),
        (
            "unmasked frame",
            client_frame(0x81, b"{}", false, None),
            1002,
        ),
        (
            "reserved bits set",
            client_frame(0xC1, b"{}", true, None),
            1002,
        ),
        (
            "unknown opcode",
            client_frame(0x83, b"{}", true, None),
            1002,
        ),
        (
            "continuation never started",
            client_frame(0x80, b"{}", true, None),
            1002,
        ),
        (
            "random bytes",
            (0..64u8).map(|i| i.wrapping_mul(97) | 0x0f).collect(),
            1002,
        ),
    ];
    for (what, bytes, code) in cases {
        let mut ws = open().await;
        ws.send_raw(&bytes).await;
        assert_eq!(ws.close_code(WAIT).await, Some(code), "{what}");
    }

    // Text that is UTF-8 but not a message we know: an error notice, not a close.
    let mut ws = open().await;
    for text in ["{not json", "[]", "{\"type\":\"explode\"}", "\"\u{0000}\""] {
        ws.send_raw(&client_frame(0x81, text.as_bytes(), true, None))
            .await;
        let v = ws.next_json(WAIT).await.expect("an answer");
        assert_eq!(v["type"], "error", "{text}: {v}");
        assert_eq!(v["data"]["code"], "BAD_MESSAGE");
    }
    ws.send_raw(&client_frame(0x81, br#"{"type":"ping"}"#, true, None))
        .await;
    assert_eq!(ws.next_json(WAIT).await.expect("pong")["type"], "pong");

    // Every refused client is gone; the service goes on.
    wait_until("closed clients unsubscribed", DEADLINE, || async {
        ts.metric("switchboard_ws_subscribers").await == 1.0
    })
    .await;
    assert_eq!(ts.service.state.ws_slots.in_use(), 1);
    still_serving(&ts).await;
    ts.stop().await;
}

#[actix_rt::test]
async fn a_flood_of_connections_is_capped_and_subscription_floods_are_absorbed() {
    const CAP: usize = 300;
    // The subscription flood below stays under the message rate, so it is absorbed
    // (merged) rather than closed; a flood over the rate is tests/ws_flood.rs's.
    let ts = TestService::with(
        Options::default()
            .env("WS_MAX_CLIENTS", CAP.to_string())
            .env("WS_CONTROL_RATE", "1000"),
    )
    .await;
    let mut clients = Vec::with_capacity(CAP);
    for i in 0..CAP {
        match RawWs::connect(ts.addr, "/ws", "").await {
            Ok(ws) => clients.push(ws),
            Err(res) => panic!("client {i} refused under the cap: {res:?}"),
        }
    }
    assert_eq!(ts.service.state.ws_slots.in_use(), CAP);
    // The next 200 are refused with 503 JSON, without an upgrade.
    for i in 0..200 {
        match RawWs::connect(ts.addr, "/ws", "").await {
            Ok(_) => panic!("client {} accepted over the cap", CAP + i),
            Err(res) => {
                assert_eq!(res.status, 503);
                assert_error(&res.json(), "TOO_MANY_CLIENTS");
            }
        }
    }
    assert_eq!(ts.metric("switchboard_ws_refused_total").await, 200.0);
    still_serving(&ts).await;

    // Closing clients gives their slots back.
    for mut ws in clients.drain(..50) {
        ws.send_raw(&client_frame(0x88, &1000u16.to_be_bytes(), true, None))
            .await;
    }
    wait_until("50 slots given back", DEADLINE, || async {
        ts.service.state.ws_slots.in_use() == CAP - 50
    })
    .await;
    let mut fresh = RawWs::connect(ts.addr, "/ws", "")
        .await
        .expect("a freed slot is usable");
    assert_eq!(
        fresh.next_json(WAIT).await.expect("snapshot")["type"],
        "snapshot"
    );

    // One client floods subscriptions: each answered, the hub still holds it once.
    for i in 0..500 {
        let filter = if i % 2 == 0 {
            json!({"type": "subscribe", "filter": {"kind": "calls", "extensions": ["1001"]}})
        } else {
            json!({"type": "subscribe", "filter": {"kind": "extensions"}})
        };
        fresh
            .send_raw(&client_frame(
                0x81,
                filter.to_string().as_bytes(),
                true,
                None,
            ))
            .await;
    }
    fresh
        .send_raw(&client_frame(0x81, br#"{"type":"ping"}"#, true, None))
        .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let v = fresh
            .next_json(left)
            .await
            .expect("still open after the flood");
        if v["type"] == "pong" {
            break;
        }
    }
    wait_until("the hub to count each client once", DEADLINE, || async {
        ts.metric("switchboard_ws_subscribers").await == (CAP - 50 + 1) as f64
    })
    .await;
    // The subscription took effect: an extension change reaches the flooder.
    ts.sim.set_extension_state("1002", 1);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let v = fresh.next_json(left).await.expect("the change arrives");
        if v["type"] == "extension.status" && v["data"]["extension"] == "1002" {
            break;
        }
    }
    still_serving(&ts).await;
    drop(clients);
    ts.stop().await;
}

#[actix_rt::test]
async fn path_tricks_never_leave_static_and_errors_are_json() {
    let ts = TestService::start().await;
    let outside = ["[package]", "root:x:0:0", "DATABASE_URL"];
    let long = format!("/{}", "a".repeat(8 * 1024));
    let paths = [
        "/../Cargo.toml",
        "/../../../../etc/passwd",
        "/%2e%2e/Cargo.toml",
        "/%2e%2e%2fCargo.toml",
        "/..%2f..%2fetc%2fpasswd",
        "/js/../../Cargo.toml",
        "/js/%2e%2e/%2e%2e/Cargo.toml",
        "//etc/passwd",
        "//../Cargo.toml",
        "/.env",
        "/.git/config",
        "/index.html%00.txt",
        "/%00",
        "/js/app.js%00",
        "/%ff%fe",
        "/*",
        "/c:",
        "/js/..%5c..%5cCargo.toml",
        long.as_str(),
    ];
    for path in paths {
        let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
        let res = request(ts.addr, req.as_bytes()).await;
        let body = String::from_utf8_lossy(&res.body);
        eprintln!(
            "path {:?}: {} {}",
            &path[..path.len().min(40)],
            res.status,
            res.json()["error"]["code"]
        );
        for secret in outside {
            assert!(
                !body.contains(secret),
                "{path} served a file outside static/"
            );
        }
        assert!(
            res.status == 400 || res.status == 404,
            "{path}: {} {body}",
            res.status
        );
        let v = res.json();
        assert_eq!(v["success"], false, "{path}: not a JSON error: {body}");
        assert!(v["error"]["code"].is_string(), "{path}: {body}");
    }
    // Dot segments that stay inside static/ resolve there.
    let res = request(
        ts.addr,
        b"GET /js/../index.html HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(res.status, 200);
    assert!(String::from_utf8_lossy(&res.body).contains("<html"));
    // The dashboard itself is still served, with its types.
    for (path, ty) in [
        ("/js/app.js", "javascript"),
        ("/css/", ""),
        ("/admin.html", "text/html"),
    ] {
        let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
        let res = request(ts.addr, req.as_bytes()).await;
        if ty.is_empty() {
            // A directory without an index is not listed.
            assert_ne!(res.status, 200, "{path}");
            assert_eq!(res.json()["success"], false, "{path}");
        } else {
            assert_eq!(res.status, 200, "{path}");
            assert!(res.head.contains(ty), "{path}: {}", res.head);
        }
    }
    // A wrong method on a dashboard file is a JSON 405.
    let res = request(ts.addr, &post("/index.html", Some("text/plain"), b"x")).await;
    assert_eq!(res.status, 405);
    assert_error(&res.json(), "METHOD_NOT_ALLOWED");
    still_serving(&ts).await;
    ts.stop().await;
}

#[actix_rt::test]
async fn non_utf8_and_huge_request_lines_and_headers_are_refused_and_the_service_stays_up() {
    let ts = TestService::start().await;
    // Raw bytes over 0x7f in the request line, and in a header value.
    let res = request(
        ts.addr,
        b"GET /api/extensions/\xff\xfe HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    )
    .await;
    eprintln!("non-UTF-8 request line: {} {}", res.status, res.json());
    assert!(matches!(res.status, 400 | 404), "{res:?}");
    let res = request(
        ts.addr,
        b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Junk: \xff\xfe\xfd\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(res.status, 200, "a junk header value is not our business");
    // A 64 KB request line and 256 KB of headers: refused by the HTTP layer (4xx),
    // the connection closed.
    let huge_line = format!(
        "GET /{} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        "b".repeat(64 * 1024)
    );
    let res = request(ts.addr, huge_line.as_bytes()).await;
    eprintln!("64 KB request line: {}", res.status);
    assert!((400..500).contains(&res.status), "{}", res.status);
    let mut huge_head = String::from("GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    for i in 0..256 {
        huge_head.push_str(&format!("X-Fill-{i}: {}\r\n", "h".repeat(1000)));
    }
    huge_head.push_str("Connection: close\r\n\r\n");
    let res = request(ts.addr, huge_head.as_bytes()).await;
    eprintln!("256 KB of headers: {}", res.status);
    assert!((400..500).contains(&res.status), "{}", res.status);
    // Not HTTP at all.
    let res = request(
        ts.addr,
        b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03garbage\r\n\r\n",
    )
    .await;
    eprintln!("TLS hello to the HTTP port: {}", res.status);
    assert!(
        res.status == 0 || (400..500).contains(&res.status),
        "{res:?}"
    );
    still_serving(&ts).await;
    ts.stop().await;
}

#[actix_rt::test]
async fn bad_tokens_are_refused_alike_and_never_echoed() {
    let ts = TestService::with(Options::default().env("API_TOKEN", TOKEN)).await;
    let long = "t".repeat(4096);
    let headers = [
        String::new(),
        "Authorization: \r\n".to_string(),
        "Authorization: Bearer\r\n".to_string(),
        "Authorization: Bearer \r\n".to_string(),
        format!("Authorization: Basic {TOKEN}\r\n"),
        format!("Authorization: Token {TOKEN}\r\n"),
        format!("Authorization: {TOKEN}\r\n"),
        "Authorization: Bearer wrong\r\n".to_string(),
        format!("Authorization: Bearer {TOKEN}x\r\n"),
        format!("Authorization: Bearer {}\r\n", &TOKEN[..TOKEN.len() - 1]),
        format!("Authorization: Bearer {long}\r\n"),
    ];
    for h in &headers {
        for path in ["/api/admin/actors", "/api/extensions/hybrid-refresh/status"] {
            let req =
                format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{h}\r\n");
            let res = request(ts.addr, req.as_bytes()).await;
            assert_eq!(res.status, 401, "{path} with {h:?}");
            assert_error(&res.json(), "UNAUTHORIZED");
            assert!(!String::from_utf8_lossy(&res.body).contains(TOKEN));
        }
        // The WebSocket is refused before the upgrade.
        match RawWs::connect(ts.addr, "/ws", h).await {
            Ok(_) => panic!("/ws upgraded with {h:?}"),
            Err(res) => {
                assert_eq!(res.status, 401, "/ws with {h:?}");
                assert_error(&res.json(), "UNAUTHORIZED");
            }
        }
    }
    // A token that is not UTF-8.
    let res = request(
        ts.addr,
        b"GET /api/admin/actors HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
          Authorization: Bearer \xff\xfe\r\n\r\n",
    )
    .await;
    assert_eq!(res.status, 401);
    assert_error(&res.json(), "UNAUTHORIZED");
    // The query token is for /ws only, and a wrong header is not rescued by it.
    let res = request(
        ts.addr,
        format!(
            "GET /api/admin/actors?token={TOKEN} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    )
    .await;
    assert_eq!(res.status, 401);
    let wrong = "Authorization: Bearer wrong\r\n";
    let refused = RawWs::connect(ts.addr, &format!("/ws?token={TOKEN}"), wrong).await;
    assert_eq!(refused.err().map(|r| r.status), Some(401));
    for q in [
        "",
        "token=",
        "token=wrong",
        "token=%00",
        "token=%ff",
        "token=a&token=b",
    ] {
        let refused = RawWs::connect(ts.addr, &format!("/ws?{q}"), "").await;
        assert_eq!(refused.err().map(|r| r.status), Some(401), "?{q}");
    }
    // The right token still works both ways.
    let ok = format!("Authorization: Bearer {TOKEN}\r\n");
    assert!(RawWs::connect(ts.addr, "/ws", &ok).await.is_ok());
    assert!(RawWs::connect(ts.addr, &format!("/ws?token={TOKEN}"), "")
        .await
        .is_ok());
    let (status, _) = ts.get("/api/admin/actors").await;
    assert_eq!(status, 200);
    ts.stop().await;
}
