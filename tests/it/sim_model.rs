//! The simulated PBX: deterministic from its seed, and its events agree with its own
//! ground truth (so a test may compare switchboard's view with the snapshot).

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::common::sim_client::{quiet_sim, sim_with, Client};
use crate::common::wait::{wait_until, DEADLINE};
use switchboard::ami::RawMessage;
use switchboard::sim::{SimConfig, SimHandle};

/// Logs in, waits for FullyBooted, bursts `n` events and collects every event the
/// burst wrote (at least `n`: a burst ends its last call step).
async fn burst_events(sim: &SimHandle, n: usize) -> Vec<RawMessage> {
    let mut c = Client::connect(sim.addr()).await;
    c.login("admin", "amisecret").await;
    c.wait_event("FullyBooted", |_| true).await;
    c.events.clear();
    let before = sim.stats().events;
    sim.burst(n as u64);
    wait_until("sim.stats().burst_pending == 0", DEADLINE, || async {
        sim.stats().burst_pending == 0
    })
    .await;
    let total = (sim.stats().events - before) as usize;
    assert!(total >= n);
    let mut out = Vec::with_capacity(total);
    while out.len() < total {
        out.push(c.next().await);
    }
    out
}

/// The fields of an event that do not depend on the clock.
fn shape(m: &RawMessage) -> Vec<String> {
    [
        "Event",
        "Exten",
        "Status",
        "DialStatus",
        "Cause",
        "CallerIDNum",
        "ConnectedLineNum",
        "State",
        "Device",
    ]
    .iter()
    .filter_map(|k| m.get(k).map(|v| format!("{k}={v}")))
    .collect()
}

#[tokio::test]
async fn the_same_seed_gives_the_same_events() {
    let cfg = SimConfig {
        rate: 0.0,
        seed: 42,
        ..SimConfig::default()
    };
    let a = sim_with(cfg.clone());
    let b = sim_with(cfg);
    let ea = burst_events(&a, 1_000).await;
    let eb = burst_events(&b, 1_000).await;
    let sa: Vec<_> = ea.iter().take(1_000).map(shape).collect();
    let sb: Vec<_> = eb.iter().take(1_000).map(shape).collect();
    assert_eq!(sa, sb);
    assert_eq!(a.snapshot().extensions, b.snapshot().extensions);
    let other = sim_with(SimConfig {
        rate: 0.0,
        seed: 43,
        ..SimConfig::default()
    });
    let so: Vec<_> = burst_events(&other, 1_000)
        .await
        .iter()
        .take(1_000)
        .map(shape)
        .collect();
    assert_ne!(sa, so);
}

#[tokio::test]
async fn events_agree_with_the_ground_truth() {
    let sim = quiet_sim();
    let events = burst_events(&sim, 5_000).await;
    // Stop generating: the burst is fully delivered, so the snapshot matches the stream.
    let snap = sim.snapshot();

    let mut status: BTreeMap<String, i32> = (1001..1051).map(|n| (n.to_string(), 0)).collect();
    let mut created = HashSet::new();
    let mut hung = HashSet::new();
    let mut dials: HashMap<String, i32> = HashMap::new();
    let mut names = HashSet::new();
    for m in &events {
        let name = m.get("Event").unwrap();
        names.insert(name.to_string());
        let uid = m.get("Uniqueid").unwrap_or("").to_string();
        match name {
            "ExtensionStatus" => {
                status.insert(
                    m.get("Exten").unwrap().to_string(),
                    m.get("Status").unwrap().parse().unwrap(),
                );
            }
            "Newchannel" => assert!(created.insert(uid)),
            "Hangup" => {
                assert!(created.contains(&uid), "Hangup of an unknown channel {uid}");
                assert!(hung.insert(uid), "channel hung up twice");
                assert!(m.get("Cause-txt").is_some());
            }
            "DialBegin" => {
                *dials
                    .entry(m.get("DestUniqueid").unwrap().to_string())
                    .or_default() += 1
            }
            "DialEnd" => {
                let d = dials
                    .entry(m.get("DestUniqueid").unwrap().to_string())
                    .or_default();
                *d -= 1;
                assert_eq!(*d, 0, "DialEnd without DialBegin");
            }
            _ => {}
        }
    }
    assert_eq!(
        status, snap.extensions,
        "last ExtensionStatus per extension = ground truth"
    );
    let live_channels = created.difference(&hung).count();
    let live_linkedids: HashSet<_> = snap.calls.iter().map(|c| c.linkedid.clone()).collect();
    assert!(live_channels >= live_linkedids.len());
    for expected in [
        "Newchannel",
        "DialBegin",
        "DialEnd",
        "BridgeEnter",
        "Hold",
        "MusicOnHoldStart",
        "Hangup",
        "DeviceStateChange",
    ] {
        assert!(names.contains(expected), "no {expected} in 5000 events");
    }
    assert!(snap.finished_total > 0);
}

#[tokio::test]
async fn a_rate_produces_traffic_and_zero_stops_it() {
    let sim = quiet_sim();
    sim.set_rate(2_000.0);
    wait_until("sim.stats().events > 500", DEADLINE, || async {
        sim.stats().events > 500
    })
    .await;
    sim.set_rate(0.0);
    let before = {
        // Once stopped, the count settles.
        let mut last = sim.stats().events;
        wait_until("the event count to settle", DEADLINE, || {
            let now = sim.stats().events;
            let settled = now == last;
            last = now;
            std::future::ready(settled)
        })
        .await;
        last
    };
    wait_until("sim.stats().events == before", DEADLINE, || async {
        sim.stats().events == before
    })
    .await;
}
