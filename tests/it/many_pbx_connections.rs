//! Twenty PBXs logging in at once: every connection's `connected` reaches the live
//! state the WebSocket snapshot is built from, not only health.
//!
//! While 2,000 extensions load the hub's mailbox is full; a connection change sent
//! with `try_send` was dropped there, and pages showed PBXs as connecting for good.

use crate::common::service::{Options, TestService};
use crate::common::wait::{wait_until, DEADLINE};
use serde_json::Value;
use switchboard::sim::{SimConfig, SimHandle, Simulator};

const PBXS: usize = 20;
const PER_PBX: u32 = 100;

fn sim_config(i: usize) -> SimConfig {
    SimConfig {
        rate: 0.0,
        extensions: PER_PBX,
        seed: 300 + i as u64,
        system_name: format!("sim{:02}", i + 1),
        ..SimConfig::default()
    }
}

#[actix_rt::test]
async fn every_connected_reaches_the_snapshot() {
    let sims: Vec<SimHandle> = (0..PBXS)
        .map(|i| {
            Simulator::spawn(
                "127.0.0.1:0".parse().expect("loopback address"),
                sim_config(i),
            )
            .expect("starting a simulator")
        })
        .collect();
    let names: Vec<String> = (1..=PBXS).map(|i| format!("p{i:02}")).collect();
    let mut opts = Options {
        sim: sim_config(0),
        wait_ready: false,
        ..Options::default()
    }
    .env("AMI_PBXS", names.join(","));
    for (name, sim) in names.iter().zip(&sims) {
        // Options keys are static names; these twenty live as long as the test anyway.
        let port: &'static str = Box::leak(format!("AMI_{}_PORT", name.to_uppercase()).into());
        opts = opts.env(port, sim.addr().port().to_string());
    }
    let mut rest = sims.into_iter();
    let first = rest.next().expect("twenty simulators");
    let others: Vec<SimHandle> = rest.collect();
    let ts = TestService::with_sim(first, opts).await;

    wait_until("health to show every PBX connected", DEADLINE, || async {
        let h = ts.get("/api/health").await.1;
        h["data"]["pbxs"]
            .as_array()
            .is_some_and(|l| l.len() == PBXS && l.iter().all(|p| p["state"] == "connected"))
    })
    .await;
    let total = u64::from(PER_PBX) * PBXS as u64;
    wait_until("every extension loaded", DEADLINE, || async {
        ts.get("/api/extensions").await.1["count"].as_u64() == Some(total)
    })
    .await;

    let mut ws = ts.ws("/ws").await;
    let snapshot = ws.next_json().await;
    assert_eq!(snapshot["type"], "snapshot");
    let mut states: Vec<(String, String)> = snapshot["data"]["connections"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|c: &Value| {
            (
                c["pbx"].as_str().unwrap_or_default().to_string(),
                c["state"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    states.sort();
    let expected: Vec<(String, String)> = names
        .iter()
        .map(|n| (n.clone(), "connected".to_string()))
        .collect();
    assert_eq!(states, expected, "the snapshot's connections");
    ws.close().await;
    ts.stop().await;
    for sim in others {
        sim.stop();
    }
}
