//! The WebSocket stream: strict order, filters, resume with exactly the missed
//! changes (or a fresh snapshot when the gap is too old), and a client that never
//! reads being conflated and closed (1008) while the others keep receiving all.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::common::service::{Options, TestService, WsClient, WsEvent};
use crate::common::wait::{wait_settled, wait_until, DEADLINE};
use serde_json::{json, Value};
use switchboard::sim::SimConfig;

fn seq(v: &Value) -> u64 {
    v["seq"].as_u64().unwrap_or_else(|| panic!("seq in {v}"))
}

/// Reads `ws` until it has seen `target` (the hub's seq), returning the changes.
async fn read_through(ws: &mut WsClient, target: u64) -> Vec<Value> {
    ws.until(&format!("seq {target}"), |v| {
        v["seq"].as_u64() >= Some(target)
    })
    .await
}

/// Waits until the hub's seq stops moving (no change for a few polls) and returns it.
async fn settled_seq(ts: &TestService) -> u64 {
    let quiet = Duration::from_millis(100);
    wait_settled("the hub to settle", DEADLINE, quiet, || ts.hub_seq()).await
}

/// `msgs` are the changes right after `from`, each once, in order; an empty list
/// fails (nothing arrived is not "in order").
#[track_caller]
fn assert_consecutive(from: u64, msgs: &[Value]) {
    assert!(!msgs.is_empty(), "no change after seq {from} to check");
    let seqs: Vec<u64> = msgs.iter().map(seq).collect();
    let expected: Vec<u64> = (from + 1..from + 1 + seqs.len() as u64).collect();
    assert_eq!(seqs, expected, "every change once, in order, no gap");
}

#[actix_rt::test]
async fn changes_arrive_in_strict_order_with_nothing_missing() {
    let ts = TestService::start().await;
    let mut ws = ts.ws("/ws").await;
    let snap = ws.next_json().await;
    assert_eq!(snap["type"], "snapshot");
    let s0 = seq(&snap);
    assert_eq!(
        snap["data"]["extensions"].as_array().map(Vec::len),
        Some(50)
    );
    assert!(snap["data"]["calls"].is_array() && snap["data"]["connections"].is_array());

    ts.sim.burst(3000);
    wait_until("the burst to be generated", DEADLINE, || async {
        ts.sim.stats().burst_pending == 0
    })
    .await;
    let last = settled_seq(&ts).await;
    assert!(last > s0 + 100, "the burst made changes ({s0} -> {last})");
    let msgs = read_through(&mut ws, last).await;
    assert_consecutive(s0, &msgs);
    let kinds: BTreeSet<&str> = msgs.iter().filter_map(|m| m["type"].as_str()).collect();
    for k in ["extension.status", "call.started", "call.ended"] {
        assert!(kinds.contains(k), "{k} among {kinds:?}");
    }
    for m in &msgs {
        assert!(
            m["ts"]
                .as_str()
                .is_some_and(|t| t.parse::<chrono::DateTime<chrono::Utc>>().is_ok()),
            "{m}"
        );
        assert!(m["data"].is_object(), "{m}");
    }
    let mut ping = ws;
    ping.send_json(&json!({"type": "ping"})).await;
    ping.until("pong", |v| v["type"] == "pong").await;
    ping.send_json(&json!({"type": "dance"})).await;
    let err = ping
        .until("an error notice", |v| v["type"] == "error")
        .await;
    assert_eq!(
        err.last().map(|v| v["data"]["code"].clone()),
        Some(json!("BAD_MESSAGE"))
    );
    ts.stop().await;
}

