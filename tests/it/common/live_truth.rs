//! Comparing switchboard's live view with the simulator's ground truth
//! ([`switchboard::sim::PbxSnapshot`]): extension states and active calls (id,
//! parties, direction, state, transfers), and the finished calls in the store.

use super::wait::{wait_until, DEADLINE};
use std::collections::BTreeMap;

use switchboard::sim::{PbxSnapshot, SimHandle};

use super::pipeline::Running;

/// The first difference between switchboard's live view and `truth`, if any.
pub fn mismatch(r: &Running, truth: &PbxSnapshot) -> Option<String> {
    let live = r.live_extensions();
    for (exten, status) in &truth.extensions {
        let got = live.get(exten).map(|e| e.status.0);
        if got != Some(*status) {
            return Some(format!("extension {exten}: {got:?} vs {status}"));
        }
    }
    let calls: BTreeMap<String, _> = r
        .live_calls()
        .into_iter()
        .map(|c| (c.id.clone(), c))
        .collect();
    if calls.len() != truth.calls.len() {
        return Some(format!(
            "{} active calls vs {}",
            calls.len(),
            truth.calls.len()
        ));
    }
    for t in &truth.calls {
        let Some(c) = calls.get(&t.linkedid) else {
            return Some(format!("call {} missing", t.linkedid));
        };
        let got = (
            c.caller.number.clone().unwrap_or_default(),
            c.callee.number.clone().unwrap_or_default(),
            c.direction,
            c.state,
            c.transfers.len() as u32,
        );
        let want = (
            t.caller.clone(),
            t.callee.clone(),
            t.direction,
            t.state,
            t.transfers,
        );
        if got != want {
            return Some(format!("call {}: {got:?} vs {want:?}", t.linkedid));
        }
    }
    None
}

/// Waits until the live view equals the simulator's truth.
pub async fn wait_matches(r: &Running, sim: &SimHandle) {
    wait_until(
        "the live view to match the simulator's snapshot",
        DEADLINE,
        || async { mismatch(r, &sim.snapshot()).is_none() },
    )
    .await;
}

/// The stored history against the truth: one call per finished call, outcomes as
/// the simulator counted them.
pub fn history_mismatch(r: &Running, truth: &PbxSnapshot) -> Option<String> {
    let history = r.history();
    if history.len() as u64 != truth.finished_total {
        return Some(format!(
            "{} stored calls vs {} finished",
            history.len(),
            truth.finished_total
        ));
    }
    let mut outcomes: BTreeMap<String, u64> = BTreeMap::new();
    for c in &history {
        *outcomes
            .entry(
                c.outcome
                    .map(|o| o.as_str().to_string())
                    .unwrap_or_default(),
            )
            .or_default() += 1;
    }
    (outcomes != truth.finished).then(|| format!("outcomes {outcomes:?} vs {:?}", truth.finished))
}

/// The service, with `key=value` on top of the test defaults, against a quiet
/// simulated PBX (`seed`, 30 extensions): connected and resynchronised, then a
/// 20,000-event burst, returned once its live view and history match the
/// simulator's truth and it is quiet. For tests that run one seeded PBX under
/// two settings and compare.
pub async fn seeded_burst(seed: u64, key: &str, value: &str) -> (Running, SimHandle) {
    use super::pipeline::{quiet_sim, start, Setup};
    use switchboard::model::AmiConnectionState;

    let sim = quiet_sim(seed, 30);
    let r = start(Setup::new(sim.addr()).with(key, value))
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
