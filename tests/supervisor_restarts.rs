//! Supervision of the pipeline's long-lived actors: a panic in the router or the
//! connection is contained, the actor is restarted (the registry counts it), and
//! events keep flowing from the PBX to the live view afterwards.

mod common;

use common::pipeline::Setup;
use common::pipeline::{start, wait_for, Running};
use switchboard::actors::messages::InjectPanic;
use switchboard::sim::{SimConfig, SimHandle, Simulator};

async fn state_arrives(r: &Running, sim: &SimHandle, exten: &str, status: i32) {
    sim.set_extension_state(exten, status);
    wait_for(&format!("{exten} → {status} in the live view"), || {
        r.live_extensions()
            .get(exten)
            .is_some_and(|e| e.status.0 == status)
    })
    .await;
}

#[actix_rt::test]
async fn router_and_connection_restart_after_a_panic_and_events_keep_flowing() {
    let sim = Simulator::spawn(
        "127.0.0.1:0".parse().expect("addr"),
        SimConfig {
            rate: 0.0,
            extensions: 10,
            ..SimConfig::default()
        },
    )
    .expect("simulator");
    let r = start(Setup::new(sim.addr())).await.expect("SQLite");
    r.wait_state("connected").await;
    let registry = r.service.state.registry.clone();
    assert_eq!(registry.restarts("router"), 0);
    assert_eq!(registry.restarts("connection"), 0);
    state_arrives(&r, &sim, "1001", 1).await;

    r.service.state.pbxs[0].router.do_send(InjectPanic);
    wait_for("the router's restart to be counted", || {
        registry.restarts("router") == 1
    })
    .await;
    state_arrives(&r, &sim, "1002", 8).await;
    let call = sim.place_call("1003", "1004");
    wait_for("a call after the router restart", || {
        r.live_calls().iter().any(|c| c.id == call)
    })
    .await;

    r.service.state.pbxs[0].connection.do_send(InjectPanic);
    wait_for("the connection's restart to be counted", || {
        registry.restarts("connection") == 1
    })
    .await;
    r.wait_state("connected").await;
    state_arrives(&r, &sim, "1005", 4).await;
    sim.hangup_call(&call);
    wait_for("the call to end after both restarts", || {
        r.live_calls().is_empty()
    })
    .await;
    assert_eq!(registry.restarts("router"), 1, "restarted once, not more");
    assert_eq!(registry.count("router"), 1, "still one router");
    assert_eq!(registry.count("connection"), 1, "still one connection");
    r.stop().await;
}
