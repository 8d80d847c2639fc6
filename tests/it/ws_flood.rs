//! A WebSocket client costs a bounded number of bytes, whatever it sends (issue #16:
//! a client that never read and sent a thousand subscribe messages made the service
//! queue a thousand snapshots).
//!
//! The must-show test runs the real binary as a child process (so its RSS is its
//! own) against the simulator with calls flowing: four clients that never read
//! each send 1,000 subscribes, while one client reads. Asserted: the bytes queued
//! for any client (`queuedBytes` in `/api/admin/actors`) stay within
//! `WS_QUEUE_BYTES` plus one snapshot, the flooders are closed with 1008, the
//! reader gets every change in order. The RSS before and after is printed (run
//! with `--nocapture`). The other tests show the merge of a burst of subscribes
//! into one snapshot with the last filter, and the message rate limit.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use crate::common::browser::free_port;
use crate::common::child::OwnedChild;
use crate::common::raw::{client_frame, RawWs, ServerFrame};
use crate::common::service::{metric_value, Options, TestService, WsClient, WsEvent};
use crate::common::wait::{wait_settled, wait_until, DEADLINE};
use serde_json::{json, Value};
use switchboard::sim::{SimConfig, SimHandle, Simulator};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// `WS_QUEUE_BYTES` of the flood test.
const QUEUE_BYTES: usize = 256 * 1024;
const FLOODERS: usize = 4;
const SUBSCRIBES: usize = 1000;
const WAIT: Duration = Duration::from_secs(30);

/// `switchboard serve` against `sim` with the flood test's bounds.
fn spawn_service(dir: &Path, sim: &SimHandle, port: u16) -> OwnedChild {
    let settings = format!(
        "AMI_HOST=127.0.0.1\nAMI_PORT={}\nAMI_USERNAME=admin\nAMI_SECRET=amisecret\n\
         DATABASE_URL=sqlite://{}\nHTTP_BIND=127.0.0.1:{port}\n\
         AMI_BACKOFF_MIN_MS=50\nAMI_BACKOFF_MAX_MS=200\n\
         WS_QUEUE_BYTES={QUEUE_BYTES}\nWS_CONTROL_RATE=100000\n",
        sim.addr().port(),
        dir.join("switchboard.db").display()
    );
    OwnedChild::serve(dir, &settings, "warn")
}

/// GET `url`: the JSON body, `Null` when the service does not answer (yet).
async fn get_json(url: &str) -> Value {
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(10))
        .finish();
    let Ok(mut res) = client.get(url).send().await else {
        return Value::Null;
    };
    let body = res.body().limit(64 << 20).await.unwrap_or_default();
    serde_json::from_slice(&body).unwrap_or(Value::Null)
}

async fn get_text(url: &str) -> String {
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(10))
        .finish();
    let Ok(mut res) = client.get(url).send().await else {
        return String::new();
    };
    let body = res.body().limit(64 << 20).await.unwrap_or_default();
    String::from_utf8_lossy(&body).into_owned()
}

fn subscribe_frame(filter: &Value) -> Vec<u8> {
    let msg = json!({"type": "subscribe", "filter": filter}).to_string();
    client_frame(0x81, msg.as_bytes(), true, None)
}

/// A client with a tiny receive buffer that upgrades and sends `SUBSCRIBES`
/// subscribe messages in one go, and never reads.
async fn flooder(addr: SocketAddr) -> TcpStream {
    let sock = tokio::net::TcpSocket::new_v4().expect("socket");
    sock.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    let mut s = sock.connect(addr).await.expect("connect");
    s.write_all(crate::common::raw::upgrade_request("/ws", "").as_bytes())
        .await
        .expect("upgrade request");
    let flood: Vec<u8> = (0..SUBSCRIBES)
        .flat_map(|_| subscribe_frame(&json!({"kind": "all"})))
        .collect();
    tokio::time::timeout(WAIT, s.write_all(&flood))
        .await
        .expect("the server takes the flood")
        .expect("flood written");
    s
}

