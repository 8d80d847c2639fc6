//! A replay AMI server: a real TCP listener on 127.0.0.1 that speaks just enough AMI
//! for switchboard to log in and resynchronise, then writes the `Event:` messages of
//! a real Asterisk capture (`tests/fixtures/<scenario>.server.ami`) byte for byte, in
//! capture order, and stays open.
//!
//! It answers: the banner (the capture's own line), `Challenge` (MD5) and `Login`
//! (plain or MD5; a wrong secret gets `Authentication failed` and the socket is
//! closed, as Asterisk does), `Ping`, `CoreShowChannels` (an empty list),
//! `ExtensionStateList` (an empty list, or Asterisk's error when asked to), `Logoff`,
//! and `QueueStatus` / `QueueSummary` with the capture's own first answer to them
//! (when it has one; Asterisk's error otherwise). The capture's later list items
//! are written with the other events under the recorder's ActionIDs, which the
//! service never used, so they reach it as stray events, as they would not from a
//! real PBX.
//! The capture's own `Response:` messages (replies to the recorder's actions) are
//! skipped. The events go to the first session only, once it has asked for both
//! lists (and for the queue lists the capture answers), so the resync never races
//! them.
//!
//! Like the simulator it runs on its own thread with its own tokio runtime, so it
//! behaves the same under actix, plain tokio or a benchmark.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use switchboard::ami::{md5_key, AmiCodec, Event, Frame, Limits, RawMessage};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio_util::codec::FramedRead;

/// A capture split into what the replay server sends.
#[derive(Debug, Clone)]
pub struct Capture {
    /// The banner line with its CRLF, exactly as captured.
    pub banner: Bytes,
    /// Every `Event:` message, with its terminating blank line, exactly as captured.
    pub events: Vec<Bytes>,
}

impl Capture {
    /// The events as one byte string.
    pub fn event_bytes(&self) -> Bytes {
        let mut all = BytesMut::with_capacity(self.events.iter().map(Bytes::len).sum());
        for e in &self.events {
            all.extend_from_slice(e);
        }
        all.freeze()
    }

    /// The events decoded with the crate's codec (to compute expectations from the
    /// capture itself).
    pub fn decoded(&self) -> Vec<RawMessage> {
        let mut codec = AmiCodec::new(Limits::default());
        let mut buf = BytesMut::from(&self.event_bytes()[..]);
        let mut out = Vec::new();
        while let Ok(Some(frame)) = tokio_util::codec::Decoder::decode(&mut codec, &mut buf) {
            if let Frame::Message(m) = frame {
                out.push(m);
            }
        }
        if let Ok(Some(Frame::Message(m))) =
            tokio_util::codec::Decoder::decode_eof(&mut codec, &mut buf)
        {
            out.push(m);
        }
        out
    }

    /// The events of the capture's first call (those sharing its first
    /// `Newchannel`'s Linkedid), in capture order.
    pub fn first_call(&self) -> Vec<Event> {
        let events: Vec<Event> = self.decoded().into_iter().map(Event::from_raw).collect();
        let linkedid = events
            .iter()
            .find(|e| e.name() == "Newchannel")
            .and_then(|e| e.get("Linkedid"))
            .expect("a call in the capture")
            .to_string();
        events
            .into_iter()
            .filter(|e| e.get("Linkedid") == Some(linkedid.as_str()))
            .collect()
    }
}

/// The path of a fixture file.
pub fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Loads `<scenario>.server.ami` and splits it at the blank lines that end messages.
pub fn load(scenario: &str) -> Capture {
    let raw = std::fs::read(fixture_path(&format!("{scenario}.server.ami")))
        .unwrap_or_else(|e| panic!("reading fixture {scenario}: {e}"));
    split(&raw)
}

