//! The whole service against the PBX simulator over TCP: a seeded burst whose
//! outcome the simulator knows (its `snapshot()` is the ground truth), a reconnect
//! in the middle of calls (resync closes what vanished and adopts what appeared), a
//! PBX restart, a call whose hangup never comes (closed as timed out), and one run
//! on PostgreSQL.

use std::time::Duration;

use crate::common::live_truth::{history_mismatch, mismatch, wait_matches};
use crate::common::pipeline::{quiet_sim as sim, start, Setup};
use crate::common::store::Kind;
use crate::common::wait::{wait_until, DEADLINE};
use switchboard::model::AmiConnectionState;
use switchboard::model::CallState;

#[actix_rt::test]
async fn a_seeded_burst_ends_in_the_state_the_simulator_knows() {
    let sim = sim(42, 30);
    let r = start(Setup::new(sim.addr())).await.expect("SQLite");
    r.wait_state(AmiConnectionState::Connected).await;
    wait_matches(&r, &sim).await;
    let before = sim.stats().events;
    let routed_before = r.router().await.routed;
    sim.burst(20_000);
    wait_until("the burst to be generated", DEADLINE, || async {
        sim.stats().burst_pending == 0
    })
    .await;
    let sent = sim.stats().events - before;
    assert!(sent >= 20_000, "{sent} events generated");
    r.settle(routed_before + sent).await;
    let truth = sim.snapshot();
    assert_eq!(mismatch(&r, &truth), None);
    assert!(truth.finished_total > 100, "a real burst: {truth:?}");
    assert_eq!(
        history_mismatch(&r, &truth),
        None,
        "every finished call stored, outcomes as the simulator counted them"
    );
    assert_eq!(r.router().await.unknown, 0);
    r.stop().await;
}

#[actix_rt::test]
async fn a_reconnect_closes_calls_lost_while_away_and_adopts_new_ones() {
    let sim = sim(3, 10);
    let r = start(
        Setup::new(sim.addr())
            .with("AMI_LOGIN_BACKOFF_MIN_MS", 20)
            .with("AMI_LOGIN_BACKOFF_MAX_MS", 50),
    )
    .await
    .expect("SQLite");
    r.wait_state(AmiConnectionState::Connected).await;
    let a = sim.place_call("1001", "1002");
    sim.answer_call(&a);
    let b = sim.place_call("1003", "1004");
    sim.answer_call(&b);
    let c = sim.place_call("1005", "1006");
    wait_matches(&r, &sim).await;
    let logins = sim.stats().logins_ok;

    // Away: logins refused, so nothing is seen while the PBX changes.
    sim.refuse_logins(true);
    sim.drop_connections();
    wait_until("a refused login", DEADLINE, || async {
        sim.stats().logins_failed > 0
    })
    .await;
    r.wait_state(AmiConnectionState::LoginRefused).await;
    sim.hangup_call(&a);
    sim.hangup_call(&c);
    let d = sim.place_call("1007", "1008");
    sim.answer_call(&d);
    assert_eq!(
        r.live_calls().len(),
        3,
        "switchboard still believes its 3 calls"
    );

    sim.refuse_logins(false);
    wait_until("a new login", DEADLINE, || async {
        sim.stats().logins_ok > logins
    })
    .await;
    r.wait_state(AmiConnectionState::Connected).await;
    wait_until("resync", DEADLINE, || async {
        let ids: Vec<String> = r.live_calls().iter().map(|c| c.id.clone()).collect();
        ids.len() == 2 && ids.contains(&b) && ids.contains(&d)
    })
    .await;
    r.quiesce().await;
    let history = r.history();
    let lost: Vec<&str> = history
        .iter()
        .filter(|c| c.outcome.map(|o| o.as_str()) == Some("lostWhileDisconnected"))
        .map(|c| c.id.as_str())
        .collect();
    assert_eq!(history.len(), 2);
    assert!(lost.contains(&a.as_str()) && lost.contains(&c.as_str()));
    let adopted = r
        .live_calls()
        .into_iter()
        .find(|x| x.id == d)
        .expect("adopted");
    assert_eq!(adopted.caller.number.as_deref(), Some("1007"));
    assert!(adopted.answered_at.is_some());
    assert_eq!(adopted.state, CallState::Bridged);
    assert!(r.connection().reconnects >= 1);
    assert!(!r.connection().pbx_restarted, "a reconnect, not a restart");
    // Calls go on being followed after the resync.
    sim.hangup_call(&d);
    wait_until("the adopted call to end", DEADLINE, || async {
        r.live_calls().len() == 1
    })
    .await;
    r.stop().await;
}

