//! `AMI_THREADS`: the same seeded PBX, its connection reading once on the
//! pipeline's thread (`shared`) and once on a thread of its own (`per-pbx`), ends
//! in the same state — the simulator's truth — with the threads each mode says.

use crate::common::live_truth::{history_mismatch, mismatch, seeded_burst};
use crate::common::pipeline::Running;

async fn run(threads: &str) -> (Running, switchboard::sim::SimHandle) {
    seeded_burst(7, "AMI_THREADS", threads).await
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
