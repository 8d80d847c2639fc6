//! `AMI_EVENT_FILTER=auto` against the real captures: every event the state reads
//! passes the whitelist (matched the way Asterisk matches filters: each expression
//! anywhere in the event's text), the router reads nothing outside the one table of
//! consumed events, and the share of bytes and events the filter removes per
//! capture is printed (`cargo test --test it ami_filter:: -- --nocapture`).

use regex::Regex;
use switchboard::ami::consumed::{is_consumed, CONSUMED};
use switchboard::ami::event_names::KNOWN;
use switchboard::ami::{AmiMessage, Event, EventFilter, Frame, RawMessage};
use switchboard::state::route::{route, Route};

use crate::common::ami::{decode_all, fixture, SCENARIOS};

fn whitelist(filter: &EventFilter) -> Vec<Regex> {
    filter
        .patterns()
        .iter()
        .map(|p| Regex::new(p).expect("a valid expression"))
        .collect()
}

fn passes(filters: &[Regex], text: &str) -> bool {
    filters.iter().any(|r| r.is_match(text))
}

/// The live events of a capture (list items, which carry an ActionID, are replies).
fn live_events(scenario: &str) -> Vec<Event> {
    decode_all(&fixture(&format!("{scenario}.server.ami")))
        .into_iter()
        .filter_map(|f| match f {
            Frame::Message(m) => match AmiMessage::classify(m) {
                Ok(AmiMessage::Event(e)) if e.action_id().is_none() => Some(e),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// True when the service reads `event`: the router sends it to a call or an
/// extension, or the connection acts on it.
fn read_by_the_state(event: &Event) -> bool {
    matches!(route(event), Route::Call(_) | Route::Extension(_))
        || matches!(event.name(), "FullyBooted" | "Shutdown" | "Reload")
}

#[test]
fn every_name_the_router_sends_somewhere_is_in_the_consumed_table() {
    for name in KNOWN {
        let event = Event::from_raw(RawMessage::from_pairs(&[
            ("Event", *name),
            ("Uniqueid", "1.1"),
            ("Linkedid", "1.1"),
            ("Exten", "1001"),
            ("Device", "PJSIP/1001"),
            ("Peer", "PJSIP/1001"),
            ("AOR", "1001"),
        ]));
        if read_by_the_state(&event) {
            assert!(
                is_consumed(name),
                "{name} is routed but missing from CONSUMED"
            );
        }
    }
    assert!(CONSUMED.len() > 30);
}

#[test]
fn every_event_the_state_reads_in_every_capture_passes_the_auto_filter() {
    let filters = whitelist(&EventFilter::Auto);
    let mut read = 0;
    for scenario in SCENARIOS.iter().chain(&["filter", "calls-queue"]) {
        for event in live_events(scenario) {
            if read_by_the_state(&event) {
                read += 1;
                assert!(
                    passes(&filters, event.raw().as_text()),
                    "{scenario}: {} would be filtered out",
                    event.name()
                );
            }
        }
    }
    assert!(read > 500, "the captures hold calls: {read} events read");
}

#[test]
fn an_operators_list_passes_its_names_and_drops_the_rest() {
    let filters = whitelist(&EventFilter::parse("Newchannel,DeviceStateChange").expect("list"));
    let names: Vec<String> = live_events("devstate")
        .iter()
        .filter(|e| passes(&filters, e.raw().as_text()))
        .map(|e| e.name().to_string())
        .collect();
    assert!(names.iter().any(|n| n == "DeviceStateChange"), "{names:?}");
    assert!(
        names
            .iter()
            .all(|n| n == "Newchannel" || n == "DeviceStateChange"),
        "{names:?}"
    );
}

#[test]
fn share_of_each_capture_the_auto_filter_removes() {
    let filters = whitelist(&EventFilter::Auto);
    println!("| capture | events | removed | bytes | removed |");
    println!("|---|---:|---:|---:|---:|");
    for scenario in SCENARIOS.iter().chain(&["calls-queue"]) {
        let events = live_events(scenario);
        let bytes: usize = events.iter().map(|e| e.raw().byte_len()).sum();
        let dropped: Vec<&Event> = events
            .iter()
            .filter(|e| !passes(&filters, e.raw().as_text()))
            .collect();
        let dropped_bytes: usize = dropped.iter().map(|e| e.raw().byte_len()).sum();
        let pct = |a: usize, b: usize| {
            if b == 0 {
                0.0
            } else {
                100.0 * a as f64 / b as f64
            }
        };
        println!(
            "| {scenario} | {} | {:.1} % | {bytes} | {:.1} % |",
            events.len(),
            pct(dropped.len(), events.len()),
            pct(dropped_bytes, bytes)
        );
        assert!(dropped.iter().all(|e| !read_by_the_state(e)), "{scenario}");
    }
}
