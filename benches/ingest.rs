//! Ingest on a realistic event mix: switchboard's whole ingest against a minimal
//! split + parse loop, in one process and one run, over loopback TCP.
//!
//! `cargo bench --bench ingest` — five runs of each consumer pinned to one core, then
//! five unpinned, each printed, then the medians and switchboard's share of the
//! ceiling. `INGEST_RUNS=N` (default 5), `INGEST_EVENTS=N` (default 200000).
//! `cargo bench --bench ingest -- rss` instead streams the corpus 50 times (10 M
//! events, ids renumbered per pass so every call is new) into one service and
//! prints its RSS after 1 M and after 10 M events, and once drained (with the
//! allocator's freed pages purged). `INGEST_PASSES=N` (default 50, at least 5)
//! changes the number of passes: `INGEST_PASSES=5` gives the drained RSS after 1 M.
//!
//! The stream is `benches/data/gen_corpus.py`'s busy call centre (VarSet, Newexten,
//! RTCP, queue and device-state events, about 475 bytes each; generated once into
//! the temp directory). It is served by this same binary run as a child process
//! (`INGEST_ROLE=server`), which answers the login and the resync lists and then
//! writes the corpus as fast as the reader takes it; holding the corpus in another
//! process keeps its 95 MB out of the consumers' RSS. Pinned: the consumer's threads
//! on CPU 0, the server on CPU 1 (as `taskset` would); unpinned: both anywhere.
//!
//! - minimal: a blocking read loop that splits messages on the blank line and
//!   parses each into borrowed `(key, value)` pairs — the ceiling.
//! - switchboard: `app::start` with SQLite and `AMI_EVENT_FILTER=off` (the server
//!   sends everything, like a PBX without filters): timed from the server's first
//!   corpus byte until every event is counted in `switchboard_ami_events_total`, the
//!   router has routed every event it is handed and the store writer has committed.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use switchboard::actors::hub::GetHubStats;
use switchboard::actors::router::GetRouterStats;
use switchboard::ami::{AmiCodec, AmiMessage, Frame, Limits};
use switchboard::app;
use switchboard::config::Config;
use switchboard::store::Flush;
use tikv_jemallocator::Jemalloc;
use tokio_util::codec::Decoder;

#[global_allocator]
static ALLOC: Jemalloc = Jemalloc;

const DEADLINE: Duration = Duration::from_secs(300);
/// The Uniqueid/Linkedid prefix of every generated channel; pass `r` of the rss
/// mode rewrites its last three digits to `r`, so each pass is a new set of calls.
const ID_PREFIX: &[u8] = b"1763765000.";

fn env_num(key: &str, default: usize) -> usize {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// CLOCK_MONOTONIC in ns: one clock for the server process and the consumers.
fn mono_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Pins thread `tid` (0: the calling thread; a pid: that process's main thread) to
/// `cpu`, or lets it run anywhere with `None`.
fn pin(tid: libc::pid_t, cpu: Option<usize>) {
    // SAFETY: cpu_set_t is plain data; the CPU_* helpers only touch it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        match cpu {
            Some(c) => libc::CPU_SET(c, &mut set),
            None => (0..libc::CPU_SETSIZE as usize).for_each(|c| libc::CPU_SET(c, &mut set)),
        }
        libc::sched_setaffinity(tid, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// The corpus file, generated on first use.
fn corpus_path(events: usize) -> PathBuf {
    let path = std::env::temp_dir().join(format!("switchboard-ingest-{events}.ami"));
    if !path.exists() {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/data/gen_corpus.py");
        eprintln!("generating {} ({events} events)…", path.display());
        let ok = Command::new("python3")
            .arg(script)
            .args(["--events", &events.to_string(), "--out"])
            .arg(&path)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "gen_corpus.py failed (python3 needed)");
    }
    path
}

// ---------------------------------------------------------------- the server

/// `Hangup`s for the channels the corpus leaves up (it is cut mid-traffic), so a
/// pass repeated with new ids ends every call it starts: the rss mode then measures
/// memory per event, not a growing number of calls nobody hangs up.
fn closing_hangups(corpus: &[u8]) -> Vec<u8> {
    let mut open: Vec<(String, String, String)> = Vec::new();
    let mut at: HashMap<String, usize> = HashMap::new();
    for msg in memchr::memmem::find_iter(corpus, b"\r\n\r\n").scan(0, |start, end| {
        let m = &corpus[*start..end];
        *start = end + 4;
        Some(m)
    }) {
        let text = String::from_utf8_lossy(msg);
        let get = |k: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(k).and_then(|r| r.strip_prefix(": ")))
                .unwrap_or("")
                .to_string()
        };
        if text.starts_with("Event: Newchannel\r") {
            at.insert(get("Uniqueid"), open.len());
            open.push((get("Channel"), get("Uniqueid"), get("Linkedid")));
        } else if text.starts_with("Event: Hangup\r") {
            if let Some(i) = at.remove(&get("Uniqueid")) {
                open[i].1.clear();
            }
        }
    }
    let mut tail = String::new();
    for (channel, uid, linked) in open.into_iter().filter(|o| !o.1.is_empty()) {
        tail.push_str(&format!(
            "Event: Hangup\r\nPrivilege: call,all\r\nChannel: {channel}\r\nUniqueid: {uid}\r\n\
             Linkedid: {linked}\r\nCause: 16\r\nCause-txt: Normal Clearing\r\n\r\n"
        ));
    }
    tail.into_bytes()
}

