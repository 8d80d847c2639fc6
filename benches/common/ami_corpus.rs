//! The realistic AMI stream of `benches/data/gen_corpus.py` and the small AMI
//! server side the benches need to serve it: generating the corpus once, the
//! hang-ups that close the calls it leaves up, and answers to the actions a
//! service sends at login (login, the resync lists, ping, filter, logoff).
//!
//! Shared by the benches that replay the stream (`#[path]`-included): `e2e`'s
//! `realistic` scenario and `ingest`'s corpus server.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The Uniqueid/Linkedid prefix of every generated channel; a pass `r` over the
/// corpus rewrites its last three digits to `r`, so each pass is a new set of calls.
pub const ID_PREFIX: &[u8] = b"1763765000.";

/// The corpus file of `events` events, generated into the temp directory on first
/// use (python3 needed).
pub fn corpus_path(events: usize) -> PathBuf {
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

/// The messages of `corpus`, each without its blank line (`\r\n\r\n` follows it).
pub fn messages(corpus: &[u8]) -> impl Iterator<Item = &[u8]> {
    memchr::memmem::find_iter(corpus, b"\r\n\r\n").scan(0, move |start, end| {
        let m = &corpus[*start..end];
        *start = end + 4;
        Some(m)
    })
}

/// `Hangup`s for the channels the corpus leaves up (it is cut mid-traffic), so a
/// pass repeated with new ids ends every call it starts; before them, what
/// Asterisk sends when a caller still waiting in a queue hangs up
/// (`QueueCallerAbandon`, `QueueCallerLeave`), or each pass would leave its
/// waiting callers in the queues for good (43 of them per pass of the 200,000-event
/// corpus: the queue pictures grew by every pass, #19). Each carries a
/// `Timestamp:` of the corpus's width, for a server that restamps events.
pub fn closing_hangups(corpus: &[u8]) -> Vec<u8> {
    let mut open: Vec<(String, String, String)> = Vec::new();
    let mut at: HashMap<String, usize> = HashMap::new();
    // Callers waiting in a queue, in the order they joined: queue, channel,
    // uniqueid, linkedid.
    let mut queued: Vec<[String; 4]> = Vec::new();
    for msg in messages(corpus) {
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
        } else if text.starts_with("Event: QueueCallerJoin\r") {
            queued.push([
                get("Queue"),
                get("Channel"),
                get("Uniqueid"),
                get("Linkedid"),
            ]);
        } else if text.starts_with("Event: QueueCallerLeave\r") {
            let uid = get("Uniqueid");
            queued.retain(|q| q[2] != uid);
        }
    }
    let mut tail = String::new();
    for [queue, channel, uid, linked] in queued {
        for event in ["QueueCallerAbandon", "QueueCallerLeave"] {
            tail.push_str(&format!(
                "Event: {event}\r\nPrivilege: agent,all\r\nTimestamp: 1763766000.000000\r\n\
                 Channel: {channel}\r\nUniqueid: {uid}\r\nLinkedid: {linked}\r\n\
                 Queue: {queue}\r\nPosition: 1\r\nOriginalPosition: 1\r\nHoldTime: 0\r\n\
                 Count: 0\r\n\r\n"
            ));
        }
    }
    for (channel, uid, linked) in open.into_iter().filter(|o| !o.1.is_empty()) {
        tail.push_str(&format!(
            "Event: Hangup\r\nPrivilege: call,all\r\nTimestamp: 1763766000.000000\r\n\
             Channel: {channel}\r\nUniqueid: {uid}\r\nLinkedid: {linked}\r\nCause: 16\r\n\
             Cause-txt: Normal Clearing\r\n\r\n"
        ));
    }
    tail.into_bytes()
}

/// The next action a client sent, keys lower-cased; `None` at the end of the stream.
pub fn read_action(r: &mut impl BufRead) -> Option<HashMap<String, String>> {
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

/// What a PBX with no channels and no extensions answers to `action`, and whether
/// the session ends after it (logoff).
pub fn answer(action: &HashMap<String, String>) -> (String, bool) {
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

/// True when `action` asks for one of the two lists a service reads before it
/// trusts its state (channels, extension states): a server streams once both are in.
pub fn is_resync_list(action: &HashMap<String, String>) -> bool {
    action.get("action").is_some_and(|a| {
        a.eq_ignore_ascii_case("coreshowchannels") || a.eq_ignore_ascii_case("extensionstatelist")
    })
}
