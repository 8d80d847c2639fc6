//! `AMI_EVENT_FILTER`: the same seeded PBX, once filtered (`auto`) and once not,
//! ends in the same state — the simulator's truth — while the filtered service is
//! sent only what it reads.

use crate::common::live_truth::{history_mismatch, mismatch, seeded_burst};
use crate::common::pipeline::Running;

fn counted(r: &Running, name: &str) -> u64 {
    r.service
        .state
        .metrics
        .events
        .get_metric_with_label_values(&["default", name])
        .map_or(0, |c| c.get())
}

/// The filter is installed before the resync lists are asked for, so once the
/// extensions are confirmed (the resync `seeded_burst` waits for) it is in force.
async fn run(filter: &str) -> (Running, switchboard::sim::SimHandle) {
    seeded_burst(42, "AMI_EVENT_FILTER", filter).await
}

#[actix_rt::test]
async fn filtered_and_unfiltered_runs_of_one_seeded_pbx_end_in_the_same_state() {
    let (plain, plain_sim) = run("off").await;
    let (filtered, filtered_sim) = run("auto").await;
    for (r, sim) in [(&plain, &plain_sim), (&filtered, &filtered_sim)] {
        let truth = sim.snapshot();
        assert_eq!(mismatch(r, &truth), None);
        assert_eq!(history_mismatch(r, &truth), None);
        assert!(truth.finished_total > 20, "a real burst: {truth:?}");
    }
    assert_eq!(
        plain_sim.snapshot().finished,
        filtered_sim.snapshot().finished
    );
    // Call ids carry the simulator's start time (`simpbx-<epoch>.<n>`): compare `n`.
    let outcomes = |r: &Running| {
        let mut v: Vec<_> = r
            .history()
            .into_iter()
            .map(|c| (c.id.rsplit('.').next().unwrap_or("").to_string(), c.outcome))
            .collect();
        v.sort();
        v
    };
    let (a, b) = (outcomes(&plain), outcomes(&filtered));
    assert_eq!(a.len(), b.len());
    assert!(a == b, "the same calls end the same way in both runs");
    {
        let name = "Newexten";
        assert!(counted(&plain, name) > 0, "unfiltered: {name} arrives");
        assert_eq!(counted(&filtered, name), 0, "filtered: no {name} sent");
    }
    assert_eq!(counted(&plain, "Hangup"), counted(&filtered, "Hangup"));
}
