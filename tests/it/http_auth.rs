//! The API token: when `API_TOKEN` is set, refresh, admin and WebSocket endpoints
//! (and every other route with PBX data, see `edge_auth.rs`) need
//! `Authorization: Bearer` (`/ws` also `?token=`) and answer 401 JSON otherwise;
//! the token never appears in a response or a log line.

use crate::common::service::{capture_logs, captured_logs, Options, TestService};
use crate::common::wait::{wait_until, DEADLINE};
use serde_json::Value;

const TOKEN: &str = "tok-9f1c2e7a-SECRET";

async fn send(req: awc::ClientRequest) -> (u16, String) {
    let mut res = req.send().await.expect("answered");
    let body = res.body().limit(16 << 20).await.expect("body");
    (
        res.status().as_u16(),
        String::from_utf8_lossy(&body).into_owned(),
    )
}

#[actix_rt::test]
async fn token_guards_refresh_admin_and_websocket_and_never_leaks() {
    capture_logs();
    let ts = TestService::with(Options::default().env("API_TOKEN", TOKEN)).await;
    let anon = ts.client();
    let wrong = awc::Client::builder().bearer_auth("not-the-token").finish();
    let good = ts.authed();
    let mut bodies = Vec::new();

    let guarded = |c: &awc::Client| {
        vec![
            c.post(ts.url("/api/extensions/hybrid-refresh")),
            c.get(ts.url("/api/extensions/hybrid-refresh/status")),
            c.post(ts.url("/api/extensions/hybrid-refresh/close")),
            c.get(ts.url("/api/admin/actors")),
            c.get(ts.url("/ws")),
            c.get(ts.url(&format!("/api/admin/actors?token={TOKEN}"))),
        ]
    };
    for client in [&anon, &wrong] {
        for req in guarded(client) {
            let what = format!("{} {}", req.get_method(), req.get_uri());
            let (status, body) = send(req).await;
            assert_eq!(status, 401, "{what}: {body}");
            let v: Value = serde_json::from_str(&body).expect("401 is JSON");
            assert_eq!(v["success"], false);
            assert_eq!(v["error"]["code"], "UNAUTHORIZED");
            bodies.push(body);
        }
    }
    // No refresh login happened for any refused request.
    assert_eq!(ts.sim.stats().logins_ok, 1);

    // A WebSocket upgrade without the token is refused before upgrading.
    let refused = anon.ws(ts.ws_url("/ws")).connect().await;
    match refused {
        Err(awc::error::WsClientError::InvalidResponseStatus(s)) => assert_eq!(s.as_u16(), 401),
        Err(e) => panic!("expected 401, got {e}"),
        Ok(_) => panic!("the upgrade must be refused without a token"),
    }

    // With the token: everything answers.
    for req in [
        good.get(ts.url("/api/extensions/hybrid-refresh/status")),
        good.get(ts.url("/api/admin/actors")),
        good.post(ts.url("/api/extensions/hybrid-refresh")),
        good.post(ts.url("/api/extensions/hybrid-refresh/close")),
        anon.get(ts.url("/api/health")),
        good.get(ts.url("/api/extensions")),
        good.get(ts.url("/api/calls")),
        good.get(ts.url("/metrics")),
    ] {
        let what = format!("{} {}", req.get_method(), req.get_uri());
        let (status, body) = send(req).await;
        assert_eq!(status, 200, "{what}: {body}");
        bodies.push(body);
    }
    let lower = awc::Client::builder()
        .add_default_header(("Authorization", format!("bearer {TOKEN}")))
        .finish();
    assert_eq!(send(lower.get(ts.url("/api/admin/actors"))).await.0, 200);

    // /ws with the header, and with ?token= (browsers cannot set headers).
    let mut by_header = ts.ws("/ws").await;
    let first = by_header.next_json().await;
    assert_eq!(first["type"], "snapshot");
    bodies.push(first.to_string());
    let (_, mut by_query) = anon
        .ws(ts.ws_url(&format!("/ws?token={TOKEN}&kind=extensions")))
        .connect()
        .await
        .expect("upgrade with ?token=");
    use futures::StreamExt;
    match by_query.next().await {
        Some(Ok(awc::ws::Frame::Text(b))) => {
            let v: Value = serde_json::from_slice(&b).expect("JSON");
            assert_eq!(v["type"], "snapshot");
            bodies.push(v.to_string());
        }
        other => panic!("expected the snapshot, got {other:?}"),
    }
    ts.sim.set_extension_state("1007", 1);
    let seen = by_header
        .until("1007 in use", |v| v["data"]["extension"] == "1007")
        .await;
    bodies.extend(seen.iter().map(Value::to_string));

    // The access log writes a WebSocket's line when it ends.
    use futures::SinkExt;
    let _ = by_query.send(awc::ws::Message::Close(None)).await;
    drop(by_query);
    by_header.close().await;
    wait_until("the /ws access log line", DEADLINE, || async {
        captured_logs().iter().any(|l| l.contains("/ws?token=***"))
    })
    .await;

    for body in &bodies {
        assert!(
            !body.contains(TOKEN),
            "a response carries the token: {body}"
        );
    }
    ts.stop().await;
    let logs = captured_logs();
    assert!(
        logs.iter()
            .any(|l| l.contains("/api/admin/actors?token=***")),
        "the access log has the refused request, redacted"
    );
    for line in &logs {
        assert!(
            !line.contains(TOKEN),
            "a log line carries the token: {line}"
        );
    }
}

#[actix_rt::test]
async fn without_a_token_everything_is_open() {
    let ts = TestService::start().await;
    assert_eq!(ts.get("/api/admin/actors").await.0, 200);
    assert_eq!(ts.get("/api/extensions/hybrid-refresh/status").await.0, 200);
    assert_eq!(ts.post("/api/extensions/hybrid-refresh").await.0, 200);
    let mut ws = ts.ws("/ws").await;
    assert_eq!(ws.next_json().await["type"], "snapshot");
    ws.close().await;
    ts.stop().await;
}
