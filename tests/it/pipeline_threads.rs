//! `AMI_THREADS`: the same seeded PBX, its connection reading once on the
//! pipeline's thread (`shared`) and once on a thread of its own (`per-pbx`), ends
//! in the same state — the simulator's truth — with the threads each mode says.

use switchboard::model::AmiConnectionState;

use crate::common::live_truth::{history_mismatch, mismatch};
use crate::common::pipeline::{quiet_sim as sim, start, Running, Setup};
use crate::common::wait::{wait_until, DEADLINE};

async fn run(threads: &str) -> (Running, switchboard::sim::SimHandle) {
    let sim = sim(7, 30);
    let r = start(Setup::new(sim.addr()).with("AMI_THREADS", threads))
        .await
        .expect("SQLite");
    r.wait_state(AmiConnectionState::Connected).await;
    wait_until("the resync", DEADLINE, || async {
        mismatch(&r, &sim.snapshot()).is_none()
    })
    .await;
    sim.burst(20_000);
    wait_until("the burst to be generated", DEADLINE, || async {
        sim.stats().burst_pending == 0
    })
    .await;
    wait_until("the state to match the simulator", DEADLINE, || async {
        let truth = sim.snapshot();
        mismatch(&r, &truth).is_none() && history_mismatch(&r, &truth).is_none()
    })
    .await;
    r.quiesce().await;
    (r, sim)
}

#[actix_rt::test]
async fn a_connection_on_the_pipeline_thread_or_its_own_ends_in_the_same_state() {
    let (shared, shared_sim) = run("shared").await;
    let (own, own_sim) = run("per-pbx").await;
    assert_eq!(
        shared.service.actor_threads(),
        1,
        "shared: the pipeline only"
    );
    assert_eq!(
        own.service.actor_threads(),
        2,
        "per-pbx: the pipeline and one"
    );
    for (r, sim) in [(&shared, &shared_sim), (&own, &own_sim)] {
        let truth = sim.snapshot();
        assert_eq!(mismatch(r, &truth), None);
        assert_eq!(history_mismatch(r, &truth), None);
        assert!(truth.finished_total > 20, "a real burst: {truth:?}");
    }
    assert_eq!(shared_sim.snapshot().finished, own_sim.snapshot().finished);
    assert_eq!(shared.history().len(), own.history().len());
}
