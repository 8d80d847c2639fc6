//! The ConnectionActor inside the running service, over real TCP: both login
//! methods, a refused login with backoff and recovery, a frozen PBX noticed by the
//! Ping timeout, and a PBX that dies and comes back on the same address. After each,
//! a state change made on the PBX must reach the live view.

use crate::common::pipeline::{start, Setup};
use crate::common::replay::{load, ReplayOptions, ReplayServer};
use crate::common::wait::{wait_until, DEADLINE};
use switchboard::model::AmiConnectionState;
use switchboard::sim::{SimConfig, SimHandle, Simulator};

fn quiet_sim_at(addr: &str) -> SimHandle {
    Simulator::spawn(
        addr.parse().expect("addr"),
        SimConfig {
            rate: 0.0,
            extensions: 10,
            ..SimConfig::default()
        },
    )
    .expect("simulator starts")
}

#[actix_rt::test]
async fn logs_in_with_md5_and_with_plain_text() {
    for (auth, challenges) in [("md5", 1), ("plain", 0)] {
        // The simulator: logged in, resynced, events flowing.
        let sim = quiet_sim_at("127.0.0.1:0");
        let r = start(Setup::new(sim.addr()).auth(auth))
            .await
            .expect("SQLite");
        r.wait_state(AmiConnectionState::Connected).await;
        assert_eq!(sim.stats().logins_ok, 1, "{auth}");
        assert!(r
            .connection()
            .banner
            .is_some_and(|b| b.contains("Asterisk Call Manager")));
        wait_until("resync of 10 extensions", DEADLINE, || async {
            r.live_extensions().len() == 10
        })
        .await;
        r.pbx_state_reaches_live_view(&sim, "1003", 4).await;
        r.stop().await;

        // The replay server counts challenges: MD5 asks for one, plain never does.
        let server = ReplayServer::start(load("login-idle"), ReplayOptions::default());
        let r = start(Setup::new(server.addr()).auth(auth))
            .await
            .expect("SQLite");
        r.wait_state(AmiConnectionState::Connected).await;
        assert_eq!(server.logins_ok(), 1, "{auth}");
        assert_eq!(server.challenges(), challenges, "{auth}");
        r.stop().await;
    }
}

#[actix_rt::test]
async fn a_refused_login_backs_off_then_recovers() {
    let sim = quiet_sim_at("127.0.0.1:0");
    sim.refuse_logins(true);
    let r = start(
        Setup::new(sim.addr())
            .with("AMI_LOGIN_BACKOFF_MIN_MS", 100)
            .with("AMI_LOGIN_BACKOFF_MAX_MS", 300),
    )
    .await
    .expect("SQLite");
    r.wait_state(AmiConnectionState::LoginRefused).await;
    let s = r.connection();
    assert!(
        s.next_attempt.is_some_and(|t| t > s.since),
        "a retry is scheduled"
    );
    assert!(s
        .last_error
        .is_some_and(|e| e.contains("Authentication failed")));
    wait_until("a second refused attempt", DEADLINE, || async {
        sim.stats().logins_failed >= 2
    })
    .await;
    // The simulator counts the refusal as it sends it; the service reads it a
    // moment later, so its state is waited for rather than read at once.
    r.wait_state(AmiConnectionState::LoginRefused).await;
    assert_eq!(sim.stats().logins_ok, 0, "still refused, never connected");
    sim.refuse_logins(false);
    r.wait_state(AmiConnectionState::Connected).await;
    assert_eq!(sim.stats().logins_ok, 1);
    assert!(
        r.connection().last_error.is_none(),
        "cleared once connected"
    );
    r.pbx_state_reaches_live_view(&sim, "1002", 8).await;
    r.stop().await;
}

#[actix_rt::test]
async fn a_frozen_pbx_is_noticed_by_the_ping_timeout_and_rejoined_after() {
    let sim = quiet_sim_at("127.0.0.1:0");
    let r = start(
        Setup::new(sim.addr())
            .with("AMI_PING_INTERVAL_MS", 100)
            .with("AMI_PING_TIMEOUT_MS", 300)
            .with("AMI_LOGIN_TIMEOUT_MS", 500),
    )
    .await
    .expect("SQLite");
    r.wait_state(AmiConnectionState::Connected).await;
    r.pbx_state_reaches_live_view(&sim, "1001", 1).await;
    sim.freeze(true);
    wait_until("the connection to leave connected", DEADLINE, || async {
        r.connection().state != AmiConnectionState::Connected
    })
    .await;
    let s = r.connection();
    assert!(
        s.last_error.as_deref().is_some_and(|e| e.contains("Ping")),
        "{s:?}"
    );
    sim.freeze(false);
    wait_until("a reconnect", DEADLINE, || async {
        let s = r.connection();
        s.state == AmiConnectionState::Connected && s.reconnects >= 1
    })
    .await;
    r.pbx_state_reaches_live_view(&sim, "1001", 0).await;
    r.stop().await;
}

#[actix_rt::test]
async fn reconnects_when_the_pbx_dies_and_comes_back_on_the_same_address() {
    let sim = quiet_sim_at("127.0.0.1:0");
    let addr = sim.addr();
    let r = start(Setup::new(addr)).await.expect("SQLite");
    r.wait_state(AmiConnectionState::Connected).await;
    r.pbx_state_reaches_live_view(&sim, "1004", 4).await;
    sim.stop();
    drop(sim);
    wait_until("the loss to be noticed", DEADLINE, || async {
        r.connection().state != AmiConnectionState::Connected
    })
    .await;
    let back = quiet_sim_at(&addr.to_string());
    wait_until("a reconnect to the new PBX", DEADLINE, || async {
        let s = r.connection();
        s.state == AmiConnectionState::Connected && s.reconnects >= 1
    })
    .await;
    // The new PBX's resync corrects 1004 (idle there), then events flow again.
    wait_until("1004 corrected by the resync", DEADLINE, || async {
        r.live_extensions()
            .get("1004")
            .is_some_and(|e| e.status.0 == 0)
    })
    .await;
    r.pbx_state_reaches_live_view(&back, "1006", 8).await;
    r.stop().await;
}
