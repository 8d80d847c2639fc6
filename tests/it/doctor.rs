//! `switchboard doctor` run as the built binary against a real AMI server: the
//! simulator with a full account, restricted accounts (the login-monitor user of
//! the captures and narrower ones), a wrong secret, an unreachable port, a PBX
//! without timestamps (the `sim` binary with `--no-timestamps`); each asserts the
//! lines, the `--json` shape and the exit code.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::browser::free_port;
use crate::common::child::OwnedChild;
use serde_json::Value;
use switchboard::sim::{SimConfig, SimHandle, Simulator};

/// How long one doctor run may take (its own deadlines are a few seconds).
const WITHIN: Duration = Duration::from_secs(30);

/// What a doctor run printed and how it exited.
struct Run {
    code: i32,
    stdout: String,
}

impl Run {
    /// The line of `check` in scope `scope` (e.g. `pbx default`, `login`).
    fn line(&self, scope: &str, check: &str) -> &str {
        let needle = format!(" {scope} {check}: ");
        self.stdout
            .lines()
            .find(|l| l.contains(&needle))
            .unwrap_or_else(|| panic!("no line for {scope} {check}: {}", self.stdout))
    }

    /// Asserts the line of `check` starts with `level` and contains each part.
    fn expect(&self, scope: &str, check: &str, level: &str, parts: &[&str]) {
        let line = self.line(scope, check);
        assert!(
            line.starts_with(&format!("{level} ")),
            "{scope} {check} is not {level}: {line}\n{}",
            self.stdout
        );
        for part in parts {
            assert!(line.contains(part), "{part:?} missing in {line}");
        }
    }

    /// Asserts no line is at `level`.
    fn none_at(&self, level: &str) {
        let bad: Vec<&str> = (self.stdout.lines())
            .filter(|l| l.starts_with(&format!("{level} ")))
            .collect();
        assert!(bad.is_empty(), "{level} lines: {bad:?}\n{}", self.stdout);
    }
}

/// Runs `switchboard doctor ARGS` in a fresh directory with only `env` set (and a
/// free `HTTP_BIND`, a new SQLite file unless given).
fn doctor(args: &[&str], env: &[(&str, &str)]) -> Run {
    let dir = tempfile::tempdir().expect("temp dir");
    run_in(dir.path(), args, env)
}

fn run_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let out = dir.join("stdout.txt");
    let log = dir.join("stderr.log");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    cmd.arg("doctor")
        .args(["--listen-ms", "1500"])
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("RUST_LOG", "warn")
        .env("HTTP_BIND", "127.0.0.1:0")
        .env("DATABASE_URL", "sqlite://sb.db")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).expect("stdout file"))
        .stderr(std::fs::File::create(&log).expect("stderr file"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = OwnedChild::new(cmd.spawn().expect("start switchboard doctor"), Some(log));
    let status = child
        .wait_exit_blocking(WITHIN)
        .expect("doctor ends by itself");
    let stdout = std::fs::read_to_string(&out).expect("read stdout");
    Run {
        code: status.code().expect("exited with a code"),
        stdout,
    }
}

/// A simulator on a free loopback port with `cfg`'s account; user `admin`.
fn sim(cfg: SimConfig) -> SimHandle {
    Simulator::spawn(SocketAddr::from(([127, 0, 0, 1], 0)), cfg).expect("simulator")
}

fn sim_env(sim: &SimHandle) -> Vec<(&'static str, String)> {
    vec![
        ("AMI_HOST", "127.0.0.1".to_string()),
        ("AMI_PORT", sim.addr().port().to_string()),
        ("AMI_USERNAME", "admin".to_string()),
        ("AMI_SECRET", "amisecret".to_string()),
    ]
}

fn with<'a>(
    base: &'a [(&'static str, String)],
    more: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut env: Vec<(&str, &str)> = base.iter().map(|(k, v)| (*k, v.as_str())).collect();
    env.extend_from_slice(more);
    env
}

