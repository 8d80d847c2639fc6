//! Failures to start, run as the built binary with a clean environment: each is
//! one line on stderr naming the setting, its value and the fix, with its own exit
//! code and no panic text; `HTTP_BIND` takes host names and IPv6 and the log shows
//! the port it got; `demo` ignores a deployment's `.env`, `DATABASE_URL` and `AMI_*`.

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::child::OwnedChild;
use crate::common::wait::wait_until;
use serde_json::Value;

/// How long a start (or a failed one) may take.
const WITHIN: Duration = Duration::from_secs(30);

/// `switchboard ARGS` in `dir` with only `env` set, stderr into `dir/stderr.log`.
fn start(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> OwnedChild {
    let log = dir.join("stderr.log");
    let stderr = std::fs::File::create(&log).expect("create the log file");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    cmd.args(args)
        .current_dir(dir)
        .env_clear()
        .env("RUST_LOG", "info")
        .env("TMPDIR", dir.join("tmp"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr);
    for (k, v) in env {
        cmd.env(k, v);
    }
    std::fs::create_dir_all(dir.join("tmp")).expect("make the child's TMPDIR");
    OwnedChild::new(cmd.spawn().expect("start switchboard"), Some(log))
}

/// Runs `serve` expecting it to fail: its exit code and its stderr.
fn failed_serve(args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = start(dir.path(), args, env);
    let status = child
        .wait_exit_blocking(WITHIN)
        .expect("a failed start exits");
    let code = status.code().expect("exited with a code, not a signal");
    (code, child.log())
}

/// Asserts `stderr` is the one line starting with `error:` with every `part`.
fn assert_one_line(stderr: &str, parts: &[&str]) {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line on stderr: {stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    for part in parts {
        assert!(lines[0].contains(part), "{part:?} missing in {stderr}");
    }
    for bad in ["panicked", "reactor", "backtrace"] {
        assert!(!stderr.contains(bad), "{bad:?} in {stderr}");
    }
}

#[test]
fn port_in_use_is_one_line_and_exit_code_5() {
    let held = TcpListener::bind("127.0.0.1:0").expect("hold a port");
    let bind = held.local_addr().expect("local addr").to_string();
    let (code, stderr) = failed_serve(
        &["serve"],
        &[
            ("HTTP_BIND", &bind),
            ("DATABASE_URL", "sqlite://sb.db"),
            ("AMI_PORT", "1"),
            ("RUST_BACKTRACE", "1"),
        ],
    );
    assert_eq!(code, 5, "{stderr}");
    assert_one_line(
        &stderr,
        &["HTTP_BIND", &bind, "already in use", "set HTTP_BIND"],
    );
}

#[test]
fn bad_setting_is_exit_code_2_naming_it() {
    let (code, stderr) = failed_serve(&["serve"], &[("AMI_PORT", "99999")]);
    assert_eq!(code, 2, "{stderr}");
    assert_one_line(&stderr, &["AMI_PORT", "99999"]);
    let (code, stderr) = failed_serve(&["serve"], &[("HTTP_BIND", "no-such-host.invalid:80")]);
    assert_eq!(code, 2, "{stderr}");
    assert_one_line(&stderr, &["HTTP_BIND", "no-such-host.invalid:80"]);
}

#[test]
fn unreadable_config_file_is_exit_code_3() {
    let (code, stderr) = failed_serve(&["serve", "--config", "missing.env"], &[]);
    assert_eq!(code, 3, "{stderr}");
    assert_one_line(&stderr, &["missing.env", "--config"]);
}

#[test]
fn unreachable_database_is_exit_code_4_without_its_password() {
    let port = crate::common::browser::free_port().to_string();
    let url = format!("postgres://sb:hunter2secret@127.0.0.1:{port}/test");
    let (code, stderr) = failed_serve(
        &["serve"],
        &[("DATABASE_URL", &url), ("HTTP_BIND", "127.0.0.1:0")],
    );
    assert_eq!(code, 4, "{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(last.starts_with("error: DATABASE_URL"), "{stderr}");
    assert!(last.contains(&port), "{stderr}");
    assert!(!stderr.contains("hunter2secret"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// The port in `switchboard listening on http://ADDR` once logged.
fn listening_port(child: &OwnedChild) -> Option<u16> {
    let log = child.log();
    let line = log.lines().find(|l| l.contains("listening on http://"))?;
    let addr = line.rsplit("http://").next()?;
    addr.rsplit(':').next()?.trim().parse().ok()
}

/// Starts `serve` on `bind` and returns the port its log names, after connecting to it.
fn serve_logs_real_port(bind: &str, host: &str) -> u16 {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = start(
        dir.path(),
        &["serve"],
        &[
            ("HTTP_BIND", bind),
            ("DATABASE_URL", "sqlite://sb.db"),
            ("AMI_PORT", "1"),
        ],
    );
    let end = Instant::now() + WITHIN;
    let port = loop {
        if let Some(port) = listening_port(&child) {
            break port;
        }
        assert!(child.exited().is_none(), "serve exited: {}", child.log());
        assert!(Instant::now() < end, "no listening line: {}", child.log());
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_ne!(port, 0, "{}", child.log());
    TcpStream::connect((host, port)).expect("connect to the logged port");
    child.sigterm();
    let status = child.wait_exit_blocking(WITHIN).expect("exits on SIGTERM");
    assert!(status.success(), "{status:?}: {}", child.log());
    port
}

#[test]
fn http_bind_takes_a_host_name_and_logs_the_real_port() {
    let port = serve_logs_real_port("localhost:0", "localhost");
    println!("start_errors: HTTP_BIND=localhost:0 listened on port {port}");
}

#[test]
fn http_bind_takes_ipv6_and_logs_the_real_port() {
    if TcpListener::bind("[::1]:0").is_err() {
        println!("start_errors: skipped, this machine cannot listen on ::1");
        return;
    }
    let port = serve_logs_real_port("[::1]:0", "::1");
    println!("start_errors: HTTP_BIND=[::1]:0 listened on port {port}");
}

#[actix_rt::test]
async fn demo_ignores_a_deployments_env_and_database() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join(".env"),
        "DATABASE_URL=sqlite://real.db\nAMI_PORT=1\n",
    )
    .expect("write .env");
    let mut child = start(
        dir.path(),
        &["demo", "--rate", "0", "--extensions", "3"],
        &[
            ("HTTP_BIND", "127.0.0.1:0"),
            ("DATABASE_URL", "sqlite://real.db"),
            ("AMI_PORT", "1"),
        ],
    );
    let end = Instant::now() + WITHIN;
    let port = loop {
        let log = child.log();
        let opened = log
            .lines()
            .find(|l| l.contains("demo: open http://"))
            .and_then(|l| l.split("http://").nth(1))
            .and_then(|a| a.split('/').next())
            .and_then(|a| a.rsplit(':').next())
            .and_then(|p| p.parse::<u16>().ok());
        if let Some(port) = opened {
            break port;
        }
        assert!(child.exited().is_none(), "demo exited: {log}");
        assert!(Instant::now() < end, "no open line: {log}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_ne!(port, 0);
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(5))
        .finish();
    let url = format!("http://127.0.0.1:{port}/api/health");
    let state = wait_until("the demo's PBX connected", WITHIN, || async {
        let Ok(mut res) = client.get(&url).send().await else {
            return Err("no answer".to_string());
        };
        let Ok(body) = res.json::<Value>().await else {
            return Err("no JSON".to_string());
        };
        let state = body["data"]["pbxs"][0]["state"].clone();
        if state == "connected" {
            Ok(state)
        } else {
            Err(format!("health: {body}"))
        }
    })
    .await;
    assert_eq!(state, "connected");
    let log = child.log();
    let demo_dir = dir.path().join("tmp").join("switchboard-demo");
    assert!(
        log.contains(&demo_dir.display().to_string()),
        "names its database directory: {log}"
    );
    assert!(demo_dir.join("demo.db").exists(), "{log}");
    assert!(!dir.path().join("real.db").exists(), "wrote real.db: {log}");
    child.sigterm();
    let status = child.wait_exit(WITHIN).await.expect("exits on SIGTERM");
    assert!(status.success(), "{status:?}: {log}");
}

#[test]
fn unreadable_stored_state_is_a_database_problem_exit_code_4() {
    use diesel::connection::SimpleConnection as _;
    use diesel::Connection as _;
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("broken.db");
    let url = format!("sqlite://{}", file.display());
    // Migrated (so the start gets past opening), then a table the start reads is gone.
    drop(switchboard::store::Store::open(&url).expect("a fresh SQLite store"));
    let mut conn =
        diesel::SqliteConnection::establish(&file.display().to_string()).expect("open the file");
    conn.batch_execute("DROP TABLE extensions")
        .expect("drop a table");
    drop(conn);
    let (code, stderr) = failed_serve(
        &["serve"],
        &[
            ("DATABASE_URL", &url),
            ("HTTP_BIND", "127.0.0.1:0"),
            ("AMI_PORT", "1"),
        ],
    );
    assert_eq!(code, 4, "{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(last.starts_with("error: DATABASE_URL"), "{stderr}");
    assert!(last.contains("reading the stored state failed"), "{stderr}");
    assert!(last.contains("extensions"), "names the table: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