#[actix_rt::test]
async fn filters_by_kind_and_extension() {
    let ts = TestService::start().await;
    let mut exts = ts.ws("/ws?kind=extensions").await;
    let mut calls = ts.ws("/ws?kind=calls").await;
    let mut pair = ts.ws("/ws?extensions=1001,1002").await;
    let mut later = ts.ws("/ws?kind=calls").await;
    let snap = exts.next_json().await;
    assert_eq!(
        snap["data"]["extensions"].as_array().map(Vec::len),
        Some(50)
    );
    let snap = calls.next_json().await;
    assert_eq!(snap["data"]["extensions"].as_array().map(Vec::len), Some(0));
    let snap = pair.next_json().await;
    let mut in_snap: Vec<&str> = snap["data"]["extensions"]
        .as_array()
        .expect("extensions")
        .iter()
        .filter_map(|e| e["extension"].as_str())
        .collect();
    in_snap.sort();
    assert_eq!(in_snap, vec!["1001", "1002"]);
    later.next_json().await;
    // Switch `later` to one extension by message: a fresh snapshot, then only that one.
    later
        .send_json(
            &json!({"type": "subscribe", "filter": {"kind": "extensions", "extensions": ["1030"]}}),
        )
        .await;
    let snap = later
        .until("the new snapshot", |v| v["type"] == "snapshot")
        .await;
    let snap = snap.last().expect("snapshot");
    assert_eq!(snap["data"]["extensions"].as_array().map(Vec::len), Some(1));

    let id = ts.sim.place_call("1001", "1002");
    ts.sim.answer_call(&id);
    ts.sim.set_extension_state("1020", 1);
    ts.sim.set_extension_state("1030", 4);
    ts.sim.hangup_call(&id);
    let other = ts.sim.place_call("1040", "1041");
    ts.sim.hangup_call(&other);
    // Everyone hears refresh.completed: the end marker of this test.
    wait_until("the call ended", DEADLINE, || async {
        ts.get(&format!("/api/calls/{other}")).await.1["data"]["endedAt"].is_string()
    })
    .await;
    assert_eq!(ts.post("/api/extensions/hybrid-refresh").await.0, 200);
    let done = |v: &Value| v["type"] == "refresh.completed";

    let got = exts.until("refresh.completed", done).await;
    let ext_numbers: BTreeSet<&str> = got
        .iter()
        .filter(|v| v["type"] == "extension.status")
        .filter_map(|v| v["data"]["extension"].as_str())
        .collect();
    assert!(
        got.iter()
            .all(|v| v["type"] == "extension.status" || v["type"] == "refresh.completed"),
        "{got:?}"
    );
    for n in ["1001", "1002", "1020", "1030", "1040"] {
        assert!(ext_numbers.contains(n), "{n} in {ext_numbers:?}");
    }

    let got = calls.until("refresh.completed", done).await;
    assert!(
        got.iter()
            .all(|v| v["type"].as_str().is_some_and(|t| t.starts_with("call.")) || done(v)),
        "{got:?}"
    );
    let ids: BTreeSet<&str> = got
        .iter()
        .filter_map(|v| v["data"]["id"].as_str())
        .collect();
    assert_eq!(ids, BTreeSet::from([id.as_str(), other.as_str()]));

    let got = pair.until("refresh.completed", done).await;
    for v in got.iter().filter(|v| !done(v)) {
        match v["type"].as_str() {
            Some("extension.status") => {
                let n = v["data"]["extension"].as_str().unwrap_or("");
                assert!(n == "1001" || n == "1002", "{v}");
            }
            Some(t) if t.starts_with("call.") => assert_eq!(v["data"]["id"], id.as_str()),
            _ => panic!("unexpected for the 1001,1002 filter: {v}"),
        }
    }
    assert!(got.iter().any(|v| v["type"] == "call.ended"));

    let got = later.until("refresh.completed", done).await;
    let rest: Vec<&Value> = got.iter().filter(|v| !done(v)).collect();
    assert!(!rest.is_empty());
    for v in rest {
        assert_eq!(v["type"], "extension.status");
        assert_eq!(v["data"]["extension"], "1030");
    }
    ts.stop().await;
}

