//! Decoding speed of the AMI codec, bytes to typed messages, on one core in memory.
//!
//! - `fixtures/*`: every real capture in `tests/fixtures` (MB/s and events/s).
//! - `call_centre/*`: a ~50 MB synthetic stream of a busy call centre, built from real
//!   fixture events repeated in a realistic mix (about 475 bytes per event), decoded
//!   whole, and fed in 64 KiB reads as a socket would.
//! - `baseline/*`: a minimal memchr split into borrowed `(&[u8], &[u8])` pairs: no
//!   limits, no UTF-8 check, no owned messages — the floor to compare against.
//!
//! Every decode runs `AmiMessage::classify` on each frame, as the service does. Run:
//! `cargo bench --bench codec -- --measurement-time 3 --warm-up-time 1 --sample-size 20`.

use std::collections::HashMap;
use std::hint::black_box;
use std::path::Path;

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use switchboard::ami::{AmiCodec, AmiMessage, Frame, Limits};
use tokio_util::codec::Decoder;

const FIXTURES: [&str; 9] = [
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

/// One two-party call with a forked dial, as (event name, how many) in wire order.
const CALL: [(&str, usize); 16] = [
    ("Newchannel", 1),
    ("VarSet", 4),
    ("Newexten", 3),
    ("DeviceStateChange", 1),
    ("Newchannel", 1),
    ("DialBegin", 2),
    ("Newstate", 1),
    ("ExtensionStatus", 1),
    ("DialEnd", 2),
    ("BridgeCreate", 1),
    ("BridgeEnter", 2),
    ("VarSet", 10),
    ("BridgeLeave", 2),
    ("Newexten", 3),
    ("BridgeDestroy", 1),
    ("Hangup", 2),
];

fn read_fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Decodes a whole buffer to typed messages; returns how many events it held.
fn decode_typed(codec: &mut AmiCodec, buf: &mut BytesMut) -> usize {
    let mut events = 0;
    while let Ok(Some(frame)) = codec.decode_eof(buf) {
        if let Frame::Message(raw) = frame {
            if let Ok(AmiMessage::Event(e)) = AmiMessage::classify(raw) {
                events += 1;
                black_box(&e);
            }
        }
    }
    events
}

/// Decodes `bytes` fed in `chunk`-sized reads, as `FramedRead` does.
fn decode_typed_chunked(bytes: &[u8], chunk: usize) -> usize {
    let mut codec = AmiCodec::new(Limits::default());
    let mut buf = BytesMut::with_capacity(chunk * 2);
    let mut events = 0;
    for piece in bytes.chunks(chunk) {
        buf.extend_from_slice(piece);
        while let Ok(Some(frame)) = codec.decode(&mut buf) {
            if let Frame::Message(raw) = frame {
                if let Ok(AmiMessage::Event(e)) = AmiMessage::classify(raw) {
                    events += 1;
                    black_box(&e);
                }
            }
        }
    }
    events + decode_typed(&mut codec, &mut buf)
}

/// The comparison floor: split lines with memchr, borrow `(key, value)` pairs.
fn baseline(bytes: &[u8]) -> usize {
    let mut events = 0;
    let mut headers: Vec<(&[u8], &[u8])> = Vec::with_capacity(64);
    // Skip the banner, which has no blank line after it.
    let skip = if bytes.starts_with(b"Asterisk Call Manager/") {
        memchr::memchr(b'\n', bytes).map_or(bytes.len(), |i| i + 1)
    } else {
        0
    };
    let mut start = skip;
    for nl in memchr::memchr_iter(b'\n', &bytes[skip..]) {
        let nl = nl + skip;
        let mut line = &bytes[start..nl];
        start = nl + 1;
        if let [rest @ .., b'\r'] = line {
            line = rest;
        }
        if line.is_empty() {
            if headers.first().is_some_and(|(k, _)| *k == b"Event") {
                events += 1;
            }
            black_box(&headers);
            headers.clear();
            continue;
        }
        match memchr::memchr(b':', line) {
            Some(c) => {
                let mut v = &line[c + 1..];
                while let [b' ', rest @ ..] = v {
                    v = rest;
                }
                headers.push((&line[..c], v));
            }
            None => headers.push((line, b"")),
        }
    }
    events
}

/// Every event block of the given captures, by name (each with its blank line).
fn event_blocks(names: &[&str]) -> HashMap<String, Vec<Vec<u8>>> {
    let mut by_name: HashMap<String, Vec<Vec<u8>>> = HashMap::new();
    for name in names {
        let bytes = read_fixture(&format!("{name}.server.ami"));
        let mut start = 0;
        for end in memchr::memmem::find_iter(&bytes, b"\r\n\r\n") {
            let block = &bytes[start..end + 4];
            start = end + 4;
            let Some(rest) = block.strip_prefix(b"Event: ") else {
                continue;
            };
            let name_end = memchr::memchr(b'\r', rest).unwrap_or(0);
            let event = String::from_utf8_lossy(&rest[..name_end]).into_owned();
            by_name.entry(event).or_default().push(block.to_vec());
        }
    }
    by_name
}

/// About `target` bytes of call-centre traffic made of real events; returns the bytes
/// (starting with a banner) and the number of events.
fn call_centre_stream(target: usize) -> (Vec<u8>, usize) {
    let blocks = event_blocks(&["calls-sip", "calls-transfer", "calls-local", "devstate"]);
    let mut out = b"Asterisk Call Manager/11.0.0\r\n".to_vec();
    let mut events = 0;
    let mut used: HashMap<&str, usize> = HashMap::new();
    while out.len() < target {
        for (name, n) in CALL {
            let real = &blocks[name];
            for _ in 0..n {
                let i = used.entry(name).or_default();
                out.extend_from_slice(&real[*i % real.len()]);
                *i += 1;
                events += 1;
            }
        }
    }
    (out, events)
}

fn fixtures(c: &mut Criterion) {
    let loaded: Vec<(&str, Vec<u8>, usize)> = FIXTURES
        .iter()
        .map(|name| {
            let bytes = read_fixture(&format!("{name}.server.ami"));
            let events = decode_typed(&mut AmiCodec::default(), &mut BytesMut::from(&bytes[..]));
            (*name, bytes, events)
        })
        .collect();
    for (group, by_bytes) in [("fixtures_bytes", true), ("fixtures_events", false)] {
        let mut g = c.benchmark_group(group);
        for (name, bytes, events) in &loaded {
            g.throughput(if by_bytes {
                Throughput::Bytes(bytes.len() as u64)
            } else {
                Throughput::Elements(*events as u64)
            });
            g.bench_function(*name, |b| {
                b.iter_batched_ref(
                    || BytesMut::from(&bytes[..]),
                    |buf| decode_typed(&mut AmiCodec::default(), buf),
                    BatchSize::SmallInput,
                )
            });
        }
        g.finish();
    }
}

fn call_centre(c: &mut Criterion) {
    let (stream, events) = call_centre_stream(50 * 1024 * 1024);
    println!(
        "call-centre stream: {} bytes, {events} events, {:.0} bytes/event",
        stream.len(),
        stream.len() as f64 / events as f64
    );
    assert_eq!(decode_typed_chunked(&stream, 64 * 1024), events);
    assert_eq!(baseline(&stream), events);
    for (group, throughput) in [
        ("call_centre_bytes", Throughput::Bytes(stream.len() as u64)),
        ("call_centre_events", Throughput::Elements(events as u64)),
    ] {
        let mut g = c.benchmark_group(group);
        g.throughput(throughput);
        g.bench_function("typed_whole", |b| {
            b.iter_batched_ref(
                || BytesMut::from(&stream[..]),
                |buf| decode_typed(&mut AmiCodec::default(), buf),
                BatchSize::PerIteration,
            )
        });
        g.bench_function("typed_64k_reads", |b| {
            b.iter(|| decode_typed_chunked(&stream, 64 * 1024))
        });
        g.bench_function("baseline_borrowed_pairs", |b| b.iter(|| baseline(&stream)));
        g.finish();
    }
}

criterion_group!(benches, fixtures, call_centre);
criterion_main!(benches);