#[actix_rt::test]
async fn a_pbx_restart_leaves_nothing_stale() {
    let sim = sim(5, 10);
    let r = start(Setup::new(sim.addr())).await.expect("SQLite");
    r.wait_state(AmiConnectionState::Connected).await;
    let a = sim.place_call("1001", "1002");
    sim.answer_call(&a);
    let b = sim.place_call("1003", "1004");
    wait_matches(&r, &sim).await;
    assert_eq!(r.live_calls().len(), 2);
    let logins = sim.stats().logins_ok;

    sim.restart();
    wait_until("a login after the restart", DEADLINE, || async {
        sim.stats().logins_ok > logins
    })
    .await;
    wait_until("pbxRestarted", DEADLINE, || async {
        let s = r.connection();
        s.state == AmiConnectionState::Connected && s.pbx_restarted
    })
    .await;
    wait_matches(&r, &sim).await;
    assert!(r.live_calls().is_empty(), "calls died with the PBX");
    r.quiesce().await;
    let history = r.history();
    assert_eq!(history.len(), 2);
    for c in &history {
        assert!(c.id == a || c.id == b);
        assert_eq!(c.outcome.map(|o| o.as_str()), Some("lostWhileDisconnected"));
    }
    let live = r.live_extensions();
    for exten in ["1001", "1002", "1003", "1004"] {
        assert_eq!(
            live[exten].state,
            switchboard::model::ExtensionState::Idle,
            "{exten} idle after the restart"
        );
    }
    r.stop().await;
}

#[actix_rt::test]
async fn a_burst_through_the_pipeline_into_postgresql() {
    let sim = sim(9, 20);
    let Some(r) = start(Setup::new(sim.addr()).backend(Kind::Postgres)).await else {
        return; // reason printed by TestDb::create
    };
    r.wait_state(AmiConnectionState::Connected).await;
    let before = sim.stats().events;
    let routed_before = r.router().await.routed;
    sim.burst(5_000);
    wait_until("the burst", DEADLINE, || async {
        sim.stats().burst_pending == 0
    })
    .await;
    r.settle(routed_before + sim.stats().events - before).await;
    let truth = sim.snapshot();
    assert_eq!(mismatch(&r, &truth), None);
    assert_eq!(r.history().len() as u64, truth.finished_total);
    let stored = r
        .service
        .state
        .store
        .list_extensions(None)
        .expect("stored extensions");
    assert_eq!(stored.len(), truth.extensions.len());
    for e in stored {
        assert_eq!(
            e.status.0, truth.extensions[&e.extension],
            "{}",
            e.extension
        );
    }
    let active = r
        .service
        .state
        .store
        .list_active_calls(None)
        .expect("active");
    assert_eq!(
        active.len(),
        truth.calls.len(),
        "live calls stored as active"
    );
    r.stop().await;
}

#[actix_rt::test]
async fn a_call_whose_hangup_never_comes_is_closed_as_timed_out_and_others_are_not() {
    let sim = sim(11, 10);
    let r = start(
        Setup::new(sim.addr())
            .with("CALL_TIMEOUT_SECS", 1)
            .with("AMI_PING_INTERVAL_MS", 200),
    )
    .await
    .expect("SQLite");
    r.wait_state(AmiConnectionState::Connected).await;
    // The PBX never sends this call's hangup: it stays up in the simulator.
    let silent = sim.place_call("1001", "1002");
    sim.answer_call(&silent);
    wait_until("the call to be tracked", DEADLINE, || async {
        r.live_calls().iter().any(|c| c.id == silent)
    })
    .await;
    // A call that keeps sending events (hold on and off) stays open past the timeout.
    let busy = sim.place_call("1003", "1004");
    sim.answer_call(&busy);
    for i in 0..8 {
        actix_rt::time::sleep(Duration::from_millis(300)).await;
        sim.hold_call(&busy, i % 2 == 0);
    }
    wait_until("the silent call to be closed", DEADLINE, || async {
        !r.live_calls().iter().any(|c| c.id == silent)
    })
    .await;
    assert!(
        r.live_calls().iter().any(|c| c.id == busy),
        "a call with recent events is not timed out"
    );
    r.flush().await;
    let closed = r
        .history()
        .into_iter()
        .find(|c| c.id == silent)
        .expect("the timed-out call is in the history");
    assert_eq!(closed.outcome.map(|o| o.as_str()), Some("timedOut"));
    assert!(closed.ended_at.is_some());
    assert!(closed.legs.iter().all(|l| l.ended_at.is_some()));
    r.stop().await;
    sim.stop();
}