#[actix_rt::test]
async fn resume_replays_exactly_the_missed_changes() {
    let ts = TestService::start().await;
    let mut ws = ts.ws("/ws").await;
    let s0 = seq(&ws.next_json().await);
    ts.sim.set_extension_state("1041", 1);
    ts.sim.set_extension_state("1042", 1);
    let seen = ws
        .until("1042 in use", |v| v["data"]["extension"] == "1042")
        .await;
    let last_seen = seq(seen.last().expect("a change"));
    assert_consecutive(s0, &seen);
    ws.close().await;

    // Missed while away: three extension changes and a whole call.
    ts.sim.set_extension_state("1041", 0);
    ts.sim.set_extension_state("1043", 4);
    ts.sim.set_extension_state("1044", 8);
    let id = ts.sim.place_call("1045", "1046");
    ts.sim.hangup_call(&id);
    wait_until("the call ended", DEADLINE, || async {
        ts.get(&format!("/api/calls/{id}")).await.1["data"]["endedAt"].is_string()
    })
    .await;
    let now = settled_seq(&ts).await;
    assert!(now >= last_seen + 5);

    let mut back = ts.ws(&format!("/ws?lastSeq={last_seen}")).await;
    let got = back.until("resumed", |v| v["type"] == "resumed").await;
    let (replay, resumed) = got.split_at(got.len() - 1);
    assert_consecutive(last_seen, replay);
    assert_eq!(replay.last().map(seq), Some(now));
    assert_eq!(resumed[0]["data"]["replayed"], now - last_seen);
    assert_eq!(resumed[0]["data"]["seq"], now);
    assert!(replay
        .iter()
        .any(|v| v["type"] == "call.ended" && v["data"]["id"] == id.as_str()));
    // Live changes follow the replay without a gap.
    ts.sim.set_extension_state("1047", 1);
    let live = back
        .until("1047", |v| v["data"]["extension"] == "1047")
        .await;
    assert_consecutive(now, &live);

    // The same by message on an open socket.
    back.send_json(&json!({"type": "resume", "lastSeq": last_seen}))
        .await;
    let again = back.until("resumed", |v| v["type"] == "resumed").await;
    let (replay2, resumed2) = again.split_at(again.len() - 1);
    assert_consecutive(last_seen, replay2);
    assert!(
        replay2.len() as u64 > now - last_seen,
        "the missed changes and 1047 again, got {}",
        replay2.len()
    );
    assert_eq!(resumed2[0]["data"]["replayed"], replay2.len());

    // A lastSeq from the future (a restarted service) gets a snapshot.
    let mut future = ts.ws(&format!("/ws?lastSeq={}", now + 1_000_000)).await;
    assert_eq!(future.next_json().await["type"], "snapshot");
    let (status, body) = ts.get("/ws?lastSeq=abc").await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "INVALID_QUERY");
    let (status, _) = ts.get("/ws?kind=everything").await;
    assert_eq!(status, 400);
    ts.stop().await;
}

#[actix_rt::test]
async fn resume_after_a_gap_older_than_the_history_gets_a_snapshot() {
    let ts = TestService::with(Options::default().env("WS_HISTORY", "5")).await;
    let mut ws = ts.ws("/ws").await;
    let s0 = seq(&ws.next_json().await);
    ws.close().await;
    for (i, n) in (1010..1030).enumerate() {
        ts.sim
            .set_extension_state(&n.to_string(), if i % 2 == 0 { 1 } else { 4 });
    }
    ts.wait_extension_status("1029", 4).await;
    let now = settled_seq(&ts).await;
    assert!(now >= s0 + 20);
    let mut back = ts.ws(&format!("/ws?lastSeq={s0}")).await;
    let first = back.next_json().await;
    assert_eq!(first["type"], "snapshot", "{first}");
    assert_eq!(seq(&first), now);
    let exts = first["data"]["extensions"].as_array().expect("extensions");
    let e1029 = exts
        .iter()
        .find(|e| e["extension"] == "1029")
        .expect("1029");
    assert_eq!(e1029["status"], 4);
    // Within the history it is a replay again.
    let mut near = ts.ws(&format!("/ws?lastSeq={}", now - 3)).await;
    let got = near.until("resumed", |v| v["type"] == "resumed").await;
    assert_eq!(got.len(), 4, "the last 3 changes, then resumed");
    assert_consecutive(now - 3, &got[..got.len() - 1]);
    ts.stop().await;
}