fn read_action(r: &mut impl BufRead) -> Option<HashMap<String, String>> {
    let mut m = HashMap::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            if m.is_empty() {
                continue;
            }
            return Some(m);
        }
        if let Some((k, v)) = line.split_once(':') {
            m.entry(k.trim().to_ascii_lowercase())
                .or_insert_with(|| v.trim().to_string());
        }
    }
}

fn answer(action: &HashMap<String, String>) -> (String, bool) {
    let id = action
        .get("actionid")
        .map_or(String::new(), |i| format!("ActionID: {i}\r\n"));
    let name = action
        .get("action")
        .map_or("", |a| a.as_str())
        .to_ascii_lowercase();
    let list = |msg: &str, done: &str| {
        format!(
            "Response: Success\r\n{id}EventList: start\r\nMessage: {msg}\r\n\r\n\
             Event: {done}\r\n{id}EventList: Complete\r\nListItems: 0\r\n\r\n"
        )
    };
    let text = match name.as_str() {
        "login" => format!(
            "Response: Success\r\n{id}Message: Authentication accepted\r\n\r\n\
             Event: FullyBooted\r\nPrivilege: system,all\r\nUptime: 1000\r\nLastReload: 1000\r\n\
             Status: Fully Booted\r\n\r\n"
        ),
        "coreshowchannels" => list("Channels will follow", "CoreShowChannelsComplete"),
        "extensionstatelist" => list(
            "Extension Statuses will follow",
            "ExtensionStateListComplete",
        ),
        "ping" => format!("Response: Success\r\n{id}Ping: Pong\r\nTimestamp: 1.000000\r\n\r\n"),
        "logoff" => {
            return (
                format!("Response: Goodbye\r\n{id}Message: Bye\r\n\r\n"),
                true,
            )
        }
        "filter" => format!("Response: Success\r\n{id}Message: Success\r\n\r\n"),
        _ => format!("Response: Error\r\n{id}Message: Invalid/unknown command\r\n\r\n"),
    };
    (text, false)
}

/// `INGEST_ROLE=server`: serves sessions one after another on a free port (printed
/// as `port N`); each gets the corpus `INGEST_REPEAT` times once it has asked for
/// both resync lists (`stream <ns>` printed then, `done <ns>` after). The user
/// `minimal` is disconnected after the corpus; any other stays until it leaves.
fn serve() {
    let path = std::env::var("INGEST_CORPUS").expect("INGEST_CORPUS");
    let repeat = env_num("INGEST_REPEAT", 1);
    let mut corpus = std::fs::read(&path).expect("corpus");
    if repeat > 1 {
        let tail = closing_hangups(&corpus);
        corpus.extend_from_slice(&tail);
    }
    let ids: Vec<usize> = memchr::memmem::find_iter(&corpus, ID_PREFIX).collect();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let mut out = std::io::stdout();
    writeln!(out, "port {}", listener.local_addr().expect("addr").port()).ok();
    out.flush().ok();
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { continue };
        let _ = stream.set_nodelay(true);
        let mut reader = BufReader::new(stream.try_clone().expect("clone"));
        let _ = stream.write_all(b"Asterisk Call Manager/11.0.0\r\n");
        let (mut user, mut asked) = (String::new(), 0);
        while asked < 2 {
            let Some(action) = read_action(&mut reader) else {
                break;
            };
            if let Some(u) = action.get("username") {
                user = u.clone();
            }
            let name = action
                .get("action")
                .map(|a| a.to_ascii_lowercase())
                .unwrap_or_default();
            asked += usize::from(name == "coreshowchannels" || name == "extensionstatelist");
            let _ = stream.write_all(answer(&action).0.as_bytes());
        }
        if asked < 2 {
            continue;
        }
        writeln!(out, "stream {}", mono_ns()).ok();
        out.flush().ok();
        for pass in 0..repeat {
            let digits = format!("{:03}", pass % 1000);
            for &at in &ids {
                corpus[at + 7..at + 10].copy_from_slice(digits.as_bytes());
            }
            if corpus
                .chunks(256 * 1024)
                .any(|c| stream.write_all(c).is_err())
            {
                break;
            }
        }
        writeln!(out, "done {}", mono_ns()).ok();
        out.flush().ok();
        if user == "minimal" {
            let _ = stream.shutdown(std::net::Shutdown::Both);
            continue;
        }
        while let Some(action) = read_action(&mut reader) {
            let (text, close) = answer(&action);
            if stream.write_all(text.as_bytes()).is_err() || close {
                break;
            }
        }
    }
}

