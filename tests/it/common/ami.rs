//! Shared helpers of the AMI test files: fixture loading, the counts in each
//! fixture's `.md` note, and whole-buffer / chunked decoding.
//! Used by the `ami_*` and `parse_cli` tests.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bytes::BytesMut;
use switchboard::ami::{AmiCodec, Frame, Limits};
use tokio_util::codec::Decoder;

/// The scenarios recorded from a real Asterisk, as listed in `tests/fixtures/README.md`.
pub const SCENARIOS: [&str; 9] = [
    "calls-hold",
    "calls-local",
    "calls-local-ast20",
    "calls-outcomes",
    "calls-sip",
    "calls-transfer",
    "devstate",
    "login-idle",
    "queries",
];

/// `tests/fixtures` inside the repository.
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Bytes of `tests/fixtures/<name>`.
pub fn fixture(name: &str) -> Vec<u8> {
    let path = fixtures_dir().join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// What a fixture's `.md` note says about its server transcript.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// Size of `<scenario>.server.ami` in bytes.
    pub server_bytes: usize,
    /// The banner line without its CRLF.
    pub banner: String,
    /// Complete messages (events plus responses).
    pub messages: u64,
    /// Events among them.
    pub events: u64,
    /// Responses by `Response:` value.
    pub responses: BTreeMap<String, u64>,
    /// Events by name (the note's table).
    pub event_table: BTreeMap<String, u64>,
}

fn number_after<'a>(text: &'a str, marker: &str) -> &'a str {
    let rest = text
        .split_once(marker)
        .unwrap_or_else(|| panic!("note lacks {marker:?}"))
        .1;
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    &rest[..end]
}

/// Reads the "Counts" section and the event table of `tests/fixtures/<scenario>.md`.
pub fn note(scenario: &str) -> Note {
    let text = String::from_utf8(fixture(&format!("{scenario}.md"))).expect("note is UTF-8");
    let server_bytes = number_after(&text, &format!("`{scenario}.server.ami` ("))
        .parse()
        .expect("server byte count");
    let banner = text
        .split_once("- banner line(s): '")
        .and_then(|(_, rest)| rest.split_once('\''))
        .map(|(b, _)| b.to_string())
        .expect("banner line");
    let messages = number_after(&text, "- complete messages: ")
        .parse()
        .expect("message count");
    let events = number_after(&text, "(events ")
        .parse()
        .expect("event count");
    let responses_line = text
        .lines()
        .find_map(|l| l.strip_prefix("- responses: "))
        .expect("responses line");
    let responses = responses_line
        .split(", ")
        .map(|kv| {
            let (k, v) = kv.split_once('=').expect("Kind=N");
            (k.to_string(), v.parse().expect("response count"))
        })
        .collect();
    let table_start = text.find("| Event | count |").expect("event table");
    let event_table = text[table_start..]
        .lines()
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            (cells[1].to_string(), cells[2].parse().expect("event count"))
        })
        .collect();
    Note {
        server_bytes,
        banner,
        messages,
        events,
        responses,
        event_table,
    }
}

/// Decodes `bytes` as one whole stream (then end of stream) with `codec`.
pub fn decode_with(mut codec: AmiCodec, bytes: &[u8]) -> Vec<Frame> {
    let mut buf = BytesMut::from(bytes);
    let mut frames = Vec::new();
    while let Some(frame) = codec.decode_eof(&mut buf).expect("in-memory decode") {
        frames.push(frame);
    }
    frames
}

/// Decodes a PBX-to-client stream (banner expected) with the default limits.
pub fn decode_all(bytes: &[u8]) -> Vec<Frame> {
    decode_with(AmiCodec::new(Limits::default()), bytes)
}

/// Decodes `bytes` delivered in pieces of the given sizes (cycled), as a socket would.
///
/// Also checks after every `decode` that returned `None` that the codec kept no more
/// than `bound` bytes buffered.
pub fn decode_chunked_bounded(
    mut codec: AmiCodec,
    bytes: &[u8],
    sizes: &[usize],
    bound: usize,
) -> Vec<Frame> {
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    let mut rest = bytes;
    let mut i = 0;
    while !rest.is_empty() {
        let n = sizes[i % sizes.len()].clamp(1, rest.len());
        i += 1;
        buf.extend_from_slice(&rest[..n]);
        rest = &rest[n..];
        while let Some(frame) = codec.decode(&mut buf).expect("in-memory decode") {
            frames.push(frame);
        }
        assert!(
            buf.len() <= bound,
            "codec holds {} bytes, more than {bound}",
            buf.len()
        );
    }
    while let Some(frame) = codec.decode_eof(&mut buf).expect("in-memory decode") {
        frames.push(frame);
    }
    frames
}

/// [`decode_chunked_bounded`] without a memory bound.
pub fn decode_chunked(codec: AmiCodec, bytes: &[u8], sizes: &[usize]) -> Vec<Frame> {
    decode_chunked_bounded(codec, bytes, sizes, usize::MAX)
}
