//! `switchboard demo --pbxs N` and `switchboard sim --count N`, run as the built
//! binary: the demo starts N simulated PBXs on loopback and a service configured
//! with all of them (health shows each connected by name), and stops cleanly on
//! SIGTERM; `sim --count` listens on consecutive ports.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::browser::free_port;
use crate::common::child::OwnedChild;
use crate::common::wait::wait_until;
use serde_json::Value;
use switchboard::commands::{demo_pbx_names, sim_addresses};

/// How long the service may take to show its PBXs, or to exit after SIGTERM.
const WITHIN: Duration = Duration::from_secs(30);

/// Two consecutive free loopback ports (checked by binding both).
fn free_port_pair() -> u16 {
    for _ in 0..50 {
        let a = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
        let port = a.local_addr().expect("local addr").port();
        if port < u16::MAX && TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
            return port;
        }
    }
    panic!("no two consecutive free loopback ports in 50 tries");
}

#[test]
fn demo_names_and_sim_ports() {
    assert_eq!(demo_pbx_names(1), ["default"]);
    assert_eq!(demo_pbx_names(3), ["p01", "p02", "p03"]);
    let many = demo_pbx_names(120);
    assert_eq!((many[0].as_str(), many[119].as_str()), ("p001", "p120"));
    let from: SocketAddr = "127.0.0.1:6000".parse().expect("addr");
    let ports: Vec<u16> = sim_addresses(from, 3)
        .expect("fits")
        .iter()
        .map(|a| a.port())
        .collect();
    assert_eq!(ports, [6000, 6001, 6002]);
    let any: SocketAddr = "127.0.0.1:0".parse().expect("addr");
    assert_eq!(sim_addresses(any, 2).expect("fits"), [any, any]);
    let top: SocketAddr = "127.0.0.1:65535".parse().expect("addr");
    let err = sim_addresses(top, 2).expect_err("past the last port");
    assert!(err.contains("65535"), "{err}");
}

#[actix_rt::test]
async fn demo_with_three_pbxs_shows_all_three_connected_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let db = format!("sqlite://{}", dir.path().join("demo.db").display());
    let mut child = OwnedChild::new(
        Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args(["demo", "--pbxs", "3", "--rate", "0", "--extensions", "5"])
            .arg("--database-url")
            .arg(&db)
            .current_dir(dir.path())
            .env_clear()
            .env("HTTP_BIND", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start switchboard demo"),
        None,
    );
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(5))
        .finish();
    let url = format!("http://127.0.0.1:{port}/api/health");
    let started = Instant::now();
    let (shown, last) = wait_until("three connected PBXs", WITHIN, || async {
        let Ok(mut res) = client.get(&url).send().await else {
            return Err("no answer".to_string());
        };
        let Ok(last) = res.json::<Value>().await else {
            return Err("no JSON".to_string());
        };
        let pbxs: Vec<(String, String)> = last["data"]["pbxs"]
            .as_array()
            .map(|list| {
                list.iter()
                    .map(|p| {
                        (
                            p["pbx"].as_str().unwrap_or("?").to_string(),
                            p["state"].as_str().unwrap_or("?").to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        // "connected" comes at login; the extension list is read just after it.
        let all_read = last["data"]["state"]["extensions"] == 15;
        if pbxs.iter().all(|(_, s)| s == "connected") && pbxs.len() == 3 && all_read {
            Ok((pbxs, last))
        } else {
            Err(format!("health: {last}"))
        }
    })
    .await;
    let names: Vec<&str> = shown.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["p01", "p02", "p03"]);
    assert_eq!(last["data"]["state"]["extensions"], 15, "5 per PBX: {last}");
    println!(
        "demo_cli: demo --pbxs 3 answered health with 3 connected PBXs {:.0} ms after spawn",
        started.elapsed().as_secs_f64() * 1000.0
    );
    child.sigterm();
    let status = child.wait_exit(WITHIN).await.expect("exits after SIGTERM");
    assert!(status.success(), "demo exit status {status:?}");
}

#[test]
fn sim_count_listens_on_consecutive_ports() {
    let port = free_port_pair();
    let mut child = OwnedChild::new(
        Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args(["sim", "--count", "2", "--rate", "0", "--listen"])
            .arg(format!("127.0.0.1:{port}"))
            .env_clear()
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start switchboard sim"),
        None,
    );
    for p in [port, port + 1] {
        let end = Instant::now() + WITHIN;
        let stream = loop {
            match TcpStream::connect(("127.0.0.1", p)) {
                Ok(s) => break s,
                Err(e) => {
                    assert!(Instant::now() < end, "sim on port {p}: {e}");
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        };
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("read timeout");
        let mut banner = String::new();
        BufReader::new(stream)
            .read_line(&mut banner)
            .expect("banner");
        assert!(
            banner.starts_with("Asterisk Call Manager/"),
            "port {p}: {banner:?}"
        );
    }
    child.sigterm();
    let status = child
        .wait_exit_blocking(WITHIN)
        .expect("exits after SIGTERM");
    assert!(status.success(), "sim exit status {status:?}");
}