/// Splits a server transcript: the banner line, then messages ending in CRLF CRLF.
pub fn split(raw: &[u8]) -> Capture {
    let banner_end = memchr::memmem::find(raw, b"\r\n").expect("banner line") + 2;
    let banner = Bytes::copy_from_slice(&raw[..banner_end]);
    let mut events = Vec::new();
    let mut rest = &raw[banner_end..];
    while !rest.is_empty() {
        let end = match memchr::memmem::find(rest, b"\r\n\r\n") {
            Some(i) => i + 4,
            None => rest.len(),
        };
        let block = &rest[..end];
        if block.starts_with(b"Event:") {
            events.push(Bytes::copy_from_slice(block));
        }
        rest = &rest[end..];
    }
    Capture { banner, events }
}

/// The capture's first list answering the action whose recorded ActionIDs start
/// with `prefix` (`queuestatus-`): its items, ActionID rewritten to `id`, after a
/// `Success` reply that opens the list. `None` when the capture has no such list.
fn recorded_list(
    capture: &Capture,
    prefix: &str,
    id: Option<&str>,
    message: &str,
) -> Option<Bytes> {
    let action_id = |e: &Bytes| -> Option<String> {
        let text = std::str::from_utf8(e).ok()?;
        text.split("\r\n")
            .find_map(|l| l.strip_prefix("ActionID: "))
            .filter(|v| v.starts_with(prefix))
            .map(str::to_string)
    };
    let first = capture.events.iter().find_map(action_id)?;
    let mut out = BytesMut::from(
        &reply(
            "Success",
            id,
            &[("EventList", "start"), ("Message", message)],
        )[..],
    );
    let ours = id.map(|i| format!("ActionID: {i}")).unwrap_or_default();
    for e in capture
        .events
        .iter()
        .filter(|e| action_id(e).as_deref() == Some(&first))
    {
        let text = String::from_utf8_lossy(e).replace(&format!("ActionID: {first}"), &ours);
        out.extend_from_slice(text.as_bytes());
    }
    Some(out.freeze())
}

/// How the replay server answers.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// Accepted user (case-insensitive, as Asterisk).
    pub username: String,
    /// Its secret.
    pub secret: String,
    /// Answer `ExtensionStateList` with Asterisk's error instead of an empty list.
    pub hints_error: bool,
    /// Written to every later session just ahead of its `CoreShowChannels` list, in
    /// the same socket write (events that happened while the client was away).
    pub on_reconnect: Option<Bytes>,
    /// The `ExtensionStateList` answer of every session: one hint (exten, status),
    /// followed in the same socket write by these bytes (an event the PBX wrote
    /// right after the list).
    pub hint_then: Option<((String, i32), Bytes)>,
    /// Holds the capture's events back until the gate opens (a test that must have
    /// its subscribers connected before anything happens).
    pub gate: Option<ReplayGate>,
    /// Actions answered with what the PBX answered in a capture: the action's name
    /// (lower case) and the recorded reply ([`recorded_reply`]), written with the
    /// asker's ActionID in place of the recorded one.
    pub canned: Vec<(String, RecordedReply)>,
}

/// The messages a capture's PBX wrote in answer to one action, byte for byte.
#[derive(Debug, Clone)]
pub struct RecordedReply {
    /// The recorded ActionID (replaced when replayed).
    pub action_id: String,
    /// The reply and its list items, as captured.
    pub bytes: Bytes,
}

/// The reply (and any list items) to the action with ActionID `action_id` in
/// `<scenario>.server.ami`.
pub fn recorded_reply(scenario: &str, action_id: &str) -> RecordedReply {
    let raw = std::fs::read(fixture_path(&format!("{scenario}.server.ami")))
        .unwrap_or_else(|e| panic!("reading fixture {scenario}: {e}"));
    let needle = format!("\r\nActionID: {action_id}\r\n");
    let mut bytes = BytesMut::new();
    let mut start = 0;
    while let Some(at) = raw[start..].windows(4).position(|w| w == b"\r\n\r\n") {
        let block = &raw[start..start + at + 4];
        if String::from_utf8_lossy(block).contains(&needle) {
            bytes.extend_from_slice(block);
        }
        start += at + 4;
    }
    assert!(!bytes.is_empty(), "no reply to {action_id} in {scenario}");
    RecordedReply {
        action_id: action_id.to_string(),
        bytes: bytes.freeze(),
    }
}

