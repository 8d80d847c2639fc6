//! The router publishes one `queue.updated` picture per queue a batch changed,
//! showing the state after the batch's last event for that queue — not one
//! picture per queue event (a picture copies every member and caller).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::prelude::*;
use switchboard::actors::messages::{EventBatch, Publish};
use switchboard::actors::router::{Confirmed, EventRouterActor, GetRouterStats};
use switchboard::ami::{Event, RawMessage};
use switchboard::delivery::Change;
use switchboard::metrics::Metrics;
use switchboard::model::queue::Queue;
use switchboard::supervision::Registry;

use crate::common::wait::wait_until;

/// Each published queue picture with its event timestamp.
type Pictures = Arc<Mutex<Vec<(Arc<Queue>, Option<f64>)>>>;

/// Collects every queue picture the router publishes.
struct Sink(Pictures);

impl Actor for Sink {
    type Context = Context<Self>;
}

impl Handler<Publish> for Sink {
    type Result = ();
    fn handle(&mut self, msg: Publish, _: &mut Context<Self>) {
        if let Change::Queue(q) = msg.change {
            self.0.lock().expect("sink").push((q, msg.event_ts));
        }
    }
}

impl Handler<Confirmed> for Sink {
    type Result = ();
    fn handle(&mut self, _: Confirmed, _: &mut Context<Self>) {}
}

fn ev(pairs: &[(&str, &str)]) -> Event {
    Event::from_raw(RawMessage::from_pairs(pairs))
}

fn member(queue: &str, agent: &str, status: &str, ts: &str) -> Event {
    let interface = format!("PJSIP/{agent}");
    let name = format!("Agent {agent}");
    ev(&[
        ("Event", "QueueMemberStatus"),
        ("Timestamp", ts),
        ("Queue", queue),
        ("MemberName", &name),
        ("Interface", &interface),
        ("StateInterface", &interface),
        ("Membership", "static"),
        ("Penalty", "0"),
        ("CallsTaken", "0"),
        ("LastCall", "0"),
        ("InCall", "0"),
        ("Status", status),
        ("Paused", "0"),
    ])
}

fn join(queue: &str, uid: &str, position: &str, ts: &str) -> Event {
    let channel = format!("PJSIP/trunk-{uid}");
    ev(&[
        ("Event", "QueueCallerJoin"),
        ("Timestamp", ts),
        ("Channel", &channel),
        ("Uniqueid", uid),
        ("Linkedid", uid),
        ("CallerIDNum", "5550100"),
        ("Queue", queue),
        ("Position", position),
        ("Count", position),
    ])
}

#[actix_rt::test]
async fn a_batch_publishes_each_changed_queue_once_with_its_last_state() {
    let seen: Pictures = Arc::new(Mutex::new(Vec::new()));
    let sink = Sink(seen.clone()).start();
    let router = EventRouterActor::new(
        "north",
        sink.clone().recipient(),
        sink.recipient(),
        Registry::new(),
        Arc::new(Metrics::new().expect("metrics")),
        Duration::from_secs(3600),
    )
    .start();
    // Five events for "sales" (an agent rings then goes on a call, another comes
    // free, two callers join) and one for "billing", in one batch.
    let events = vec![
        member("sales", "8001", "6", "1765000000.000001"),
        member("billing", "8101", "1", "1765000000.000002"),
        member("sales", "8001", "2", "1765000000.000003"),
        member("sales", "8002", "1", "1765000000.000004"),
        join("sales", "1765000000.11", "1", "1765000000.000005"),
        join("sales", "1765000000.12", "2", "1765000000.000006"),
    ];
    let n = events.len() as u64;
    router.do_send(EventBatch {
        pbx: Arc::from("north"),
        events,
        skipped: 0,
        ticket: None,
    });
    wait_until("the first batch routed", Duration::from_secs(5), || async {
        router.send(GetRouterStats).await.expect("router").routed >= n
    })
    .await;
    // A second batch: one more event for "sales" makes one more picture.
    router.do_send(EventBatch {
        pbx: Arc::from("north"),
        events: vec![member("sales", "8002", "2", "1765000001.000000")],
        skipped: 0,
        ticket: None,
    });
    wait_until("three pictures", Duration::from_secs(5), || async {
        seen.lock().expect("sink").len() >= 3
    })
    .await;
    // Let anything published late arrive before counting.
    actix_rt::time::sleep(Duration::from_millis(100)).await;
    let seen = seen.lock().expect("sink").clone();
    let names: Vec<&str> = seen.iter().map(|(q, _)| q.name.as_str()).collect();
    assert_eq!(
        names,
        ["sales", "billing", "sales"],
        "one picture per queue per batch"
    );
    let (sales, ts) = &seen[0];
    assert_eq!(*ts, Some(1765000000.000006), "stamped with its last event");
    let states: Vec<(&str, &str)> = sales
        .members
        .iter()
        .map(|m| (m.name.as_str(), m.state.label()))
        .collect();
    assert_eq!(states, [("Agent 8001", "onCall"), ("Agent 8002", "free")]);
    let callers: Vec<(&str, u32)> = sales
        .callers
        .iter()
        .map(|c| (c.uniqueid.as_str(), c.position))
        .collect();
    assert_eq!(callers, [("1765000000.11", 1), ("1765000000.12", 2)]);
    assert_eq!(seen[1].0.members.len(), 1);
    let later: Vec<&str> = seen[2].0.members.iter().map(|m| m.state.label()).collect();
    assert_eq!(later, ["onCall", "onCall"]);
}