struct Server {
    child: Child,
    lines: BufReader<ChildStdout>,
    port: u16,
}

impl Server {
    fn start(corpus: &Path, repeat: usize) -> Server {
        let mut child = Command::new(std::env::current_exe().expect("exe"))
            .env("INGEST_ROLE", "server")
            .env("INGEST_CORPUS", corpus)
            .env("INGEST_REPEAT", repeat.to_string())
            .stdout(Stdio::piped())
            .spawn()
            .expect("server process");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout"));
        let port = Self::line(&mut lines, "port") as u16;
        Server { child, lines, port }
    }

    fn line(lines: &mut BufReader<ChildStdout>, tag: &str) -> u64 {
        let mut line = String::new();
        lines.read_line(&mut line).expect("server output");
        let (t, v) = line.trim().split_once(' ').expect("tagged line");
        assert_eq!(t, tag, "server said {line:?}");
        v.parse().expect("number")
    }

    /// When the next session's corpus started (CLOCK_MONOTONIC ns).
    fn streamed(&mut self) -> u64 {
        let start = Self::line(&mut self.lines, "stream");
        Self::line(&mut self.lines, "done");
        start
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------- consumers

/// The ceiling: split on the blank line, parse into borrowed pairs, count events.
fn minimal(port: u16) -> (u64, u64) {
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
fn expected(corpus: &[u8]) -> (u64, u64) {
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

fn counted(service: &app::Service) -> u64 {
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

/// Runs the whole service against the server; (events/s, every event counted).
async fn switchboard_run(
    server: &mut Server,
    want: (u64, u64),
    repeat: u64,
    rss: bool,
) -> (f64, bool) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut vars: HashMap<&str, String> = HashMap::new();
    vars.insert("AMI_PORT", server.port.to_string());
    vars.insert("AMI_AUTH", "plain".into());
    vars.insert("AMI_USERNAME", "switchboard".into());
    vars.insert("AMI_SECRET", "x".into());
    vars.insert("AMI_EVENT_FILTER", "off".into());
    vars.insert("AMI_PING_INTERVAL_MS", "600000".into());
    vars.insert("AMI_PING_TIMEOUT_MS", "600000".into());
    vars.insert("HTTP_BIND", "127.0.0.1:0".into());
    let db = format!("sqlite://{}", dir.path().join("ingest.db").display());
    vars.insert("DATABASE_URL", db);
    let config = Config::from_lookup(|k| vars.get(k).cloned()).expect("config");
    let service = app::start(config).await.expect("service");
    let router = service.state.pbxs[0].router.clone();
    // FullyBooted comes on top of the corpus.
    let (count, routed) = (want.0 * repeat + 1, want.1 * repeat + 1);
    let end = Instant::now() + DEADLINE;
    let mut rss_1m = None;
    let mut next_million = 1_000_000;
    loop {
        let c = counted(&service);
        if rss && c >= next_million {
            let stats = router.send(GetRouterStats).await.expect("router");
            let hub_seq = service.state.hub.send(GetHubStats).await.expect("hub").0;
            println!(
                "{} M events: RSS {:.1} MiB, {} calls open, {} routed, {} changes published, \
                 {} store ops pending",
                next_million / 1_000_000,
                rss_bytes() as f64 / 1048576.0,
                stats.calls,
                stats.routed,
                hub_seq,
                service.state.metrics.store_pending.get()
            );
            rss_1m.get_or_insert(rss_bytes());
            next_million += 1_000_000;
        }
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
    let finished = mono_ns();
    let all = counted(&service) == count;
    if let Some(at_1m) = rss_1m {
        let at_10m = rss_bytes();
        purge();
        let stats = router.send(GetRouterStats).await.expect("router");
        println!(
            "drained: RSS {:.1} MiB; with freed pages purged: {:.1} MiB; {} calls open",
            at_10m as f64 / 1048576.0,
            rss_bytes() as f64 / 1048576.0,
            stats.calls
        );
        println!(
            "RSS after 1 M events: {:.1} MiB; after {} M: {:.1} MiB ({:+.1} %)",
            at_1m as f64 / 1048576.0,
            count / 1_000_000,
            at_10m as f64 / 1048576.0,
            (at_10m as f64 / at_1m as f64 - 1.0) * 100.0
        );
    }
    service.shutdown().await;
    let start = server.streamed();
    ((count - 1) as f64 / ((finished - start) as f64 / 1e9), all)
}

/// Hands the pages of freed memory back to the system now rather than after
/// jemalloc's decay time, so RSS shows what is held rather than what was freed.
fn purge() {
    // SAFETY: a write-less mallctl of a documented name (4096 = every arena).
    unsafe {
        tikv_jemalloc_sys::mallctl(
            c"arena.4096.purge".as_ptr(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
        );
    }
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    if std::env::var("INGEST_ROLE").is_ok_and(|r| r == "server") {
        serve();
        return;
    }
    let events = env_num("INGEST_EVENTS", 200_000);
    let runs = env_num("INGEST_RUNS", 5).max(1);
    let path = corpus_path(events);
    let mut bytes = std::fs::read(&path).expect("corpus");
    let want = expected(&bytes);
    let rss_mode = std::env::args().any(|a| a == "rss");
    actix_rt::System::new().block_on(async move {
        if rss_mode {
            let tail = closing_hangups(&bytes);
            bytes.extend_from_slice(&tail);
            let want = expected(&bytes);
            let passes = env_num("INGEST_PASSES", 50).max(5);
            let mut server = Server::start(&path, passes);
            let (rate, all) = switchboard_run(&mut server, want, passes as u64, true).await;
            println!("rss run: {rate:.0} events/s, every event counted: {all}");
            return;
        }
        let mut server = Server::start(&path, 1);
        let me = 0;
        let server_pid = server.child.id() as libc::pid_t;
        println!(
            "corpus: {events} events ({} read by the state), {}",
            want.1,
            path.display()
        );
        for pinned in [true, false] {
            pin(me, pinned.then_some(0));
            pin(server_pid, pinned.then_some(1));
            let (mut mins, mut sbs, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
            for run in 0..runs {
                let port = server.port;
                let (n, done) = std::thread::spawn(move || minimal(port))
                    .join()
                    .expect("minimal");
                let start = server.streamed();
                let min_rate = n as f64 / ((done - start) as f64 / 1e9);
                let (sb_rate, all) = switchboard_run(&mut server, want, 1, false).await;
                println!(
                    "{} run {run}: minimal {:.0} events/s ({n} events); switchboard {:.0} events/s \
                     (every event counted: {all})",
                    if pinned { "pinned" } else { "unpinned" },
                    min_rate,
                    sb_rate
                );
                mins.push(min_rate);
                sbs.push(sb_rate);
                ratios.push(sb_rate / min_rate);
            }
            let (m, s, r) = (median(&mut mins), median(&mut sbs), median(&mut ratios));
            println!(
                "{}: minimal median {:.0} ({:.0}–{:.0}), switchboard median {:.0} ({:.0}–{:.0}); \
                 ratio of the medians {:.2}, median of each run's ratio {r:.2} ({:.2}–{:.2})",
                if pinned {
                    "PINNED to one core"
                } else {
                    "UNPINNED"
                },
                m,
                mins[0],
                mins[mins.len() - 1],
                s,
                sbs[0],
                sbs[sbs.len() - 1],
                s / m,
                ratios[0],
                ratios[ratios.len() - 1]
            );
        }
        pin(me, None);
    });
}
