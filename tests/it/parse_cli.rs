//! `switchboard parse FILE`, run as the built binary: its JSON agrees with the counts
//! of every fixture's note (and so with `shared/tools/ami-count`), a damaged capture
//! is counted as far as it goes plus errors with exit code 0, and an unreadable file
//! fails.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use crate::common::ami::{fixture, fixtures_dir, note, SCENARIOS};

fn run_parse(path: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .arg("parse")
        .arg(path)
        .env_remove("RUST_LOG")
        .output()
        .expect("run switchboard")
}

/// Runs `switchboard parse` on `bytes` written to a temporary file; expects success.
fn parse_bytes(bytes: &[u8]) -> Value {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("capture.ami");
    std::fs::write(&path, bytes).expect("write capture");
    parse_ok(&path)
}

fn parse_ok(path: &Path) -> Value {
    let out = run_parse(path);
    assert!(
        out.status.success(),
        "exit {:?}, stderr {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).expect("UTF-8 output");
    assert_eq!(stdout.lines().count(), 1, "one JSON line: {stdout}");
    serde_json::from_str(&stdout).expect("JSON output")
}

fn counts(v: &Value, key: &str) -> BTreeMap<String, u64> {
    v[key]
        .as_object()
        .unwrap_or_else(|| panic!("{key} is an object in {v}"))
        .iter()
        .map(|(k, n)| (k.clone(), n.as_u64().expect("count")))
        .collect()
}

fn total(v: &Value, key: &str) -> u64 {
    counts(v, key).values().sum()
}

#[test]
fn parse_output_equals_the_notes_for_every_fixture() {
    for scenario in SCENARIOS {
        let expected = note(scenario);
        let v = parse_ok(&fixtures_dir().join(format!("{scenario}.server.ami")));
        assert_eq!(v["banner"], Value::from(expected.banner), "{scenario}");
        assert_eq!(counts(&v, "events"), expected.event_table, "{scenario}");
        assert_eq!(counts(&v, "responses"), expected.responses, "{scenario}");
        assert_eq!(v["errors"], Value::from(0), "{scenario}");
        let keys: Vec<&String> = v.as_object().expect("object").keys().collect();
        assert_eq!(keys, ["banner", "errors", "events", "responses"]);
    }
}

/// Offset just past the `n`th message end (`\r\n\r\n`) of a capture without bare LFs.
fn end_of_message(bytes: &[u8], n: usize) -> usize {
    bytes
        .windows(4)
        .enumerate()
        .filter(|(_, w)| w == b"\r\n\r\n")
        .nth(n - 1)
        .map(|(i, _)| i + 4)
        .expect("enough messages")
}

#[test]
fn capture_cut_mid_message_counts_what_came_before_plus_one_error() {
    let bytes = fixture("devstate.server.ami");
    let cut = end_of_message(&bytes, 1000) + 30;
    let v = parse_bytes(&bytes[..cut]);
    assert_eq!(v["banner"], Value::from("Asterisk Call Manager/11.0.0"));
    assert_eq!(total(&v, "events") + total(&v, "responses"), 1000);
    assert_eq!(v["errors"], Value::from(1));
}

#[test]
fn garbage_block_between_messages_is_one_error_and_costs_nothing_else() {
    let bytes = fixture("calls-local.server.ami");
    let at = end_of_message(&bytes, 500);
    let mut damaged = bytes[..at].to_vec();
    damaged.extend_from_slice(b"this is not AMI\r\n%%% #!\r\n\r\n");
    damaged.extend_from_slice(&bytes[at..]);
    let expected = note("calls-local");
    let v = parse_bytes(&damaged);
    assert_eq!(counts(&v, "events"), expected.event_table);
    assert_eq!(counts(&v, "responses"), expected.responses);
    assert_eq!(v["errors"], Value::from(1));
}

#[test]
fn invalid_utf8_inside_a_value_keeps_the_message() {
    let bytes = fixture("calls-local.server.ami");
    let at = end_of_message(&bytes, 700);
    // Inside the name of the next event, right after "Event: ".
    let inside = at
        + bytes[at..]
            .windows(7)
            .position(|w| w == b"Event: ")
            .expect("an event follows")
        + 7;
    let mut damaged = bytes[..inside].to_vec();
    damaged.extend_from_slice(b"\xff\xfe\xc3");
    damaged.extend_from_slice(&bytes[inside..]);
    let expected = note("calls-local");
    let v = parse_bytes(&damaged);
    assert_eq!(v["errors"], Value::from(0));
    assert_eq!(total(&v, "events"), expected.events);
    assert_eq!(counts(&v, "responses"), expected.responses);
    // The damaged event is counted under its repaired name, one fewer under the real one.
    let events = counts(&v, "events");
    let repaired: Vec<_> = events.keys().filter(|k| k.contains('\u{fffd}')).collect();
    assert_eq!(repaired.len(), 1, "{events:?}");
}

#[test]
fn endless_binary_line_is_one_error_and_loses_only_the_message_it_runs_into() {
    let bytes = fixture("queries.server.ami");
    let at = end_of_message(&bytes, 300);
    let mut damaged = bytes[..at].to_vec();
    // 20 KB with no line break, mostly invalid UTF-8: it runs into the next message's
    // first line, so that message is lost with it as one unclassifiable block (the
    // reference counter loses it too: the block no longer starts with Event/Response).
    damaged.extend(
        (0..20_000u32).map(|i| match (i as u8).wrapping_mul(151).wrapping_add(7) {
            b'\n' => 0,
            b => b,
        }),
    );
    damaged.extend_from_slice(&bytes[at..]);
    let v = parse_bytes(&damaged);
    assert_eq!(
        total(&v, "events") + total(&v, "responses"),
        note("queries").messages - 1
    );
    assert_eq!(v["errors"], Value::from(1));
}

/// Runs the copied reference counter (`tests/fixtures/tools/ami-count`) on `path`.
fn ami_count(path: &Path) -> Value {
    let out = Command::new("python3")
        .arg(fixtures_dir().join("tools/ami-count"))
        .arg(path)
        .output()
        .expect("python3 runs the reference counter");
    assert!(
        out.status.success(),
        "ami-count failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("ami-count prints JSON")
}

#[test]
fn a_stream_with_a_70_kib_value_counts_the_same_as_the_reference_counter() {
    let path = fixtures_dir().join("corpus-70k.ami");
    let bytes = std::fs::read(&path).expect("corpus fixture");
    let longest = bytes
        .split(|&b| b == b'\n')
        .map(<[u8]>::len)
        .max()
        .unwrap_or(0);
    assert!(
        longest > 70 * 1024,
        "the fixture holds a 70 KiB line ({longest})"
    );
    let ours = parse_ok(&path);
    let reference = ami_count(&path);
    assert_eq!(ours, reference);
    assert_eq!(ours["errors"], Value::from(0));
    assert_eq!(
        counts(&ours, "events")["VarSet"],
        52,
        "the long VarSet counted"
    );
}

#[test]
fn empty_capture_counts_nothing() {
    let v = parse_bytes(b"");
    assert_eq!(v["banner"], Value::Null);
    assert_eq!(total(&v, "events"), 0);
    assert_eq!(v["errors"], Value::from(0));
}

#[test]
fn unreadable_file_fails_with_a_message() {
    let dir = tempfile::tempdir().expect("temp dir");
    for path in [dir.path().join("missing.ami"), dir.path().to_path_buf()] {
        let out = run_parse(&path);
        assert!(!out.status.success(), "{} must fail", path.display());
        assert!(out.stdout.is_empty());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("cannot read"), "{stderr}");
    }
}
