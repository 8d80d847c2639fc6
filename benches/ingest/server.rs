//! The corpus server: this same binary run as a child process
//! (`INGEST_ROLE=server`), answering the login and the resync lists and then
//! writing the corpus as fast as the reader takes it.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use crate::{env_num, mono_ns, ID_PREFIX};

/// `Hangup`s for the channels the corpus leaves up (it is cut mid-traffic), so a
/// pass repeated with new ids ends every call it starts: the rss mode then measures
/// memory per event, not a growing number of calls nobody hangs up.
pub(crate) fn closing_hangups(corpus: &[u8]) -> Vec<u8> {
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
/// both resync lists (`stream <ns>` printed then, `done <ns>` after). With
/// `INGEST_PAUSE_AFTER=P` it prints `paused <ns>` after pass P and waits for a line
/// on its stdin before the next (the rss mode measures the drained service there).
/// The user `minimal` is disconnected after the corpus; any other stays until it
/// leaves.
pub(crate) fn serve() {
    let path = std::env::var("INGEST_CORPUS").expect("INGEST_CORPUS");
    let repeat = env_num("INGEST_REPEAT", 1);
    let pause_after = env_num("INGEST_PAUSE_AFTER", 0);
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
            if pass + 1 == pause_after && pass + 1 < repeat {
                writeln!(out, "paused {}", mono_ns()).ok();
                out.flush().ok();
                let mut line = String::new();
                if std::io::stdin().read_line(&mut line).is_err() {
                    break;
                }
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

/// The server child process and what it prints.
pub(crate) struct Server {
    pub(crate) child: Child,
    lines: BufReader<ChildStdout>,
    stdin: ChildStdin,
    pub(crate) port: u16,
}

impl Server {
    /// Serves `corpus` `repeat` times per session, pausing after `pause_after`
    /// passes (0: never).
    pub(crate) fn start(corpus: &Path, repeat: usize, pause_after: usize) -> Server {
        let mut child = Command::new(std::env::current_exe().expect("exe"))
            .env("INGEST_ROLE", "server")
            .env("INGEST_CORPUS", corpus)
            .env("INGEST_REPEAT", repeat.to_string())
            .env("INGEST_PAUSE_AFTER", pause_after.to_string())
            .stdout(Stdio::piped())
            .stdin(Stdio::piped())
            .spawn()
            .expect("server process");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout"));
        let stdin = child.stdin.take().expect("stdin");
        let port = Self::read_tag(&mut lines, "port") as u16;
        Server {
            child,
            lines,
            stdin,
            port,
        }
    }

    fn read_tag(lines: &mut BufReader<ChildStdout>, tag: &str) -> u64 {
        let mut line = String::new();
        lines.read_line(&mut line).expect("server output");
        let (t, v) = line.trim().split_once(' ').expect("tagged line");
        assert_eq!(t, tag, "server said {line:?}");
        v.parse().expect("number")
    }

    /// The number the server printed next, which must be tagged `tag`.
    pub(crate) fn line(&mut self, tag: &str) -> u64 {
        Self::read_tag(&mut self.lines, tag)
    }

    /// When the next session's corpus started (CLOCK_MONOTONIC ns).
    pub(crate) fn streamed(&mut self) -> u64 {
        let start = self.line("stream");
        self.line("done");
        start
    }

    /// Lets a paused server write its next passes.
    pub(crate) fn resume(&mut self) {
        self.stdin.write_all(b"go\n").expect("server stdin");
        self.stdin.flush().expect("server stdin");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
