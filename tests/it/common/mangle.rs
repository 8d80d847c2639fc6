//! [`Mangler`]: a real TCP proxy on 127.0.0.1 between switchboard and an AMI peer
//! (the simulator or a replay server) that turns the PBX hostile on command.
//!
//! Switchboard's bytes go to the peer unchanged. The peer's bytes are cut into
//! whole messages (the banner line, then up to each blank line) and forwarded; the
//! test can at any time ask for:
//!
//! - [`Cmd::Inject`]: bytes written between two real messages (garbage, an endless
//!   line, a huge message, invalid UTF-8, events for unknown calls...), in 64 KB
//!   writes, `times` times over, so 16 MB cost no 16 MB buffer here;
//! - [`Cmd::Drip`]: the next messages written one byte per write, with a pause;
//! - [`Cmd::Duplicate`]: the next events written twice;
//! - [`Cmd::Reorder`]: the next events swapped pairwise when they concern
//!   different calls and extensions (Asterisk orders events of one channel, not
//!   across channels; swapping events of one call would be a different PBX).
//!
//! Injections only ever happen at a message boundary, so no real message is cut.
//! Like the simulator it runs on its own thread with its own tokio runtime. Every
//! loop is bounded by the commands given; the thread ends with [`Mangler::stop`].

use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

/// What the proxy should do to the peer-to-switchboard stream.
#[derive(Debug, Clone)]
pub enum Cmd {
    /// Write `bytes`, `times` times over, between two real messages.
    Inject { bytes: Bytes, times: usize },
    /// Write the next `messages` messages one byte per write, `gap` apart.
    Drip { messages: usize, gap: Duration },
    /// Write each of the next `events` events twice.
    Duplicate { events: usize },
    /// Swap the next `events` events pairwise where they share no call or extension.
    Reorder { events: usize },
}

/// Counters, for the test to wait on and assert.
#[derive(Debug, Default)]
pub struct Stats {
    /// Connections accepted from switchboard.
    pub connections: AtomicU64,
    /// Real messages forwarded (duplicates not counted).
    pub messages: AtomicU64,
    /// Injected bytes written.
    pub injected_bytes: AtomicU64,
    /// Commands carried out (injections written, modes switched on).
    pub done: AtomicU64,
    /// Events written a second time.
    pub duplicated: AtomicU64,
    /// Pairs of events swapped.
    pub swapped: AtomicU64,
    /// Bytes written one at a time.
    pub dripped: AtomicU64,
    /// Drips finished (every message asked for was dripped).
    pub drips_finished: AtomicU64,
}

struct Shared {
    upstream: SocketAddr,
    queue: Mutex<VecDeque<Cmd>>,
    wake: Notify,
    stop: AtomicBool,
    stats: Stats,
}

