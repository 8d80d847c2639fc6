//! Fifty PBXs in one service (issue #21): the board never keeps showing a PBX in a
//! state it has left. Every simulated PBX starts at once; then a third of them are
//! killed (their simulators stop: listener and sockets closed) and later started
//! again on the same ports. At every step three views must agree for every PBX, on
//! the state and on when it began: `/api/health`, the snapshot a fresh WebSocket
//! client gets, and the live `ami.connection` stream of a client connected from the
//! start (its snapshot plus every change applied in order). Each agreement is
//! awaited with one bounded wait; how long it took is printed
//! (`cargo test --test it many_pbx_board:: -- --nocapture`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::common::service::{Options, TestService, WsEvent};
use crate::common::wait::wait_until;
use crate::common::ws_recorder::WsRecorder;
use serde_json::Value;
use switchboard::sim::{SimConfig, SimHandle, Simulator};

const PBXS: usize = 50;
/// How long the three views may disagree after a step before the test fails.
const AGREE_WITHIN: Duration = Duration::from_secs(30);

/// Per PBX: its connection state and since when (as the JSON carries it).
type Board = BTreeMap<String, (String, String)>;

fn name(i: usize) -> String {
    format!("p{:02}", i + 1)
}

fn sim_config() -> SimConfig {
    SimConfig {
        rate: 0.0,
        extensions: 20,
        ..SimConfig::default()
    }
}

fn spawn_sim(addr: SocketAddr) -> SimHandle {
    Simulator::spawn(addr, sim_config()).expect("simulator starts")
}

fn entry(c: &Value) -> Option<(String, (String, String))> {
    Some((
        c["pbx"].as_str()?.to_string(),
        (
            c["state"].as_str()?.to_string(),
            c["since"].as_str()?.to_string(),
        ),
    ))
}

async fn health_board(ts: &TestService) -> Board {
    let (_, h) = ts.get("/api/health").await;
    h["data"]["pbxs"]
        .as_array()
        .map(|list| list.iter().filter_map(entry).collect())
        .unwrap_or_default()
}

/// The connections of the snapshot a new client receives first.
async fn snapshot_board(ts: &TestService) -> Board {
    let mut ws = ts.ws("/ws").await;
    let first = ws.next_within(Duration::from_secs(10)).await;
    let board = match first {
        Some(WsEvent::Json(v)) => {
            assert_eq!(v["type"], "snapshot", "a new client's first message");
            v["data"]["connections"]
                .as_array()
                .map(|list| list.iter().filter_map(entry).collect())
                .unwrap_or_default()
        }
        other => panic!("expected a snapshot, got {other:?}"),
    };
    ws.close().await;
    board
}

/// What a dashboard connected from the start shows: its snapshot with every
/// `ami.connection` change applied in order.
fn live_board(rec: &WsRecorder) -> Board {
    let mut board = Board::new();
    for m in rec.messages() {
        match m["type"].as_str() {
            Some("snapshot") => {
                board = m["data"]["connections"]
                    .as_array()
                    .map(|list| list.iter().filter_map(entry).collect())
                    .unwrap_or_default();
            }
            Some("ami.connection") => {
                if let Some((pbx, v)) = entry(&m["data"]) {
                    board.insert(pbx, v);
                }
            }
            _ => {}
        }
    }
    board
}

/// Waits (bounded) until health, a fresh snapshot and the live stream show the
/// same state, since the same moment, for all `PBXS` PBXs, and `expect` holds for
/// each PBX's state; prints how long that took.
async fn agree(
    step: &str,
    ts: &TestService,
    rec: &WsRecorder,
    expect: impl Fn(&str, &str) -> bool,
) {
    let started = Instant::now();
    let what = format!("{step}: health, snapshot and live stream to agree");
    wait_until(&what, AGREE_WITHIN, || async {
        let health = health_board(ts).await;
        let snapshot = snapshot_board(ts).await;
        let live = live_board(rec);
        let expected =
            health.len() == PBXS && health.iter().all(|(pbx, (state, _))| expect(pbx, state));
        if expected && snapshot == health && live == health {
            Ok(())
        } else {
            Err(describe(&health, &snapshot, &live))
        }
    })
    .await;
    println!(
        "many_pbx_board: {step}: health, snapshot and live stream agree for {PBXS} PBXs after {:.0} ms",
        started.elapsed().as_secs_f64() * 1000.0
    );
}

