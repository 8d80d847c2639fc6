//! The load client: WebSocket subscribers on their own threads, each recording
//! the seq (and, while asked, the latency) of every message it gets.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::{SinkExt, StreamExt};

use crate::positive_env;

/// What one subscriber saw.
#[derive(Default)]
pub(crate) struct Seen {
    pub(crate) count: u64,
    pub(crate) first: u64,
    pub(crate) last: u64,
    pub(crate) gaps: u64,
    pub(crate) closed: bool,
    /// Receipt − event time as the message's `ts` gives it, in microseconds (only
    /// while `record` is set). `ts` is truncated to the millisecond (the API's
    /// format), so this is up to 1 ms more than the latency; [`crate::probe`] has
    /// the exact event times by seq.
    pub(crate) lat_us: Vec<i64>,
    /// Receipt time (microseconds since the epoch) of each `lat_us` sample.
    pub(crate) recv_us: Vec<i64>,
    /// The seq of each `lat_us` sample.
    pub(crate) seqs: Vec<u64>,
}

/// The head of a message, `{"seq":N,"type":"…","ts":"…",…`, read by scanning its
/// first bytes: the server always writes these three fields first, and a subscriber
/// that only counts does not need to parse the rest. On a 2-core machine the load
/// client shares the CPU with the service; parsing every `data` with serde (as a
/// first version of this bench did) made the client the bottleneck it measured.
/// Anything that does not start this way falls back to serde.
fn head(b: &[u8]) -> Option<Head<'_>> {
    fn fast(b: &[u8]) -> Option<Head<'_>> {
        let rest = b.strip_prefix(br#"{"seq":"#)?;
        let end = rest.iter().position(|c| !c.is_ascii_digit())?;
        let seq = std::str::from_utf8(&rest[..end]).ok()?.parse().ok()?;
        let rest = rest[end..].strip_prefix(br#","type":""#)?;
        let end = rest.iter().position(|&c| c == b'"')?;
        let kind = std::str::from_utf8(&rest[..end]).ok()?;
        let rest = rest[end..].strip_prefix(br#"","ts":""#)?;
        let end = rest.iter().position(|&c| c == b'"')?;
        let ts = std::str::from_utf8(&rest[..end]).ok()?;
        Some(Head { seq, kind, ts })
    }
    fast(b).or_else(|| serde_json::from_slice::<Head<'_>>(b).ok())
}

#[derive(serde::Deserialize)]
struct Head<'a> {
    seq: u64,
    #[serde(rename = "type", borrow)]
    kind: &'a str,
    #[serde(borrow)]
    ts: &'a str,
}

pub(crate) type Shared = Arc<Mutex<Seen>>;

/// Locks a subscriber's record (a poisoned lock only means a client thread
/// panicked; what it recorded is still good to read).
pub(crate) fn seen(s: &Shared) -> MutexGuard<'_, Seen> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

/// Threads the subscribers are spread over (`E2E_CLIENT_THREADS`, default 2). On
/// one thread the load client itself was the bottleneck: it spent all of a core on
/// receiving while the service left 40 % of the machine idle, so the latencies it
/// measured were mostly its own queueing.
fn client_threads() -> usize {
    positive_env("E2E_CLIENT_THREADS", 2)
}

/// Connects `n` subscribers to `url`, spread over [`client_threads`] threads each
/// with its own actix runtime and awc client; a thread ends once all of its
/// subscribers' connections have closed (the service's shutdown closes them).
pub(crate) async fn subscribe(url: &str, n: usize, record: Arc<AtomicBool>) -> Vec<Shared> {
    let threads = client_threads().min(n.max(1));
    let all: Vec<Shared> = (0..n).map(|_| Shared::default()).collect();
    for t in 0..threads {
        let mine: Vec<Shared> = all.iter().skip(t).step_by(threads).cloned().collect();
        let (url, record) = (url.to_string(), record.clone());
        std::thread::Builder::new()
            .name(format!("e2e-client-{t}"))
            .spawn(move || {
                actix_rt::System::new().block_on(async move {
                    let client = ws_client();
                    let mut tasks = Vec::with_capacity(mine.len());
                    for seen in mine {
                        tasks.push(actix_rt::spawn(receive(
                            client.clone(),
                            url.clone(),
                            seen,
                            record.clone(),
                        )));
                    }
                    futures::future::join_all(tasks).await;
                })
            })
            .expect("client thread");
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while all.iter().any(|s| {
        let s = seen(s);
        s.last == 0 && !s.closed
    }) && Instant::now() < deadline
    {
        actix_rt::time::sleep(Duration::from_millis(10)).await;
    }
    all
}

/// One subscriber: connects, then records every message's seq (and, while
/// `record` is set, its latency) until the connection closes.
async fn receive(client: awc::Client, url: String, mine: Shared, record: Arc<AtomicBool>) {
    let connected = client.ws(url).max_frame_size(64 << 20).connect().await;
    let Ok((_, mut framed)) = connected else {
        eprintln!("subscriber could not connect: {:?}", connected.err());
        seen(&mine).closed = true;
        return;
    };
    while let Some(frame) = framed.next().await {
        let Ok(awc::ws::Frame::Text(b)) = frame else {
            if let Ok(awc::ws::Frame::Ping(p)) = frame {
                let _ = framed.send(awc::ws::Message::Pong(p)).await;
                continue;
            }
            break;
        };
        let Some(h) = head(&b) else {
            continue;
        };
        let mut s = seen(&mine);
        if h.kind == "snapshot" {
            s.first = h.seq;
            s.last = h.seq;
            continue;
        }
        if h.seq != s.last + 1 {
            s.gaps += 1;
        }
        s.last = h.seq;
        s.count += 1;
        if record.load(Ordering::Relaxed) {
            if let Ok(t) = DateTime::parse_from_rfc3339(h.ts) {
                let now = Utc::now();
                s.lat_us.push(
                    (now - t.with_timezone(&Utc))
                        .num_microseconds()
                        .unwrap_or(i64::MAX),
                );
                s.recv_us.push(now.timestamp_micros());
                s.seqs.push(h.seq);
            }
        }
    }
    seen(&mine).closed = true;
}

fn ws_client() -> awc::Client {
    awc::Client::builder()
        .connector(awc::Connector::new().limit(5000))
        .timeout(Duration::from_secs(30))
        .finish()
}