/// Reads what the server queued for a flooder, up to its close frame: code and reason.
async fn close_of(mut s: TcpStream) -> Option<(u16, String)> {
    use futures::StreamExt;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        tokio::time::timeout(WAIT, s.read_exact(&mut byte))
            .await
            .expect("upgrade response in time")
            .expect("upgrade response");
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"));
    let mut framed =
        actix_codec::Framed::new(s, awc::ws::Codec::new().client_mode().max_size(64 << 20));
    loop {
        match tokio::time::timeout(WAIT, framed.next()).await {
            Ok(Some(Ok(awc::ws::Frame::Close(r)))) => {
                return r.map(|r| (u16::from(r.code), r.description.unwrap_or_default()))
            }
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(_))) | Ok(None) => return None,
            Err(_) => panic!("no close within {WAIT:?}"),
        }
    }
}

fn seq(v: &Value) -> u64 {
    v["seq"].as_u64().unwrap_or_else(|| panic!("seq in {v}"))
}

/// Waits until the hub's seq stops moving and returns it.
async fn settled_seq(health: &str) -> u64 {
    let seq_now = || async { get_json(health).await["data"]["websocket"]["seq"].as_u64() };
    let quiet = Duration::from_millis(250);
    wait_settled("the hub to settle", WAIT, quiet, seq_now)
        .await
        .expect("the hub's seq")
}

#[actix_rt::test]
async fn flooding_clients_cost_bounded_bytes_while_a_reader_gets_every_change() {
    let sim = Simulator::spawn(
        "127.0.0.1:0".parse().expect("loopback"),
        SimConfig {
            rate: 0.0,
            extensions: 300,
            ..SimConfig::default()
        },
    )
    .expect("simulator starts");
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let service = spawn_service(dir.path(), &sim, port);
    let base = format!("http://127.0.0.1:{port}");
    let health = format!("{base}/api/health");
    wait_until("the service to know every extension", WAIT, || async {
        get_json(&health).await["data"]["ami"]["state"] == "connected"
            && get_json(&format!("{base}/api/extensions")).await["count"] == 300
    })
    .await;
    let rss_before = service.rss_kib();

    let mut reader = WsClient::connect(&format!("ws://127.0.0.1:{port}/ws")).await;
    let snap = reader.next_json().await;
    assert_eq!(snap["type"], "snapshot");
    let s0 = seq(&snap);
    let mut snapshot_len = snap.to_string().len();
    let reader = actix_rt::spawn(async move {
        let mut msgs = Vec::new();
        loop {
            match reader.next_within(Duration::from_secs(3)).await {
                Some(WsEvent::Json(v)) => msgs.push(v),
                None => return msgs,
                Some(other) => panic!("the reading client was closed: {other:?}"),
            }
        }
    });
    sim.set_rate(400.0);

    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("address");
    let floods: Vec<_> = (0..FLOODERS)
        .map(|_| actix_rt::spawn(flooder(addr)))
        .collect();
    // Sample every session's queued bytes until each flooder has been dropped.
    let (max_queued, samples) = (std::cell::Cell::new(0u64), std::cell::Cell::new(0usize));
    wait_until(
        &format!("all {FLOODERS} flooders dropped"),
        WAIT,
        || async {
            let actors = get_json(&format!("{base}/api/admin/actors")).await;
            let rows = actors["data"].as_array().cloned().unwrap_or_default();
            for row in rows.iter().filter(|r| r["kind"] == "wsSession") {
                let queued = row["queuedBytes"]
                    .as_u64()
                    .unwrap_or_else(|| panic!("queuedBytes in {row}"));
                max_queued.set(max_queued.get().max(queued));
            }
            samples.set(samples.get() + 1);
            let dropped = metric_value(
                &get_text(&format!("{base}/metrics")).await,
                "switchboard_ws_dropped_clients_total",
            );
            if dropped >= FLOODERS as f64 {
                Ok(())
            } else {
                Err(format!("{dropped} of {FLOODERS} dropped"))
            }
        },
    )
    .await;
    let (max_queued, samples) = (max_queued.get(), samples.get());
    // Their close frames, with the reason, after what was queued for them.
    let mut flooders = Vec::new();
    for f in floods {
        flooders.push(f.await.expect("flooder"));
    }
    let closes: Vec<_> = flooders
        .into_iter()
        .map(|s| actix_rt::spawn(close_of(s)))
        .collect();
    for c in closes {
        let (code, reason) = c
            .await
            .expect("close reader")
            .expect("each flooder gets a close frame");
        assert_eq!(code, 1008, "{reason}");
        assert!(reason.contains("too slow"), "{reason}");
    }

    sim.set_rate(0.0);
    let last = settled_seq(&health).await;
    let msgs = reader.await.expect("reader");
    let seqs: Vec<u64> = msgs.iter().map(seq).collect();
    assert!(last > s0 + 100, "calls flowed ({s0} -> {last})");
    assert_eq!(
        seqs,
        (s0 + 1..=last).collect::<Vec<u64>>(),
        "the reader got every change once, in order"
    );
    let mut late = WsClient::connect(&format!("ws://127.0.0.1:{port}/ws")).await;
    snapshot_len = snapshot_len.max(late.next_json().await.to_string().len());
    let rss_after = service.rss_kib();

    let allowance = QUEUE_BYTES + snapshot_len + 64 * 1024;
    println!(
        "ws_flood: {FLOODERS} clients x {SUBSCRIBES} subscribes, WS_QUEUE_BYTES={QUEUE_BYTES}: \
         max queued for one client {max_queued} bytes over {samples} samples (snapshot {snapshot_len} bytes); \
         RSS {rss_before} KiB -> {rss_after} KiB (growth {} KiB); reader got {} changes",
        rss_after.saturating_sub(rss_before),
        seqs.len()
    );
    assert!(
        max_queued as usize <= allowance,
        "{max_queued} bytes queued for one client, over {QUEUE_BYTES} + one snapshot ({snapshot_len})"
    );
    assert!(
        rss_after.saturating_sub(rss_before) < 200 * 1024,
        "RSS grew from {rss_before} KiB to {rss_after} KiB"
    );
    let log = service.log();
    assert!(
        !log.contains("amisecret"),
        "the AMI secret stays out of the log"
    );
    late.close().await;
    sim.stop();
}

