//! The read gate's permit follows a read's events down the pipeline: the changes
//! the call trackers, extension actors and the router itself publish for a batch
//! carry its ticket, so the socket read counts as queued until the hub has
//! handled the last of them (issue #19: at 8–9 M events the trackers' and the
//! hub's mailboxes grew while the gate, which then let go once the router had
//! routed, read on). Here a sink stands for the hub and keeps what it receives
//! until told to let go.
//!
//! The events are call 1 of the real capture `calls-outcomes`.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use futures::StreamExt;
use switchboard::actors::backpressure::BatchGate;
use switchboard::actors::messages::{EventBatch, Publish};
use switchboard::actors::router::{Confirmed, EventRouterActor, GetRouterStats};
use switchboard::ami::Event;
use switchboard::metrics::Metrics;
use switchboard::supervision::Registry;

use crate::common::replay::load;
use crate::common::wait::{wait_until, DEADLINE};

/// Keeps every `Publish` it is sent (ticket and all) until [`LetGo`], then
/// handles the rest as they come, as the hub does.
#[derive(Default)]
struct Hub {
    held: Vec<Publish>,
    let_go: bool,
}

impl Actor for Hub {
    type Context = Context<Self>;
}

impl Handler<Publish> for Hub {
    type Result = ();
    fn handle(&mut self, msg: Publish, _: &mut Context<Self>) {
        if !self.let_go {
            self.held.push(msg);
        }
    }
}

impl Handler<Confirmed> for Hub {
    type Result = ();
    fn handle(&mut self, _: Confirmed, _: &mut Context<Self>) {}
}

/// How many changes the sink holds.
#[derive(Message)]
#[rtype(result = "usize")]
struct Held;

impl Handler<Held> for Hub {
    type Result = usize;
    fn handle(&mut self, _: Held, _: &mut Context<Self>) -> usize {
        self.held.len()
    }
}

/// Drops every change held, and from now on each as it comes, as the hub does
/// once it has handled one.
#[derive(Message)]
#[rtype(result = "()")]
struct LetGo;

impl Handler<LetGo> for Hub {
    type Result = ();
    fn handle(&mut self, _: LetGo, _: &mut Context<Self>) {
        self.held.clear();
        self.let_go = true;
    }
}

/// The capture's first call, up to (not including) its first `Hangup`.
fn call_start() -> Vec<Event> {
    load("calls-outcomes")
        .first_call()
        .into_iter()
        .take_while(|e| e.name() != "Hangup")
        .collect()
}

#[actix_rt::test]
async fn a_read_keeps_its_permit_until_the_hub_has_handled_what_it_caused() {
    let metrics = Metrics::new().expect("metrics");
    let hub = Hub::default().start();
    let router = EventRouterActor::new(
        "pbx",
        hub.clone().recipient(),
        hub.clone().recipient(),
        Registry::new(),
        Arc::new(Metrics::new().expect("metrics")),
        Duration::from_secs(3600),
    )
    .start();
    let gate = BatchGate::new(1, &metrics, "pbx");
    let mut reads = gate.gate(futures::stream::iter([call_start(), Vec::new()]));
    let (events, ticket) = reads.next().await.expect("the first read");
    let n = events.len() as u64;
    router.do_send(EventBatch {
        pbx: Arc::from("pbx"),
        events,
        skipped: 0,
        ticket: Some(ticket),
    });
    wait_until("the router routed the read", DEADLINE, || async {
        router.send(GetRouterStats).await.expect("router").routed >= n
    })
    .await;
    wait_until("the call's changes reached the hub", DEADLINE, || async {
        hub.send(Held).await.expect("hub") > 0
    })
    .await;
    assert_eq!(
        gate.queued(),
        1,
        "routed, but the hub has not handled its changes: the read still counts"
    );

    hub.send(LetGo).await.expect("hub");
    // Nothing else keeps the ticket: the tracker drops its copy with each event
    // it handles, the router with the batch.
    wait_until(
        "the permit back once the hub handled it all",
        DEADLINE,
        || async { gate.queued() == 0 },
    )
    .await;
    let next = tokio::time::timeout(DEADLINE, reads.next()).await;
    assert!(
        matches!(next, Ok(Some(_))),
        "the gate lets the next read through"
    );
}
