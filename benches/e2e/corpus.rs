//! [`CorpusServer`]: a PBX that replays the realistic stream
//! (`benches/data/gen_corpus.py`) at a set rate, the counterpart of the
//! simulator's generated traffic.
//!
//! It runs on a thread of this process, like the simulator, so that both streams
//! reach the service the same way. Pacing is the simulator's: every millisecond it
//! writes the events that are due (a credit capped at a quarter of a second), so a
//! service that reads too slowly holds the server back through TCP instead of
//! losing anything; the events/s it reaches is the figure. Each event's
//! `Timestamp:` is rewritten to the time it is written, which the latency is
//! measured from. The corpus is served round and round, each pass with new call
//! ids and the calls a pass leaves up hung up at its end; each connection starts
//! at the corpus's beginning, once the service has asked for both resync lists.

use std::io::{BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::ami_corpus::{
    answer, closing_hangups, corpus_path, is_resync_list, messages, read_action, ID_PREFIX,
};
use crate::throughput::Source;

/// Width of the corpus's `Timestamp:` values (`1763766000.000000`).
const STAMP: usize = 17;

/// One message of the corpus: where it is, where its `Timestamp:` value is.
struct Message {
    start: usize,
    /// End including the blank line.
    end: usize,
    stamp_at: Option<usize>,
    event: bool,
}

struct Corpus {
    bytes: Vec<u8>,
    messages: Vec<Message>,
    ids: Vec<usize>,
}

impl Corpus {
    fn load(events: usize) -> Self {
        let path = corpus_path(events);
        let mut bytes = std::fs::read(&path).expect("corpus readable");
        let tail = closing_hangups(&bytes);
        bytes.extend_from_slice(&tail);
        let base = bytes.as_ptr() as usize;
        let messages = messages(&bytes)
            .map(|m| {
                let start = m.as_ptr() as usize - base;
                let stamp_at = memchr::memmem::find(m, b"\r\nTimestamp: ")
                    .map(|i| start + i + b"\r\nTimestamp: ".len())
                    .filter(|&at| {
                        bytes.get(at + 10) == Some(&b'.') && bytes.get(at + STAMP) == Some(&b'\r')
                    });
                Message {
                    start,
                    end: start + m.len() + 4,
                    stamp_at,
                    event: m.starts_with(b"Event: "),
                }
            })
            .collect();
        let ids = memchr::memmem::find_iter(&bytes, ID_PREFIX).collect();
        Self {
            bytes,
            messages,
            ids,
        }
    }

    /// Rewrites the call ids for pass `pass`.
    fn renumber(&mut self, pass: u64) {
        let digits = format!("{:03}", pass % 1000);
        for &at in &self.ids {
            self.bytes[at + 7..at + 10].copy_from_slice(digits.as_bytes());
        }
    }
}

#[derive(Default)]
struct Shared {
    rate_bits: AtomicU64,
    sent: AtomicU64,
    /// A connection asked for both resync lists and is being served.
    streaming: AtomicBool,
    stop: AtomicBool,
    /// Taken to wait for a rate above zero.
    idle: Mutex<()>,
    wake: Condvar,
}

/// The replay server; stops when dropped.
pub(crate) struct CorpusServer {
    shared: Arc<Shared>,
    addr: SocketAddr,
    thread: Option<std::thread::JoinHandle<()>>,
    /// Events in the corpus (for the table).
    pub(crate) events: usize,
}

impl CorpusServer {
    /// Loads (generating it the first time) a corpus of `events` events and listens
    /// on a free loopback port.
    pub(crate) fn start(events: usize) -> Self {
        let corpus = Corpus::load(events);
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let addr = listener.local_addr().expect("local addr");
        let shared = Arc::new(Shared::default());
        let s = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("e2e-corpus".into())
            .spawn(move || serve(listener, corpus, s))
            .expect("corpus server thread");
        Self {
            shared,
            addr,
            thread: Some(thread),
            events,
        }
    }

    pub(crate) fn port(&self) -> u16 {
        self.addr.port()
    }

    /// True while a connection that asked for both resync lists is served.
    pub(crate) fn streaming(&self) -> bool {
        self.shared.streaming.load(Ordering::Relaxed)
    }
}

impl Source for CorpusServer {
    fn set_rate(&self, events_per_s: f64) {
        self.shared
            .rate_bits
            .store(events_per_s.max(0.0).to_bits(), Ordering::Relaxed);
        let _guard = self.shared.idle.lock();
        self.shared.wake.notify_all();
    }

    fn events(&self) -> u64 {
        self.shared.sent.load(Ordering::Relaxed)
    }

    /// Nothing is dropped: a slow reader holds the server back instead.
    fn lagged_drops(&self) -> u64 {
        0
    }
}

impl Drop for CorpusServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        self.set_rate(0.0);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(listener: TcpListener, mut corpus: Corpus, shared: Arc<Shared>) {
    while !shared.stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, _)) => {
                session(stream, &mut corpus, &shared);
                shared.streaming.store(false, Ordering::Relaxed);
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// One connection: answers its actions on a thread of their own and, once the
/// resync lists were asked for, replays the corpus at the set rate until the
/// connection or the server ends.
fn session(stream: TcpStream, corpus: &mut Corpus, shared: &Shared) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_nodelay(true);
    let Ok(reader) = stream.try_clone() else {
        return;
    };
    let writer = Arc::new(Mutex::new(stream));
    let ready = Arc::new(AtomicBool::new(false));
    let closed = Arc::new(AtomicBool::new(false));
    if lock(&writer)
        .write_all(b"Asterisk Call Manager/11.0.0\r\n")
        .is_err()
    {
        return;
    }
    {
        let (writer, ready, closed) = (writer.clone(), ready.clone(), closed.clone());
        std::thread::spawn(move || {
            let mut reader = BufReader::new(reader);
            let mut asked = 0;
            while let Some(action) = read_action(&mut reader) {
                asked += usize::from(is_resync_list(&action));
                let (text, close) = answer(&action);
                if lock(&writer).write_all(text.as_bytes()).is_err() || close {
                    break;
                }
                if asked >= 2 {
                    ready.store(true, Ordering::Relaxed);
                }
            }
            closed.store(true, Ordering::Relaxed);
        });
    }
    let (mut next, mut pass) = (0usize, 0u64);
    corpus.renumber(pass);
    let mut credit = 0.0f64;
    let mut last = Instant::now();
    while !shared.stop.load(Ordering::Relaxed) && !closed.load(Ordering::Relaxed) {
        let rate = f64::from_bits(shared.rate_bits.load(Ordering::Relaxed));
        let ready = ready.load(Ordering::Relaxed);
        shared.streaming.store(ready, Ordering::Relaxed);
        if rate <= 0.0 || !ready {
            let guard = shared.idle.lock().unwrap_or_else(|e| e.into_inner());
            let _ = shared.wake.wait_timeout(guard, Duration::from_millis(50));
            credit = 0.0;
            last = Instant::now();
            continue;
        }
        std::thread::sleep(Duration::from_millis(1));
        let now = Instant::now();
        credit = (credit + rate * now.duration_since(last).as_secs_f64()).min(rate * 0.25 + 1.0);
        last = now;
        while credit >= 1.0 {
            if next == corpus.messages.len() {
                next = 0;
                pass += 1;
                corpus.renumber(pass);
            }
            let want = (credit as usize).min(corpus.messages.len() - next);
            let batch = next..next + want;
            let stamp = wall_stamp();
            let mut events = 0;
            for m in &corpus.messages[batch.clone()] {
                if let Some(at) = m.stamp_at {
                    corpus.bytes[at..at + STAMP].copy_from_slice(&stamp);
                }
                events += u64::from(m.event);
            }
            let (from, to) = (
                corpus.messages[batch.start].start,
                corpus.messages[batch.end - 1].end,
            );
            if lock(&writer).write_all(&corpus.bytes[from..to]).is_err() {
                return;
            }
            shared.sent.fetch_add(events, Ordering::Relaxed);
            next = batch.end;
            credit -= want as f64;
        }
    }
}

fn lock(w: &Mutex<TcpStream>) -> std::sync::MutexGuard<'_, TcpStream> {
    w.lock().unwrap_or_else(|e| e.into_inner())
}

/// Now as `Timestamp:` writes it (`SSSSSSSSSS.UUUUUU`).
fn wall_stamp() -> [u8; STAMP] {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let text = format!("{}.{:06}", now.as_secs(), now.subsec_micros());
    let mut out = [b'0'; STAMP];
    let n = text.len().min(STAMP);
    out[STAMP - n..].copy_from_slice(&text.as_bytes()[text.len() - n..]);
    out
}
