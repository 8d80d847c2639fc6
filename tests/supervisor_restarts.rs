//! Supervision of the pipeline's long-lived actors: a panic in the router or the
//! connection is contained, the actor is restarted (the registry counts it), and
//! events keep flowing from the PBX to the live view afterwards.
//!
//! Nothing is lost beyond the failing message: a call in flight across the router's
//! restart ends normally (not lost, not timed out), a call in flight across the
//! connection's restart is kept by the resync, and at the end the live view and
//! the store equal the simulator's truth.

mod common;

use common::pipeline::Setup;
use common::pipeline::{start, wait_for, Running};
use common::truth::View;
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
    let early = sim.place_call("1006", "1007");
    sim.answer_call(&early);
    wait_for("a call in flight before the panic", || {
        r.live_calls().iter().any(|c| c.id == early)
    })
    .await;

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
    assert_eq!(
        r.live_calls().len(),
        2,
        "both calls kept across both restarts"
    );
    sim.hangup_call(&early);
    sim.hangup_call(&call);
    wait_for("the calls to end after both restarts", || {
        r.live_calls().is_empty()
    })
    .await;
    // No state lost: the live view and the store equal the PBX's truth, and the
    // calls ended as the PBX ended them (not as lost or timed out).
    r.quiesce().await;
    let truth = View::of_sim(&sim);
    let live = View::of_model(
        r.live_extensions().values().map(|e| e.as_ref()),
        r.live_calls().iter().map(|c| c.as_ref()),
    );
    assert_eq!(live.diff(&truth), None, "live view");
    assert_eq!(
        View::of_store(&r.service.state.store).diff(&truth),
        None,
        "store"
    );
    let outcomes: Vec<(String, Option<String>)> =
        r.history().into_iter().map(|c| (c.id, c.outcome)).collect();
    assert_eq!(
        outcomes,
        vec![
            (early.clone(), Some("answered".to_string())),
            (call.clone(), Some("cancelled".to_string())),
        ]
    );
    assert_eq!(registry.restarts("router"), 1, "restarted once, not more");
    assert_eq!(registry.count("router"), 1, "still one router");
    assert_eq!(registry.count("connection"), 1, "still one connection");
    r.stop().await;
}