/// The proxy; dropping it does not stop it, [`Mangler::stop`] does.
pub struct Mangler {
    addr: SocketAddr,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Mangler {
    /// A proxy on 127.0.0.1 (ephemeral port) in front of `upstream`.
    pub fn start(upstream: SocketAddr) -> Self {
        let shared = Arc::new(Shared {
            upstream,
            queue: Mutex::new(VecDeque::new()),
            wake: Notify::new(),
            stop: AtomicBool::new(false),
            stats: Stats::default(),
        });
        let std_listener =
            std::net::TcpListener::bind("127.0.0.1:0").expect("bind the proxy on loopback");
        std_listener.set_nonblocking(true).expect("nonblocking");
        let addr = std_listener.local_addr().expect("proxy address");
        let inner = shared.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("proxy runtime");
            rt.block_on(async move {
                let listener = TcpListener::from_std(std_listener).expect("tokio listener");
                accept_loop(listener, inner).await;
            });
        });
        Self {
            addr,
            shared,
            thread: Some(thread),
        }
    }

    /// Where switchboard should connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Queues a command for the current connection.
    pub fn send(&self, cmd: Cmd) {
        self.shared
            .queue
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push_back(cmd);
        self.shared.wake.notify_one();
    }

    /// Counters.
    pub fn stats(&self) -> &Stats {
        &self.shared.stats
    }

    /// Commands carried out so far.
    pub fn done(&self) -> u64 {
        self.shared.stats.done.load(Ordering::Relaxed)
    }

    /// Stops the proxy and waits for its thread.
    pub fn stop(mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        self.shared.wake.notify_waiters();
        // Wake the accept loop with a connection of our own.
        let _ = std::net::TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut tasks = Vec::new();
    while !shared.stop.load(Ordering::Relaxed) {
        let Ok((down, _)) = listener.accept().await else {
            continue;
        };
        if shared.stop.load(Ordering::Relaxed) {
            break;
        }
        shared.stats.connections.fetch_add(1, Ordering::Relaxed);
        let Ok(up) = TcpStream::connect(shared.upstream).await else {
            continue; // the peer is down: switchboard sees the close and retries
        };
        let _ = down.set_nodelay(true);
        let _ = up.set_nodelay(true);
        tasks.push(tokio::spawn(proxy(down, up, shared.clone())));
    }
    for t in tasks {
        t.abort();
    }
}

/// One proxied connection.
async fn proxy(down: TcpStream, up: TcpStream, shared: Arc<Shared>) {
    let (mut down_r, down_w) = down.into_split();
    let (mut up_r, mut up_w) = up.into_split();
    let to_peer = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut down_r, &mut up_w).await;
        let _ = up_w.shutdown().await;
    });
    let mut pump = Pump {
        out: down_w,
        buf: BytesMut::new(),
        banner_done: false,
        drip: None,
        duplicate: 0,
        reorder: 0,
        held: None,
        shared: shared.clone(),
    };
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        if shared.stop.load(Ordering::Relaxed) {
            break;
        }
        let idle = async {
            // A held-back event is written if nothing follows it soon.
            if pump.held.is_some() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            read = up_r.read(&mut chunk) => match read {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    pump.buf.extend_from_slice(&chunk[..n]);
                    if pump.forward_complete().await.is_err() {
                        break;
                    }
                }
            },
            _ = shared.wake.notified() => {}
            _ = idle => {
                if pump.flush_held().await.is_err() {
                    break;
                }
            }
        }
        if pump.run_commands().await.is_err() {
            break;
        }
    }
    let _ = pump.flush_held().await;
    to_peer.abort();
}

struct Pump {
    out: OwnedWriteHalf,
    buf: BytesMut,
    banner_done: bool,
    drip: Option<(usize, Duration)>,
    duplicate: usize,
    reorder: usize,
    held: Option<Bytes>,
    shared: Arc<Shared>,
}

impl Pump {
    /// Takes the next whole message (or the banner line) out of `buf`.
    fn next_message(&mut self) -> Option<Bytes> {
        if !self.banner_done {
            let nl = self.buf.iter().position(|&b| b == b'\n')?;
            self.banner_done = true;
            return Some(self.buf.split_to(nl + 1).freeze());
        }
        let end = find(&self.buf, b"\r\n\r\n")?;
        Some(self.buf.split_to(end + 4).freeze())
    }

    async fn forward_complete(&mut self) -> std::io::Result<()> {
        while let Some(msg) = self.next_message() {
            self.shared.stats.messages.fetch_add(1, Ordering::Relaxed);
            self.forward(msg).await?;
            // Commands given meanwhile take effect at this boundary.
            self.run_commands().await?;
        }
        Ok(())
    }

