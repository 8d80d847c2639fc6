//! Faults the simulator injects for the service's tests: drops, freeze, restart,
//! refused logins, garbage, stop and listen again.

use std::time::Duration;

use crate::common::sim_client::{quiet_sim, sim_with, Client};
use crate::common::wait::{wait_until, DEADLINE};
use switchboard::sim::{SimConfig, Simulator};

async fn logged_in(sim: &switchboard::sim::SimHandle) -> Client {
    let mut c = Client::connect(sim.addr()).await;
    assert_eq!(
        c.login("admin", "amisecret").await.get("Response"),
        Some("Success")
    );
    c
}

#[tokio::test]
async fn drop_connections_closes_every_client() {
    let sim = quiet_sim();
    let mut a = logged_in(&sim).await;
    let mut b = Client::connect(sim.addr()).await;
    sim.drop_connections();
    assert!(a.sees_eof().await);
    assert!(b.sees_eof().await);
    // The listener stays open.
    let mut c = logged_in(&sim).await;
    assert_eq!(c.ask("Ping", &[]).await.get("Ping"), Some("Pong"));
}

#[tokio::test]
async fn a_frozen_pbx_keeps_the_socket_but_does_not_answer() {
    let sim = quiet_sim();
    let mut c = logged_in(&sim).await;
    c.wait_event("FullyBooted", |_| true).await;
    sim.freeze(true);
    let id = c.send("Ping", &[]).await;
    assert!(c.next_within(Duration::from_millis(500)).await.is_none());
    sim.freeze(false);
    let r = c.reply(&id).await;
    assert_eq!(r.get("Ping"), Some("Pong"));
}

#[tokio::test]
async fn restart_sends_shutdown_closes_and_comes_back_with_a_small_uptime() {
    let sim = quiet_sim();
    let mut c = logged_in(&sim).await;
    sim.place_call("1001", "1002");
    sim.restart();
    let ev = c.wait_event("Shutdown", |_| true).await;
    assert_eq!(ev.get("Shutdown"), Some("Cleanly"));
    assert_eq!(ev.get("Restart"), Some("True"));
    assert!(c.sees_eof().await);
    assert!(sim.snapshot().calls.is_empty());
    let addr = sim.addr();
    wait_until(
        "the PBX to accept again after the restart",
        DEADLINE,
        || async { tokio::net::TcpStream::connect(addr).await.is_ok() },
    )
    .await;
    let mut c = Client::connect(addr).await;
    assert_eq!(
        c.login("admin", "amisecret").await.get("Response"),
        Some("Success")
    );
    let booted = c.wait_event("FullyBooted", |_| true).await;
    let uptime: u64 = booted.get("Uptime").unwrap().parse().unwrap();
    assert!(uptime < 5, "uptime {uptime}");
}

#[tokio::test]
async fn refused_logins_are_answered_authentication_failed() {
    let sim = quiet_sim();
    sim.refuse_logins(true);
    let mut c = Client::connect(sim.addr()).await;
    assert_eq!(
        c.login("admin", "amisecret").await.get("Message"),
        Some("Authentication failed")
    );
    assert!(c.sees_eof().await);
    sim.refuse_logins(false);
    let _ok = logged_in(&sim).await;
}

#[tokio::test]
async fn garbage_reaches_logged_in_clients() {
    let sim = quiet_sim();
    let mut c = logged_in(&sim).await;
    c.wait_event("FullyBooted", |_| true).await;
    sim.send_garbage(b"Event: Garbage\r\nnot a header line\r\n\r\n");
    let m = c.wait_event("Garbage", |_| true).await;
    assert_eq!(m.len(), 2);
}

#[tokio::test]
async fn stop_frees_the_port_and_a_new_simulator_can_listen_there() {
    let sim = quiet_sim();
    let addr = sim.addr();
    let mut c = logged_in(&sim).await;
    sim.stop();
    assert!(c.sees_eof().await);
    let again = Simulator::spawn(
        addr,
        SimConfig {
            rate: 0.0,
            ..SimConfig::default()
        },
    )
    .unwrap();
    assert_eq!(again.addr(), addr);
    let _c = logged_in(&again).await;
}

#[tokio::test]
async fn every_session_sees_the_same_events() {
    let sim = sim_with(SimConfig {
        rate: 0.0,
        ..SimConfig::default()
    });
    let mut a = logged_in(&sim).await;
    let mut b = logged_in(&sim).await;
    let id = sim.place_call("1010", "1011");
    for c in [&mut a, &mut b] {
        c.wait_event("DialBegin", |m| m.get("Linkedid") == Some(id.as_str()))
            .await;
    }
    wait_until("sim.stats().sessions == 2", DEADLINE, || async {
        sim.stats().sessions == 2
    })
    .await;
}