#[test]
fn a_full_account_is_ok_everywhere_with_md5_and_plain() {
    let pbx = sim(SimConfig {
        rate: 50.0,
        ..SimConfig::default()
    });
    let env = sim_env(&pbx);
    let run = doctor(&[], &with(&env, &[]));
    assert_eq!(run.code, 0, "{}", run.stdout);
    run.none_at("problem");
    run.none_at("warning");
    let s = "pbx default";
    run.expect(s, "reach", "ok", &[&pbx.addr().to_string()]);
    run.expect(
        s,
        "banner",
        "ok",
        &["Asterisk Call Manager/11.0.0", "AMI 11.0.0"],
    );
    run.expect(s, "login", "ok", &["user admin logged in (md5)"]);
    for action in [
        "ExtensionStateList",
        "CoreShowChannels",
        "QueueStatus",
        "PJSIPShowEndpoint",
        "Filter",
    ] {
        run.expect(s, &format!("action {action}"), "ok", &["allowed"]);
    }
    run.expect(s, "read call", "ok", &["call events arrived"]);
    run.expect(s, "fully booted", "ok", &["FullyBooted arrived"]);
    run.expect(s, "timestamps", "ok", &["carry `Timestamp:`"]);
    run.expect(s, "hints", "ok", &["50 hints in from-internal (50)"]);
    run.expect("database", "reach", "ok", &["sb.db", "does not exist yet"]);
    run.expect("http", "bind", "ok", &["127.0.0.1:0"]);
    run.expect("tokens", "API_TOKEN", "ok", &["loopback"]);
    assert!(
        run.stdout.ends_with("no problem, 0 warning(s)\n"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("amisecret"), "{}", run.stdout);

    let plain = doctor(&[], &with(&env, &[("AMI_AUTH", "plain")]));
    assert_eq!(plain.code, 0, "{}", plain.stdout);
    plain.expect(s, "login", "ok", &["user admin logged in (plain)"]);
    pbx.stop();
}

#[test]
fn json_has_the_verdict_and_one_object_per_check() {
    let pbx = sim(SimConfig {
        rate: 50.0,
        ..SimConfig::default()
    });
    let env = sim_env(&pbx);
    let run = doctor(&["--json"], &with(&env, &[("API_TOKEN", "short")]));
    assert_eq!(run.code, 0, "{}", run.stdout);
    let json: Value = serde_json::from_str(&run.stdout).expect("one JSON object");
    assert_eq!(json["ok"], true, "{json}");
    assert_eq!(json["problems"], 0, "{json}");
    assert_eq!(json["warnings"], 1, "the short token: {json}");
    let checks = json["checks"].as_array().expect("checks");
    assert!(checks.len() >= 15, "{json}");
    for c in checks {
        for key in ["scope", "check", "level", "message"] {
            assert!(c[key].is_string(), "{key} in {c}");
        }
        let level = c["level"].as_str().unwrap_or_default();
        assert!(["ok", "warning", "problem"].contains(&level), "{c}");
        assert_eq!(
            c.get("fix").is_some(),
            level != "ok",
            "a fix exactly when not ok: {c}"
        );
    }
    let token = checks
        .iter()
        .find(|c| c["check"] == "API_TOKEN")
        .expect("the API_TOKEN check");
    assert_eq!(token["level"], "warning");
    assert!(
        token["message"]
            .as_str()
            .is_some_and(|m| m.contains("5 characters")),
        "{token}"
    );
    assert!(
        !run.stdout.contains("\"short\""),
        "the token is never printed"
    );
    pbx.stop();
}

#[test]
fn the_login_monitor_account_names_each_denied_action() {
    // The captures' `monitor` user: read=call,agent,reporting,system,user; write=reporting.
    let pbx = sim(SimConfig {
        rate: 50.0,
        read: "call,agent,reporting,system,user".parse().expect("classes"),
        write: "reporting".parse().expect("classes"),
        ..SimConfig::default()
    });
    let env = sim_env(&pbx);
    let run = doctor(&[], &with(&env, &[]));
    assert_eq!(run.code, 0, "the service works, with less: {}", run.stdout);
    let s = "pbx default";
    run.expect(s, "action ExtensionStateList", "ok", &["allowed"]);
    run.expect(s, "action CoreShowChannels", "ok", &["allowed"]);
    run.expect(s, "action QueueStatus", "ok", &["allowed"]);
    for action in ["PJSIPShowEndpoint", "Filter"] {
        run.expect(
            s,
            &format!("action {action}"),
            "warning",
            &[
                "Permission denied",
                "add `system` to `write =` in the [admin] section of manager.conf",
            ],
        );
    }
    run.expect(s, "read call", "ok", &[]);
    run.expect(s, "fully booted", "ok", &[]);
    pbx.stop();
}

#[test]
fn an_account_without_read_call_or_write_reporting_is_a_problem() {
    // No `call` or `system` to read, while a call is up: the board would stay empty.
    let pbx = sim(SimConfig {
        rate: 0.0,
        read: "agent,user".parse().expect("classes"),
        write: "reporting".parse().expect("classes"),
        ..SimConfig::default()
    });
    let call = pbx.place_call("1001", "1002");
    pbx.answer_call(&call);
    let env = sim_env(&pbx);
    let run = doctor(&[], &with(&env, &[]));
    assert_eq!(run.code, 1, "{}", run.stdout);
    let s = "pbx default";
    run.expect(
        s,
        "read call",
        "problem",
        &[
            "channels up",
            "add `call` to `read =` in the [admin] section of manager.conf",
        ],
    );
    run.expect(s, "fully booted", "warning", &["add `system` to `read =`"]);
    assert!(
        run.stdout.contains("the service cannot work like this"),
        "{}",
        run.stdout
    );
    pbx.stop();

    // Nothing it needs to write: the hint list and the channel list are refused.
    let pbx = sim(SimConfig {
        rate: 0.0,
        write: "user".parse().expect("classes"),
        ..SimConfig::default()
    });
    let env = sim_env(&pbx);
    let run = doctor(&["--json"], &with(&env, &[]));
    assert_eq!(run.code, 1, "{}", run.stdout);
    let json: Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(json["ok"], false);
    for action in ["ExtensionStateList", "CoreShowChannels"] {
        let c = json["checks"]
            .as_array()
            .and_then(|a| a.iter().find(|c| c["check"] == format!("action {action}")))
            .unwrap_or_else(|| panic!("{action} in {json}"));
        assert_eq!(c["level"], "problem", "{c}");
        assert!(
            c["message"]
                .as_str()
                .is_some_and(|m| m.contains("Permission denied")),
            "{c}"
        );
        assert!(
            c["fix"].as_str().is_some_and(|m| m.contains("`write =`")),
            "{c}"
        );
    }
    pbx.stop();
}

#[test]
fn a_wrong_secret_is_a_login_problem_without_the_secret() {
    let pbx = sim(SimConfig {
        rate: 0.0,
        ..SimConfig::default()
    });
    let mut env = sim_env(&pbx);
    env.retain(|(k, _)| *k != "AMI_SECRET");
    let run = doctor(&[], &with(&env, &[("AMI_SECRET", "not-the-secret-42")]));
    assert_eq!(run.code, 1, "{}", run.stdout);
    run.expect(
        "pbx default",
        "login",
        "problem",
        &[
            "user admin refused (md5): Authentication failed",
            "AMI_SECRET",
            "[admin]",
        ],
    );
    assert!(!run.stdout.contains("not-the-secret-42"), "{}", run.stdout);
    assert!(
        !run.stdout.contains("action "),
        "no action after a refused login: {}",
        run.stdout
    );
    pbx.stop();
}

#[test]
fn an_unreachable_port_a_dead_database_and_a_busy_address_are_problems() {
    let port = free_port().to_string();
    let busy = TcpListener::bind("127.0.0.1:0").expect("hold a port");
    let busy_addr = busy.local_addr().expect("addr").to_string();
    let db_port = free_port();
    let db = format!("postgres://sb:pw-never-shown@127.0.0.1:{db_port}/test");
    let run = doctor(
        &[],
        &[
            ("AMI_PBXS", "north"),
            ("AMI_NORTH_PORT", &port),
            ("AMI_SECRET", "x"),
            ("DATABASE_URL", &db),
            ("HTTP_BIND", &busy_addr),
        ],
    );
    assert_eq!(run.code, 1, "{}", run.stdout);
    run.expect(
        "pbx north",
        "reach",
        "problem",
        &[
            &format!("cannot connect to 127.0.0.1:{port}"),
            "AMI_NORTH_PORT (or AMI_PORT)",
        ],
    );
    run.expect(
        "database",
        "reach",
        "problem",
        &["postgres", "DATABASE_URL"],
    );
    run.expect("http", "bind", "problem", &[&busy_addr, "in use"]);
    assert!(!run.stdout.contains("pw-never-shown"), "{}", run.stdout);
}

#[test]
fn a_pbx_without_timestamps_is_a_warning() {
    // The `sim` binary, as a user would run it, with timestampevents = no.
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let log = dir.path().join("sim.log");
    let child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args([
            "sim",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--rate",
            "50",
        ])
        .args(["--no-timestamps", "--extensions", "7"])
        .env_clear()
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("start switchboard sim");
    let mut sim = OwnedChild::new(child, Some(log));
    let end = Instant::now() + WITHIN;
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(sim.exited().is_none(), "sim exited: {}", sim.log());
        assert!(Instant::now() < end, "sim never listened: {}", sim.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    let port = port.to_string();
    let run = doctor(&[], &[("AMI_PORT", &port), ("AMI_SECRET", "amisecret")]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    run.expect(
        "pbx default",
        "timestamps",
        "warning",
        &["carries `Timestamp:`", "timestampevents = yes"],
    );
    run.expect(
        "pbx default",
        "hints",
        "ok",
        &["7 hints in from-internal (7)"],
    );
    sim.sigterm();
    assert!(
        sim.wait_exit_blocking(WITHIN).is_some(),
        "sim stops on SIGTERM"
    );
}

#[test]
fn the_database_checks_on_sqlite_and_postgresql() {
    use crate::common::store::{Kind, TestDb};
    let closed = free_port().to_string();
    for kind in [Kind::Sqlite, Kind::Postgres] {
        let Some(db) = TestDb::create(kind) else {
            continue;
        };
        let env = [
            ("AMI_PORT", closed.as_str()),
            ("DATABASE_URL", db.url.as_str()),
        ];
        if matches!(db.kind, Kind::Postgres) {
            // A fresh database: reachable and writable, every migration still to apply.
            let run = doctor(&[], &env);
            run.expect("database", "reach", "ok", &["postgres at", "answers"]);
            run.expect(
                "database",
                "migrations",
                "ok",
                &["to apply", "serve applies them at start"],
            );
            run.expect("database", "writable", "ok", &["rolled back"]);
        }
        drop(db.open());
        let run = doctor(&[], &env);
        assert_eq!(run.code, 1, "the PBX is unreachable: {}", run.stdout);
        run.expect("database", "reach", "ok", &["answers"]);
        run.expect(
            "database",
            "migrations",
            "ok",
            &["every migration is applied"],
        );
        run.expect("database", "writable", "ok", &["rolled back"]);
        let left = probe_table_left(&db.url);
        assert!(!left, "the write test left its table behind");
    }
}

/// Whether the doctor's test table is still there (it must be rolled back).
fn probe_table_left(url: &str) -> bool {
    let store = switchboard::store::Store::open(url).expect("open the store");
    drop(store);
    let sql = "SELECT 1 FROM switchboard_doctor_probe";
    if let Some(path) = url.strip_prefix("sqlite://") {
        use diesel::connection::SimpleConnection as _;
        use diesel::Connection as _;
        let mut c = diesel::SqliteConnection::establish(path).expect("open");
        c.batch_execute(sql).is_ok()
    } else {
        use diesel::connection::SimpleConnection as _;
        use diesel::Connection as _;
        let mut c = diesel::PgConnection::establish(url).expect("open");
        c.batch_execute(sql).is_ok()
    }
}

#[test]
fn a_bad_setting_stops_doctor_as_it_stops_serve() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = dir.path().join("stderr.log");
    let run = run_in(dir.path(), &[], &[("AMI_PORT", "99999")]);
    assert_eq!(run.code, 2, "{}", run.stdout);
    let stderr = std::fs::read_to_string(&log).expect("stderr");
    assert!(
        stderr.starts_with("error: bad setting AMI_PORT"),
        "{stderr}"
    );
    assert!(run.stdout.is_empty(), "no report: {}", run.stdout);
    // The same file `serve --config` reads.
    std::fs::write(
        dir.path().join("sb.env"),
        "AMI_PORT=1\nHTTP_BIND=127.0.0.1:0\n",
    )
    .expect("write");
    let run = run_in(dir.path(), &["--config", "sb.env"], &[]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    run.expect("pbx default", "reach", "problem", &["127.0.0.1:1"]);
    let run = run_in(dir.path(), &["--config", "missing.env"], &[]);
    assert_eq!(run.code, 3, "{}", run.stdout);
}
