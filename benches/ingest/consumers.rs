//! The consumers: the minimal split + parse loop (the ceiling) and the whole
//! service, and what the service must have counted and routed.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use switchboard::actors::hub::GetHubStats;
use switchboard::actors::router::GetRouterStats;
use switchboard::ami::{AmiCodec, AmiMessage, Frame, Limits};
use switchboard::app;
use switchboard::config::Config;
use switchboard::store::Flush;
use tokio_util::codec::Decoder;

use crate::server::Server;
use crate::threads::{cpu_by_thread, spent};
use crate::{mono_ns, DEADLINE};

/// The ceiling: split on the blank line, parse into borrowed pairs, count events.
pub(crate) fn minimal(port: u16) -> (u64, u64) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.write_all(
        b"Action: Login\r\nUsername: minimal\r\nSecret: x\r\n\r\n\
          Action: CoreShowChannels\r\n\r\nAction: ExtensionStateList\r\n\r\n",
    )
    .expect("login");
    let mut buf = vec![0u8; 1 << 20];
    let (mut filled, mut events) = (0usize, 0u64);
    loop {
        if filled == buf.len() {
            buf.resize(buf.len() * 2, 0);
        }
        let n = s.read(&mut buf[filled..]).expect("read");
        if n == 0 {
            break;
        }
        filled += n;
        let mut at = 0;
        // One per read: the pairs borrow this read's buffer.
        let mut pairs: Vec<(&[u8], &[u8])> = Vec::with_capacity(64);
        while let Some(end) = memchr::memmem::find(&buf[at..filled], b"\r\n\r\n") {
            let msg = &buf[at..at + end];
            pairs.clear();
            for line in msg.split(|&b| b == b'\n') {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                if let Some(c) = memchr::memchr(b':', line) {
                    pairs.push((&line[..c], line[c + 1..].trim_ascii_start()));
                }
            }
            events += u64::from(pairs.first().is_some_and(|(k, _)| *k == b"Event"));
            at += end + 4;
        }
        buf.copy_within(at..filled, 0);
        filled -= at;
    }
    (events, mono_ns())
}

/// What switchboard must have done at the end of one pass: (events counted, events
/// routed), from the corpus itself decoded the way the service decodes it.
pub(crate) fn expected(corpus: &[u8]) -> (u64, u64) {
    let mut codec = AmiCodec::new(Limits::default()).skip_unread(true);
    let mut buf = BytesMut::from(corpus);
    let (mut counted, mut routed) = (0, 0);
    while let Ok(Some(frame)) = codec.decode_eof(&mut buf) {
        match frame {
            Frame::Skipped(_) => counted += 1,
            Frame::Message(m) => {
                if let Ok(AmiMessage::Event(_)) = AmiMessage::classify(m) {
                    counted += 1;
                    routed += 1;
                }
            }
            _ => {}
        }
    }
    (counted, routed)
}

pub(crate) fn counted(service: &app::Service) -> u64 {
    let family = service.state.metrics.events.clone();
    switchboard::ami::event_names::KNOWN
        .iter()
        .chain(&[switchboard::ami::event_names::OTHER])
        .map(|n| {
            family
                .get_metric_with_label_values(&["default", n])
                .map_or(0, |c| c.get())
        })
        .sum()
}

/// The whole service, logged in to the server on `port` with SQLite in `dir` and
/// the event filter off (the server sends everything, like a PBX without filters).
pub(crate) async fn start_service(port: u16, dir: &std::path::Path) -> app::Service {
    let mut vars: HashMap<&str, String> = HashMap::new();
    vars.insert("AMI_PORT", port.to_string());
    vars.insert("AMI_AUTH", "plain".into());
    vars.insert("AMI_USERNAME", "switchboard".into());
    vars.insert("AMI_SECRET", "x".into());
    vars.insert("AMI_EVENT_FILTER", "off".into());
    vars.insert("AMI_PING_INTERVAL_MS", "600000".into());
    vars.insert("AMI_PING_TIMEOUT_MS", "600000".into());
    vars.insert("HTTP_BIND", "127.0.0.1:0".into());
    let db = format!("sqlite://{}", dir.join("ingest.db").display());
    vars.insert("DATABASE_URL", db);
    let config = Config::from_lookup(|k| vars.get(k).cloned()).expect("config");
    app::start(config).await.expect("service")
}

/// Waits until `service` has counted `count` events and routed `routed`, the hub
/// has published every change that follows from them and the store writer has
/// committed them all. Returns when that was (CLOCK_MONOTONIC ns).
pub(crate) async fn drained(service: &app::Service, count: u64, routed: u64) -> u64 {
    let router = service.state.pbxs[0].router.clone();
    let end = Instant::now() + DEADLINE;
    loop {
        let c = counted(service);
        if c >= count && router.send(GetRouterStats).await.expect("router").routed >= routed {
            break;
        }
        assert!(
            Instant::now() < end,
            "ingest never finished ({c} of {count} counted)"
        );
        actix_rt::time::sleep(Duration::from_millis(1)).await;
    }
    let mut last = u64::MAX;
    loop {
        let seq = service.state.hub.send(GetHubStats).await.expect("hub").0;
        if seq == last {
            break;
        }
        last = seq;
        actix_rt::time::sleep(Duration::from_millis(1)).await;
    }
    service.state.writer.send(Flush).await.expect("flush");
    mono_ns()
}

/// Runs the whole service against one pass of the server's corpus; (events/s,
/// every event counted).
pub(crate) async fn switchboard_run(server: &mut Server, want: (u64, u64)) -> (f64, bool) {
    let dir = tempfile::tempdir().expect("tempdir");
    let before = cpu_by_thread();
    let service = start_service(server.port, dir.path()).await;
    // FullyBooted comes on top of the corpus.
    let (count, routed) = (want.0 + 1, want.1 + 1);
    let finished = drained(&service, count, routed).await;
    let all = counted(&service) == count;
    // Read before the service's threads end with it.
    let cpu = spent(&before, &cpu_by_thread());
    let store = service
        .state
        .writer
        .send(switchboard::store::GetStoreHealth)
        .await
        .expect("store health");
    println!(
        "  switchboard's {cpu}; store ops written {}, merged into a pending one {}",
        store.writes_total, store.coalesced
    );
    service.shutdown().await;
    let start = server.streamed();
    ((count - 1) as f64 / ((finished - start) as f64 / 1e9), all)
}
