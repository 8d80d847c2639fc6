//! The simulator applies `Action: Filter` the way Asterisk does (filter capture):
//! a filtered session gets only events matching its whitelist, an unfiltered one
//! everything, and `Remove` is refused.

use std::time::Duration;

use regex::Regex;
use switchboard::ami::EventFilter;

use crate::common::sim_client::{quiet_sim, Client};
use crate::common::wait::{wait_until, DEADLINE};

async fn drain(c: &mut Client) -> Vec<String> {
    let mut names: Vec<String> = c
        .events
        .drain(..)
        .filter_map(|m| m.get("Event").map(str::to_string))
        .collect();
    while let Some(m) = c.next_within(Duration::from_millis(300)).await {
        if let Some(name) = m.get("Event") {
            names.push(name.to_string());
        }
    }
    names
}

#[actix_rt::test]
async fn a_filtered_session_gets_only_the_listed_events() {
    let sim = quiet_sim();
    let mut filtered = Client::connect(sim.addr()).await;
    filtered.login("admin", "amisecret").await;
    filtered.wait_event("FullyBooted", |_| true).await;
    let filter = EventFilter::Auto;
    for pattern in filter.patterns() {
        let r = filtered
            .ask("Filter", &[("Operation", "Add"), ("Filter", &pattern)])
            .await;
        assert_eq!(r.get("Response"), Some("Success"), "{pattern}");
        assert_eq!(r.get("Message"), Some("Success"));
    }
    let r = filtered
        .ask(
            "Filter",
            &[("Operation", "Remove"), ("Filter", "Event: Hangup")],
        )
        .await;
    assert_eq!(r.get("Response"), Some("Error"));
    assert_eq!(r.get("Message"), Some("Unknown operation"));
    let mut plain = Client::connect(sim.addr()).await;
    plain.login("admin", "amisecret").await;
    plain.wait_event("FullyBooted", |_| true).await;

    sim.burst(300);
    wait_until("the burst to be generated", DEADLINE, || async {
        sim.stats().burst_pending == 0
    })
    .await;
    let (got, all) = (drain(&mut filtered).await, drain(&mut plain).await);
    let regexes: Vec<Regex> = filter
        .patterns()
        .iter()
        .map(|p| Regex::new(p).unwrap())
        .collect();
    assert!(got.len() > 100, "{} events through the filter", got.len());
    for name in &got {
        let text = format!("Event: {name}\r\n");
        assert!(
            regexes.iter().any(|r| r.is_match(&text)),
            "{name} passed the filter"
        );
    }
    // The simulator's dialplan chatter: one Newexten per call.
    {
        let name = "Newexten";
        assert!(
            all.iter().any(|n| n == name),
            "the unfiltered session saw {name}"
        );
        assert!(
            !got.iter().any(|n| n == name),
            "the filtered session saw {name}"
        );
    }
    let consumed = |n: &&String| filter.names().contains(n);
    assert_eq!(
        got.iter().filter(consumed).count(),
        all.iter().filter(consumed).count(),
        "every listed event reached the filtered session"
    );
}