/// The filter of the `i`th of 100 subscribes: alternating, and a last one unlike
/// any other (everything), so the snapshot built for it tells that every message
/// was read.
fn burst_filter(i: usize) -> Value {
    match i {
        99 => json!({"kind": "all"}),
        i if i % 2 == 0 => json!({"kind": "calls"}),
        _ => json!({"kind": "extensions", "extensions": ["1003"]}),
    }
}

fn snapshot_extensions(snapshot: &Value) -> Vec<String> {
    let mut extens: Vec<String> = snapshot["data"]["extensions"]
        .as_array()
        .expect("extensions")
        .iter()
        .filter_map(|e| e["extension"].as_str().map(str::to_string))
        .collect();
    extens.sort_unstable();
    extens
}

#[actix_rt::test]
async fn a_burst_of_subscribes_is_merged_into_one_snapshot_with_the_last_filter() {
    let ts = TestService::with(Options::default().env("WS_CONTROL_RATE", "1000")).await;
    let mut ws = RawWs::connect(ts.addr, "/ws", "").await.expect("upgrade");
    let first = ws.next_json(WAIT).await.expect("snapshot");
    assert_eq!(first["type"], "snapshot");
    assert_eq!(snapshot_extensions(&first).len(), 50);

    // 100 subscribes in one write, then a ping.
    let burst: Vec<u8> = (0..100)
        .flat_map(|i| subscribe_frame(&burst_filter(i)))
        .collect();
    ws.send_raw(&burst).await;
    ws.send_raw(&client_frame(0x81, br#"{"type":"ping"}"#, true, None))
        .await;
    // Every snapshot the burst produced, up to the one for the last filter (only
    // a request made after the last subscribe was read can carry it, so nothing
    // follows it), and the pong.
    let mut snapshots = Vec::new();
    let mut pong = false;
    while !(pong
        && snapshots
            .last()
            .is_some_and(|s| snapshot_extensions(s).len() == 50))
    {
        let v = ws.next_json(WAIT).await.expect("snapshots and the pong");
        match v["type"].as_str() {
            Some("snapshot") => snapshots.push(v),
            Some("pong") => pong = true,
            other => panic!("unexpected {other:?}: {v}"),
        }
    }
    println!(
        "100 subscribes sent back to back: {} snapshot(s) queued",
        snapshots.len()
    );
    assert!(
        snapshots.len() <= 5,
        "100 subscribes merged into a few snapshots, not {}",
        snapshots.len()
    );
    // Then live changes, every one, from the snapshot's seq on.
    let last = snapshots.last().expect("one snapshot at least").clone();
    ts.sim.set_extension_state("1003", 1);
    ts.sim.set_extension_state("1001", 2);
    let mut changes = Vec::new();
    while !changes
        .iter()
        .any(|v: &Value| v["data"]["extension"] == "1001" && v["data"]["status"] == 2)
    {
        changes.push(ws.next_json(WAIT).await.expect("the changes"));
    }
    let seqs: Vec<u64> = changes.iter().map(seq).collect();
    assert_eq!(
        seqs,
        (seq(&last) + 1..=seq(&last) + changes.len() as u64).collect::<Vec<u64>>(),
        "live changes follow the snapshot with no gap: {changes:?}"
    );
    assert!(changes.iter().any(|v| v["data"]["extension"] == "1003"));
    ts.stop().await;
}

#[actix_rt::test]
async fn a_client_over_the_message_rate_is_told_and_closed_and_filters_are_bounded() {
    let ts = TestService::start().await;

    // A filter naming more extensions than allowed: an error, in the URL and in a message.
    let many: Vec<String> = (0..1001).map(|i| (10_000 + i).to_string()).collect();
    match RawWs::connect(ts.addr, &format!("/ws?extensions={}", many.join(",")), "").await {
        Ok(_) => panic!("a filter of 1001 extensions was accepted"),
        Err(res) => {
            assert_eq!(res.status, 400);
            assert_eq!(
                res.json()["error"]["code"],
                "TOO_MANY_EXTENSIONS",
                "{:?}",
                res.json()
            );
        }
    }
    let mut ws = RawWs::connect(ts.addr, "/ws", "").await.expect("upgrade");
    assert_eq!(
        ws.next_json(WAIT).await.expect("snapshot")["type"],
        "snapshot"
    );
    ws.send_raw(&subscribe_frame(
        &json!({"kind": "all", "extensions": many}),
    ))
    .await;
    let err = ws.next_json(WAIT).await.expect("an answer");
    assert_eq!(err["type"], "error", "{err}");
    assert_eq!(err["data"]["code"], "TOO_MANY_EXTENSIONS");

    // Under the rate (20 a second, bursts of 40) messages are answered...
    for _ in 0..10 {
        ws.send_raw(&client_frame(0x81, br#"{"type":"ping"}"#, true, None))
            .await;
        assert_eq!(ws.next_json(WAIT).await.expect("pong")["type"], "pong");
    }
    // ...over it the client is told why and closed with 1008.
    let flood: Vec<u8> = (0..200)
        .flat_map(|_| subscribe_frame(&json!({"kind": "calls"})))
        .collect();
    ws.send_raw(&flood).await;
    let mut error = None;
    let close = loop {
        match ws.next_frame(WAIT).await.expect("frames until the close") {
            ServerFrame::Text(t) => {
                let v: Value = serde_json::from_str(&t).expect("JSON");
                if v["type"] == "error" {
                    error = Some(v);
                }
            }
            ServerFrame::Close(code) => break code,
            ServerFrame::Other(_) => {}
        }
    };
    let error = error.expect("an error message before the close");
    assert_eq!(error["data"]["code"], "TOO_MANY_MESSAGES", "{error}");
    assert_eq!(close, Some(1008));
    wait_until("the flooder to be gone", DEADLINE, || async {
        ts.metric("switchboard_ws_subscribers").await == 0.0
    })
    .await;
    // The service goes on.
    let mut fresh = ts.ws("/ws").await;
    assert_eq!(fresh.next_json().await["type"], "snapshot");
    fresh.close().await;
    ts.stop().await;
}