fn describe(health: &Board, snapshot: &Board, live: &Board) -> String {
    let mut out = Vec::new();
    for (pbx, h) in health {
        let (s, l) = (snapshot.get(pbx), live.get(pbx));
        if s != Some(h) || l != Some(h) {
            out.push(format!("{pbx}: health {h:?}, snapshot {s:?}, live {l:?}"));
        }
    }
    out.push(format!(
        "({} in health, {} in snapshot, {} live)",
        health.len(),
        snapshot.len(),
        live.len()
    ));
    out.join("; ")
}

#[actix_rt::test]
async fn fifty_pbxs_health_snapshot_and_live_stream_agree_through_outages() {
    let sims: Vec<SimHandle> = (0..PBXS)
        .map(|_| spawn_sim("127.0.0.1:0".parse().expect("loopback")))
        .collect();
    let mut opts = Options {
        sim: sim_config(),
        wait_ready: false,
        ..Options::default()
    }
    .env(
        "AMI_PBXS",
        (0..PBXS).map(name).collect::<Vec<_>>().join(","),
    )
    // Steady back-off, so a stopped PBX's state changes about once a second.
    .env("AMI_BACKOFF_MIN_MS", "1000")
    .env("AMI_BACKOFF_MAX_MS", "1000");
    for (i, sim) in sims.iter().enumerate() {
        let key: &'static str = Box::leak(format!("AMI_P{:02}_PORT", i + 1).into_boxed_str());
        opts = opts.env(key, sim.addr().port().to_string());
    }
    let started = Instant::now();
    let ts = TestService::with_sim(sims[0].clone(), opts).await;
    let rec = WsRecorder::start(ts.ws("/ws").await);
    agree("all connected", &ts, &rec, |_, s| s == "connected").await;
    println!(
        "many_pbx_board: {PBXS} PBXs connected and shown alike {:.0} ms after start",
        started.elapsed().as_secs_f64() * 1000.0
    );

    // Kill every third PBX.
    let killed: Vec<usize> = (0..PBXS).filter(|i| i % 3 == 0).collect();
    let addrs: Vec<SocketAddr> = sims.iter().map(|s| s.addr()).collect();
    let mut sims: Vec<Option<SimHandle>> = sims.into_iter().map(Some).collect();
    for &i in &killed {
        if let Some(sim) = sims[i].take() {
            sim.stop();
        }
    }
    let down: Vec<String> = killed.iter().map(|&i| name(i)).collect();
    let is_down = |pbx: &str| down.iter().any(|d| d == pbx);
    agree("a third killed", &ts, &rec, |pbx, s| {
        if is_down(pbx) {
            s == "backingOff" || s == "connecting"
        } else {
            s == "connected"
        }
    })
    .await;
    // Still down a few back-off rounds later: the views keep agreeing.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    agree("a third still down", &ts, &rec, |pbx, s| {
        (s == "connected") != is_down(pbx)
    })
    .await;

    // Start them again on the same ports.
    for &i in &killed {
        sims[i] = Some(spawn_sim(addrs[i]));
    }
    agree("all back", &ts, &rec, |_, s| s == "connected").await;
    let (_, h) = ts.get("/api/health").await;
    assert_eq!(h["data"]["status"], "ok", "health after the outage: {h}");
    for &i in &killed {
        let reconnects = h["data"]["pbxs"][i]["reconnects"].as_u64();
        assert_eq!(
            (
                h["data"]["pbxs"][i]["pbx"].as_str(),
                reconnects.map(|r| r >= 1)
            ),
            (Some(name(i).as_str()), Some(true)),
            "{} reconnected",
            name(i)
        );
    }
    ts.stop().await;
    for sim in sims.into_iter().flatten() {
        sim.stop();
    }
}
