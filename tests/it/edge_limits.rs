//! The edge's limits and what the binary says about secrets (issue #16): a body
//! trickled a byte a second is answered 408 JSON by `HTTP_BODY_TIMEOUT`; a service
//! listening beyond loopback without `API_TOKEN` warns once; `--help` never shows a
//! secret's value; the access log hides a token however its key is spelled.
//!
//! Run with `-- --nocapture` to see the measured answer times.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::raw::read_response;
use crate::common::service::{capture_logs, captured_logs, Options, TestService};
use crate::common::wait::{wait_until, DEADLINE};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TOKEN: &str = "tok-e4b7a1d9-SECRET";

/// Sends a POST head announcing 32 bytes of JSON, then one byte a second (at most
/// 32, stopping when the server closes), and reads the answer.
async fn trickle(
    ts: &TestService,
    path: &str,
) -> (crate::common::raw::RawResponse, Duration, bool) {
    let mut s = tokio::net::TcpStream::connect(ts.addr)
        .await
        .expect("connect");
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         Content-Length: 32\r\n\r\n",
        ts.addr
    );
    s.write_all(head.as_bytes()).await.expect("write the head");
    let started = Instant::now();
    let (mut reader, mut writer) = s.into_split();
    let sender = actix_rt::spawn(async move {
        for b in br#"{"pbx":"default"}               "#.iter().take(32) {
            if writer.write_all(&[*b]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    let res = {
        // `read_response` wants a TcpStream; read the same way on the half.
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let complete = buf
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .is_some_and(|h| {
                    let head = String::from_utf8_lossy(&buf[..h]).to_ascii_lowercase();
                    head.lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse::<usize>().ok())
                        .is_some_and(|n| buf.len() >= h + 4 + n)
                });
            if complete {
                break;
            }
            match tokio::time::timeout_at(deadline, reader.read(&mut chunk)).await {
                Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
                _ => break,
            }
        }
        buf
    };
    let elapsed = started.elapsed();
    // After the answer the server closes the connection: the next read ends.
    let closed = matches!(
        tokio::time::timeout(Duration::from_secs(5), reader.read(&mut [0u8; 64])).await,
        Ok(Ok(0)) | Ok(Err(_))
    );
    sender.abort();
    let parsed = parse(&res);
    (parsed, elapsed, closed)
}

fn parse(bytes: &[u8]) -> crate::common::raw::RawResponse {
    let h = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4)
        .unwrap_or(bytes.len());
    let head = String::from_utf8_lossy(&bytes[..h]).to_ascii_lowercase();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    crate::common::raw::RawResponse {
        status,
        head,
        body: bytes[h..].to_vec(),
    }
}

#[actix_rt::test]
async fn a_body_trickled_a_byte_a_second_is_answered_408_by_the_deadline() {
    let ts = TestService::with(Options::default().env("HTTP_BODY_TIMEOUT", "1")).await;
    let logins_before = ts.sim.stats().logins_ok;
    for path in [
        "/api/extensions/hybrid-refresh",
        "/api/extensions/hybrid-refresh/close",
    ] {
        let (res, elapsed, closed) = trickle(&ts, path).await;
        eprintln!(
            "{path}: a 32-byte body sent a byte a second answered {} after {:.2} s (HTTP_BODY_TIMEOUT=1)",
            res.status,
            elapsed.as_secs_f64()
        );
        assert_eq!(res.status, 408, "{path}: {res:?}");
        let v = res.json();
        assert_eq!(v["success"], false, "{v}");
        assert_eq!(v["error"]["code"], "BODY_TIMEOUT", "{v}");
        assert!(res.head.contains("connection: close"), "{}", res.head);
        assert!(closed, "{path}: the connection stays open after the 408");
        // Generous bound (10× the deadline): answered by the deadline, not by the sender.
        assert!(elapsed < Duration::from_secs(10), "{path}: {elapsed:?}");
    }
    // Neither request reached its handler.
    assert_eq!(ts.sim.stats().logins_ok, logins_before);
    // A body that comes at once is read as before.
    let mut s = tokio::net::TcpStream::connect(ts.addr)
        .await
        .expect("connect");
    let body = r#"{"pbx":"default"}"#;
    let req = format!(
        "POST /api/extensions/hybrid-refresh HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        ts.addr,
        body.len()
    );
    s.write_all(req.as_bytes()).await.expect("write");
    let res = read_response(&mut s).await;
    assert_eq!(res.status, 200, "{:?}", String::from_utf8_lossy(&res.body));
    assert_eq!(res.json()["data"]["pbx"], "default");
    ts.stop().await;
}