    async fn forward(&mut self, msg: Bytes) -> std::io::Result<()> {
        let event = is_plain_event(&msg);
        if event && self.reorder > 0 {
            self.reorder -= 1;
            match self.held.take() {
                None => {
                    self.held = Some(msg);
                    return Ok(());
                }
                Some(first) if disjoint(&first, &msg) => {
                    self.write(msg).await?;
                    self.write(first).await?;
                    self.shared.stats.swapped.fetch_add(1, Ordering::Relaxed);
                    return Ok(());
                }
                Some(first) => {
                    self.write(first).await?;
                    self.held = Some(msg);
                    return Ok(());
                }
            }
        }
        self.flush_held().await?;
        if event && self.duplicate > 0 {
            self.duplicate -= 1;
            self.write(msg.clone()).await?;
            self.shared.stats.duplicated.fetch_add(1, Ordering::Relaxed);
        }
        self.write(msg).await
    }

    async fn flush_held(&mut self) -> std::io::Result<()> {
        match self.held.take() {
            Some(m) => self.write(m).await,
            None => Ok(()),
        }
    }

    async fn write(&mut self, msg: Bytes) -> std::io::Result<()> {
        match &mut self.drip {
            Some((left, gap)) if *left > 0 => {
                let gap = *gap;
                *left -= 1;
                for i in 0..msg.len() {
                    self.out.write_all(&msg[i..i + 1]).await?;
                    self.out.flush().await?;
                    tokio::time::sleep(gap).await;
                }
                self.shared
                    .stats
                    .dripped
                    .fetch_add(msg.len() as u64, Ordering::Relaxed);
                if *left == 0 {
                    self.drip = None;
                    self.shared
                        .stats
                        .drips_finished
                        .fetch_add(1, Ordering::Relaxed);
                }
                Ok(())
            }
            _ => self.out.write_all(&msg).await,
        }
    }

    /// Carries out the queued commands (injections right now, modes from now on).
    async fn run_commands(&mut self) -> std::io::Result<()> {
        loop {
            let cmd = self
                .shared
                .queue
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .pop_front();
            let Some(cmd) = cmd else {
                return Ok(());
            };
            match cmd {
                Cmd::Inject { bytes, times } => {
                    self.flush_held().await?;
                    for _ in 0..times {
                        let mut rest = bytes.clone();
                        while rest.has_remaining() {
                            let n = rest.len().min(64 * 1024);
                            self.out.write_all(&rest[..n]).await?;
                            rest.advance(n);
                        }
                        self.shared
                            .stats
                            .injected_bytes
                            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
                    }
                    self.shared.stats.done.fetch_add(1, Ordering::Relaxed);
                }
                Cmd::Drip { messages, gap } => {
                    self.drip = Some((messages, gap));
                    self.shared.stats.done.fetch_add(1, Ordering::Relaxed);
                }
                Cmd::Duplicate { events } => {
                    self.duplicate = events;
                    self.shared.stats.done.fetch_add(1, Ordering::Relaxed);
                }
                Cmd::Reorder { events } => {
                    self.reorder = events;
                    self.shared.stats.done.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// `Key: Value` pairs of a message (lossy; the proxy only looks, never rewrites).
fn headers(msg: &[u8]) -> Vec<(String, String)> {
    String::from_utf8_lossy(msg)
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// An async event (not a reply, not an event-list item).
fn is_plain_event(msg: &[u8]) -> bool {
    msg.starts_with(b"Event:")
        && !headers(msg)
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("ActionID"))
}

/// Every call and extension an event names: ids, extension numbers, devices.
fn keys(msg: &[u8]) -> HashSet<String> {
    let mut out = HashSet::new();
    for (k, v) in headers(msg) {
        let k = k.to_ascii_lowercase();
        if v.is_empty() {
            continue;
        }
        if k.ends_with("linkedid") || k.ends_with("uniqueid") || k == "exten" || k == "aor" {
            out.insert(v);
        } else if k == "device" || k == "peer" || k == "hint" {
            for d in v.split('&') {
                if let Some(e) = switchboard::state::route::device_extension(d) {
                    out.insert(e.to_string());
                }
                out.insert(d.to_string());
            }
        }
    }
    out
}

fn disjoint(a: &[u8], b: &[u8]) -> bool {
    keys(a).is_disjoint(&keys(b))
}