/// A WebSocket client with a tiny receive buffer that never reads: it does the
/// upgrade by hand and then leaves the socket alone.
async fn never_reading_client(addr: std::net::SocketAddr) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let sock = tokio::net::TcpSocket::new_v4().expect("socket");
    sock.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    let mut s = sock.connect(addr).await.expect("connect");
    s.write_all(
        b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .await
    .expect("upgrade request");
    s
}

/// Reads everything the server queued for `s`: JSON seqs and the close frame, if any.
async fn read_to_close(mut s: tokio::net::TcpStream) -> (Vec<u64>, Option<(u16, String)>) {
    use futures::StreamExt;
    use tokio::io::AsyncReadExt;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte).await.expect("upgrade response");
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    let mut framed =
        actix_codec::Framed::new(s, awc::ws::Codec::new().client_mode().max_size(64 << 20));
    let mut seqs = Vec::new();
    loop {
        match tokio::time::timeout(DEADLINE, framed.next()).await {
            Ok(Some(Ok(awc::ws::Frame::Text(b)))) => {
                #[derive(serde::Deserialize)]
                struct Head<'a> {
                    seq: u64,
                    #[serde(rename = "type", borrow)]
                    kind: &'a str,
                }
                let h: Head<'_> = serde_json::from_slice(&b).expect("JSON");
                if h.kind != "snapshot" {
                    seqs.push(h.seq);
                }
            }
            Ok(Some(Ok(awc::ws::Frame::Close(r)))) => {
                return (
                    seqs,
                    r.map(|r| (u16::from(r.code), r.description.unwrap_or_default())),
                )
            }
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(e))) => panic!("bad frame after {} messages: {e}", seqs.len()),
            Ok(None) => return (seqs, None),
            Err(_) => panic!("nothing more and no close within {DEADLINE:?}"),
        }
    }
}

#[actix_rt::test]
async fn a_client_that_never_reads_is_dropped_while_others_get_everything() {
    let opts = Options {
        sim: SimConfig {
            rate: 0.0,
            extensions: 200,
            ..SimConfig::default()
        },
        ..Options::default()
    }
    .env("WS_QUEUE", "8");
    let ts = TestService::with(opts).await;
    let mut good = ts.ws("/ws").await;
    let s0 = seq(&good.next_json().await);
    let slow = never_reading_client(ts.addr).await;
    wait_until("two subscribers", DEADLINE, || async {
        ts.get("/api/health").await.1["data"]["websocket"]["subscribers"] == 2
    })
    .await;

    let reader = actix_rt::spawn(async move {
        let mut msgs = Vec::new();
        loop {
            match good.next_within(Duration::from_secs(3)).await {
                Some(WsEvent::Json(v)) => msgs.push(v),
                None => return (good, msgs),
                Some(other) => panic!("the good client was closed: {other:?}"),
            }
        }
    });
    ts.sim.set_rate(1000.0);
    wait_until("the slow client to be dropped", DEADLINE, || async {
        ts.metric("switchboard_ws_dropped_clients_total").await >= 1.0
    })
    .await;
    // Read what was queued for the slow client now: the server gives a closed
    // connection about a second (actix's client_disconnect_timeout) to take it.
    let slow = actix_rt::spawn(read_to_close(slow));
    ts.sim.set_rate(0.0);
    let last = settled_seq(&ts).await;
    assert!(
        ts.metric("switchboard_ws_conflated_total").await > 0.0,
        "conflated first"
    );
    let (_good, msgs) = reader.await.expect("reader");
    assert_consecutive(s0, &msgs);
    assert_eq!(
        msgs.last().map(seq),
        Some(last),
        "the good client got everything"
    );
    assert_eq!(ts.metric("switchboard_ws_dropped_clients_total").await, 1.0);

    // The slow client gets what was already on its way, in order, and then the
    // 1008 close frame queued after it (see the transport's control reserve): the
    // session keeps the connection until that frame has gone out.
    let (seqs, close) = slow.await.expect("slow reader");
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "still in order");
    let (code, reason) = close.expect("the slow client is told why it is closed");
    assert_eq!(code, 1008);
    assert!(reason.contains("too slow"), "{reason}");
    ts.stop().await;
}