#[actix_rt::test]
async fn the_access_log_hides_a_token_in_any_spelling() {
    capture_logs();
    let ts = TestService::with(Options::default().env("API_TOKEN", TOKEN)).await;
    let keys = [
        "token",
        "Token",
        "TOKEN",
        "%74oken",
        "%54%4f%4b%45%4e",
        "access_token",
    ];
    for key in keys {
        let (status, _) = ts
            .get(&format!("/api/admin/actors?{key}={TOKEN}&x=1"))
            .await;
        assert_eq!(status, 200, "{key}");
    }
    wait_until("every request in the access log", DEADLINE, || async {
        let logs = captured_logs();
        keys.iter()
            .all(|k| logs.iter().any(|l| l.contains(&format!("?{k}=***&x=1"))))
    })
    .await;
    ts.stop().await;
    for line in captured_logs() {
        assert!(
            !line.contains(TOKEN),
            "a log line carries the token: {line}"
        );
    }
}

/// `switchboard serve` with `bind` and `token`; returns its stderr up to the line
/// saying it listens (or 20 s), then stops it.
fn serve_log(bind: &str, token: Option<&str>) -> Vec<String> {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    cmd.arg("serve")
        .current_dir(dir.path())
        .env_remove("API_TOKEN")
        .env_remove("RUST_LOG")
        .env("LOG_LEVEL", "info")
        // No PBX listens there: the service keeps retrying, which is all this needs.
        .env("AMI_HOST", "127.0.0.1")
        .env("AMI_PORT", "9")
        .env(
            "DATABASE_URL",
            format!("sqlite://{}", dir.path().join("s.db").display()),
        )
        .env("HTTP_BIND", bind)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(t) = token {
        cmd.env("API_TOKEN", t);
    }
    let mut child = cmd.spawn().expect("the binary starts");
    let stderr = child.stderr.take().expect("piped stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let mut lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(line) => {
                let done = line.contains("switchboard listening on");
                lines.push(line);
                if done {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    // Only this child, by its own handle.
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        lines.iter().any(|l| l.contains("switchboard listening on")),
        "serve did not start on {bind}: {lines:#?}"
    );
    lines
}

#[test]
fn serving_beyond_loopback_without_a_token_warns_once() {
    let warnings = |lines: &[String]| {
        lines
            .iter()
            .filter(|l| l.contains("not loopback") && l.contains("API_TOKEN is not set"))
            .count()
    };
    let open = serve_log("0.0.0.0:0", None);
    assert_eq!(warnings(&open), 1, "{open:#?}");
    assert!(
        open.iter()
            .any(|l| l.contains("WARN") && l.contains("readable")),
        "{open:#?}"
    );
    let local = serve_log("127.0.0.1:0", None);
    assert_eq!(warnings(&local), 0, "{local:#?}");
    let guarded = serve_log("0.0.0.0:0", Some(TOKEN));
    assert_eq!(warnings(&guarded), 0, "{guarded:#?}");
}

#[test]
fn help_never_prints_a_secret() {
    let secrets = [
        ("API_TOKEN", "help-api-token-VALUE"),
        ("METRICS_TOKEN", "help-metrics-token-VALUE"),
        ("AMI_SECRET", "help-ami-secret-VALUE"),
        ("SIM_SECRET", "help-sim-secret-VALUE"),
        (
            "DATABASE_URL",
            "postgres://switch:help-db-password-VALUE@127.0.0.1:5432/test",
        ),
    ];
    for args in [
        &["--help"][..],
        &["serve", "--help"],
        &["demo", "--help"],
        &["sim", "--help"],
        &["parse", "--help"],
        &["help", "demo"],
    ] {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchboard"));
        cmd.args(args);
        for (k, v) in secrets {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("the binary runs");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{args:?}: {text}");
        assert!(text.contains("Usage"), "{args:?}: {text}");
        for (k, v) in secrets {
            assert!(!text.contains(v), "{args:?} prints {k}: {text}");
        }
        // The password alone, in case a URL is shown in another form.
        assert!(!text.contains("help-db-password"), "{args:?}: {text}");
    }
}