impl RecordedReply {
    /// The reply with `id` as its ActionID.
    fn for_id(&self, id: Option<&str>) -> Bytes {
        let from = format!("ActionID: {}\r\n", self.action_id);
        let to = id.map(|i| format!("ActionID: {i}\r\n")).unwrap_or_default();
        let text = String::from_utf8_lossy(&self.bytes).replace(&from, &to);
        Bytes::from(text)
    }
}

/// Opened once by the test; until then the first session gets its lists but no events.
#[derive(Debug, Clone)]
pub struct ReplayGate(Arc<watch::Sender<bool>>);

impl Default for ReplayGate {
    fn default() -> Self {
        Self(Arc::new(watch::channel(false).0))
    }
}

impl ReplayGate {
    /// Lets the events go.
    pub fn open(&self) {
        self.0.send_replace(true);
    }
}

impl Default for ReplayOptions {
    fn default() -> Self {
        Self {
            username: "admin".to_string(),
            secret: "amisecret".to_string(),
            hints_error: false,
            on_reconnect: None,
            hint_then: None,
            gate: None,
            canned: Vec::new(),
        }
    }
}

#[derive(Debug, Default)]
struct Counters {
    connections: AtomicU64,
    logins_ok: AtomicU64,
    challenges: AtomicU64,
    events_written: AtomicU64,
    played: AtomicBool,
}

/// A running replay server; stops when dropped.
pub struct ReplayServer {
    addr: SocketAddr,
    counters: Arc<Counters>,
    stop: watch::Sender<bool>,
    drops: Arc<watch::Sender<u64>>,
    thread: Option<JoinHandle<()>>,
    /// How many events the capture has (and the server writes).
    pub events: usize,
}

impl ReplayServer {
    /// Serves `capture` on 127.0.0.1 with a free port.
    pub fn start(capture: Capture, options: ReplayOptions) -> Self {
        let counters = Arc::new(Counters::default());
        let (stop, stop_rx) = watch::channel(false);
        let drops = Arc::new(watch::channel(0u64).0);
        let drops_tx = drops.clone();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let events = capture.events.len();
        let shared = Arc::new((capture, options));
        let c = counters.clone();
        let thread = std::thread::Builder::new()
            .name("replay-ami".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("replay runtime");
                rt.block_on(async move {
                    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
                    ready_tx.send(listener.local_addr().expect("addr")).ok();
                    let mut stop_rx = stop_rx;
                    loop {
                        tokio::select! {
                            _ = stop_rx.changed() => break,
                            accepted = listener.accept() => {
                                let Ok((stream, _)) = accepted else { continue };
                                c.connections.fetch_add(1, Ordering::Relaxed);
                                let (shared, c, stop) = (shared.clone(), c.clone(), stop_rx.clone());
                                let drop_rx = drops_tx.subscribe();
                                tokio::spawn(session(stream, shared, c, stop, drop_rx));
                            }
                        }
                    }
                });
            })
            .expect("replay thread");
        let addr = ready_rx.recv().expect("replay server listening");
        Self {
            addr,
            counters,
            stop,
            drops,
            thread: Some(thread),
            events,
        }
    }

    /// Where to connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Events written to the socket so far.
    pub fn events_written(&self) -> u64 {
        self.counters.events_written.load(Ordering::Relaxed)
    }

    /// Successful logins so far.
    pub fn logins_ok(&self) -> u64 {
        self.counters.logins_ok.load(Ordering::Relaxed)
    }

    /// MD5 challenges handed out so far.
    pub fn challenges(&self) -> u64 {
        self.counters.challenges.load(Ordering::Relaxed)
    }

    /// Closes every session now (the listener stays open).
    pub fn drop_sessions(&self) {
        self.drops.send_modify(|n| *n += 1);
    }
}

impl Drop for ReplayServer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn reply(status: &str, id: Option<&str>, fields: &[(&str, &str)]) -> Bytes {
    let mut s = format!("Response: {status}\r\n");
    if let Some(id) = id {
        s.push_str(&format!("ActionID: {id}\r\n"));
    }
    for (k, v) in fields {
        s.push_str(&format!("{k}: {v}\r\n"));
    }
    s.push_str("\r\n");
    Bytes::from(s)
}

fn empty_list(id: Option<&str>, message: &str, complete: &str) -> Bytes {
    let mut b = BytesMut::new();
    b.extend_from_slice(&reply(
        "Success",
        id,
        &[("EventList", "start"), ("Message", message)],
    ));
    let mut s = format!("Event: {complete}\r\n");
    if let Some(id) = id {
        s.push_str(&format!("ActionID: {id}\r\n"));
    }
    s.push_str("EventList: Complete\r\nListItems: 0\r\n\r\n");
    b.extend_from_slice(s.as_bytes());
    b.freeze()
}

async fn session(
    stream: TcpStream,
    shared: Arc<(Capture, ReplayOptions)>,
    counters: Arc<Counters>,
    mut stop: watch::Receiver<bool>,
    mut drops: watch::Receiver<u64>,
) {
    drops.mark_unchanged();
    let _ = stream.set_nodelay(true);
    let (read, mut write) = stream.into_split();
    let (tx, mut rx) = mpsc::unbounded_channel::<Option<Bytes>>();
    let writer_counters = counters.clone();
    let writer = tokio::spawn(async move {
        while let Some(item) = rx.recv().await {
            match item {
                Some(bytes) => {
                    if write.write_all(&bytes).await.is_err() {
                        return;
                    }
                }
                None => {
                    let _ = write.shutdown().await;
                    return;
                }
            }
        }
        let _ = &writer_counters;
    });
    let (capture, options) = (&shared.0, &shared.1);
    let _ = tx.send(Some(capture.banner.clone()));
    let mut frames = FramedRead::new(read, AmiCodec::server(Limits::default()));
    let mut challenge: Option<String> = None;
    let mut logged_in = false;
    let (mut channels_asked, mut hints_asked) = (false, false);
    let queue_list = |id: Option<&str>, action: &str| match action {
        "queuestatus" => recorded_list(capture, "queuestatus-", id, "Queue status will follow"),
        _ => recorded_list(capture, "queuesummary-", id, "Queue summary will follow"),
    };
    let mut status_pending = queue_list(None, "queuestatus").is_some();
    let mut summary_pending = queue_list(None, "queuesummary").is_some();
    loop {
        let frame = tokio::select! {
            _ = stop.changed() => break,
            _ = drops.changed() => break,
            f = frames.next() => f,
        };
        let Some(Ok(Frame::Message(m))) = frame else {
            match frame {
                Some(Ok(_)) => continue,
                _ => break,
            }
        };
        let id = m.get("ActionID");
        let action = m.get("Action").unwrap_or("").to_ascii_lowercase();
        let out = match action.as_str() {
            "challenge" => {
                counters.challenges.fetch_add(1, Ordering::Relaxed);
                let c = "418235179".to_string();
                challenge = Some(c.clone());
                reply("Success", id, &[("Challenge", &c)])
            }
            "login" => {
                let user_ok = m
                    .get("Username")
                    .is_some_and(|u| u.eq_ignore_ascii_case(&options.username));
                let secret_ok = match (m.get("Secret"), m.get("Key"), &challenge) {
                    (Some(s), _, _) => s == options.secret,
                    (None, Some(k), Some(c)) => k == md5_key(c, &options.secret),
                    _ => false,
                };
                if user_ok && secret_ok {
                    logged_in = true;
                    counters.logins_ok.fetch_add(1, Ordering::Relaxed);
                    reply("Success", id, &[("Message", "Authentication accepted")])
                } else {
                    let _ = tx.send(Some(reply(
                        "Error",
                        id,
                        &[("Message", "Authentication failed")],
                    )));
                    break;
                }
            }
            _ if !logged_in => reply("Error", id, &[("Message", "Permission denied")]),
            "ping" => reply(
                "Success",
                id,
                &[("Ping", "Pong"), ("Timestamp", "1795311000.000000")],
            ),
            "coreshowchannels" => {
                channels_asked = true;
                let list = empty_list(id, "Channels will follow", "CoreShowChannelsComplete");
                match (
                    &options.on_reconnect,
                    counters.played.load(Ordering::SeqCst),
                ) {
                    (Some(before), true) => {
                        let mut both = BytesMut::from(&before[..]);
                        both.extend_from_slice(&list);
                        both.freeze()
                    }
                    _ => list,
                }
            }
            "extensionstatelist" => {
                hints_asked = true;
                if let Some(((exten, status), after)) = &options.hint_then {
                    let mut b = BytesMut::from(
                        &reply(
                            "Success",
                            id,
                            &[
                                ("EventList", "start"),
                                ("Message", "Extension Statuses will follow"),
                            ],
                        )[..],
                    );
                    let id_line = id.map(|i| format!("ActionID: {i}\r\n")).unwrap_or_default();
                    b.extend_from_slice(
                        format!(
                            "Event: ExtensionStatus\r\n{id_line}Exten: {exten}\r\n\
                             Context: from-internal\r\nHint: PJSIP/{exten}\r\n\
                             Status: {status}\r\nStatusText: Idle\r\n\r\n\
                             Event: ExtensionStateListComplete\r\n{id_line}\
                             EventList: Complete\r\nListItems: 1\r\n\r\n"
                        )
                        .as_bytes(),
                    );
                    b.extend_from_slice(after);
                    b.freeze()
                } else if options.hints_error {
                    reply(
                        "Error",
                        id,
                        &[("Message", "No dialplan hints are available")],
                    )
                } else {
                    empty_list(
                        id,
                        "Extension Statuses will follow",
                        "ExtensionStateListComplete",
                    )
                }
            }
            other if options.canned.iter().any(|(a, _)| a == other) => options
                .canned
                .iter()
                .find(|(a, _)| a == other)
                .map(|(_, r)| r.for_id(id))
                .unwrap_or_default(),
            "queuestatus" | "queuesummary" if queue_list(id, &action).is_some() => {
                if action == "queuestatus" {
                    status_pending = false;
                } else {
                    summary_pending = false;
                }
                queue_list(id, &action).unwrap_or_default()
            }
            "logoff" => {
                let _ = tx.send(Some(reply(
                    "Goodbye",
                    id,
                    &[("Message", "Thanks for all the fish.")],
                )));
                break;
            }
            _ => reply(
                "Error",
                id,
                &[(
                    "Message",
                    "Invalid/unknown command. Use Action: ListCommands to show available commands.",
                )],
            ),
        };
        let _ = tx.send(Some(out));
        if channels_asked
            && hints_asked
            && !status_pending
            && !summary_pending
            && !counters.played.swap(true, Ordering::SeqCst)
        {
            // In chunks of about 64 KiB, as a PBX's socket writes would come.
            let mut chunks = Vec::new();
            let mut chunk = BytesMut::new();
            for e in &capture.events {
                chunk.extend_from_slice(e);
                if chunk.len() >= 64 * 1024 {
                    chunks.push(chunk.split().freeze());
                }
            }
            if !chunk.is_empty() {
                chunks.push(chunk.freeze());
            }
            let total = capture.events.len() as u64;
            match &options.gate {
                None => {
                    for c in chunks {
                        let _ = tx.send(Some(c));
                    }
                    counters.events_written.store(total, Ordering::Relaxed);
                }
                Some(gate) => {
                    let (tx, counters, mut gate) =
                        (tx.clone(), counters.clone(), gate.0.subscribe());
                    tokio::spawn(async move {
                        if gate.wait_for(|open| *open).await.is_ok() {
                            for c in chunks {
                                let _ = tx.send(Some(c));
                            }
                            counters.events_written.store(total, Ordering::Relaxed);
                        }
                    });
                }
            }
        }
    }
    let _ = tx.send(None);
    let _ = writer.await;
}
