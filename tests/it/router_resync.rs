//! The channel list read after a login and the events around it: a call the
//! list leaves out ends with its real outcome when its `Hangup`s arrive just
//! after the list (Asterisk's session writes an action's response before the
//! events queued while the action ran), and is closed as lost while
//! disconnected only when nothing ends it within the grace.
//!
//! The call is call 1 of the real capture `calls-outcomes` (1001 calls 1002,
//! answered, 1002 hangs up).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::prelude::*;
use switchboard::actors::messages::{EventBatch, Publish, ResyncChannels};
use switchboard::actors::router::{Confirmed, EventRouterActor, GetRouterStats};
use switchboard::ami::Event;
use switchboard::delivery::Change;
use switchboard::metrics::Metrics;
use switchboard::model::CallOutcome;
use switchboard::supervision::Registry;

use crate::common::replay::load;
use crate::common::wait::{wait_until, DEADLINE};

/// Every call end the router publishes: (call id, outcome).
type Ends = Arc<Mutex<Vec<(String, CallOutcome)>>>;

struct Sink(Ends);

impl Actor for Sink {
    type Context = Context<Self>;
}

impl Handler<Publish> for Sink {
    type Result = ();
    fn handle(&mut self, msg: Publish, _: &mut Context<Self>) {
        if let Change::CallEnded(call) = msg.change {
            if let Some(outcome) = call.outcome {
                self.0
                    .lock()
                    .expect("sink")
                    .push((call.id.clone(), outcome));
            }
        }
    }
}

impl Handler<Confirmed> for Sink {
    type Result = ();
    fn handle(&mut self, _: Confirmed, _: &mut Context<Self>) {}
}

/// The capture's first call: its events before its first `Hangup`, and from
/// that `Hangup` on.
fn first_call() -> (Vec<Event>, Vec<Event>) {
    let mine = load("calls-outcomes").first_call();
    let first_hangup = mine
        .iter()
        .position(|e| e.name() == "Hangup")
        .expect("the call hangs up");
    let mut before = mine;
    let after = before.split_off(first_hangup);
    assert!(
        after.iter().filter(|e| e.name() == "Hangup").count() == 2,
        "both channels hang up"
    );
    (before, after)
}

struct Rig {
    router: Addr<EventRouterActor>,
    ends: Ends,
    routed: u64,
}

impl Rig {
    fn start() -> Self {
        let ends: Ends = Arc::new(Mutex::new(Vec::new()));
        let sink = Sink(ends.clone()).start();
        let router = EventRouterActor::new(
            "pbx",
            sink.clone().recipient(),
            sink.recipient(),
            Registry::new(),
            Arc::new(Metrics::new().expect("metrics")),
            Duration::from_secs(3600),
        )
        .start();
        Self {
            router,
            ends,
            routed: 0,
        }
    }

    async fn route(&mut self, events: Vec<Event>) {
        self.routed += events.len() as u64;
        self.router.do_send(EventBatch {
            pbx: Arc::from("pbx"),
            events,
            skipped: 0,
            ticket: None,
        });
        let (router, want) = (self.router.clone(), self.routed);
        wait_until("the batch routed", DEADLINE, || async {
            router.send(GetRouterStats).await.expect("router").routed >= want
        })
        .await;
    }

    /// A login's channel list without any channel.
    fn resync_empty(&self) {
        self.router.do_send(ResyncChannels {
            pbx: Arc::from("pbx"),
            items: Vec::new(),
        });
    }

    fn ends(&self) -> Vec<(String, CallOutcome)> {
        self.ends.lock().expect("ends").clone()
    }

    async fn wait_ended(&self) -> Vec<(String, CallOutcome)> {
        wait_until("the call's end published", DEADLINE, || async {
            let ends = self.ends();
            (!ends.is_empty()).then_some(ends)
        })
        .await
    }
}

#[actix_rt::test]
async fn hangups_just_after_the_list_give_the_real_outcome() {
    let (before, after) = first_call();

    // Without a resync in between: the capture's own outcome.
    let mut plain = Rig::start();
    plain
        .route(
            before
                .iter()
                .cloned()
                .chain(after.iter().cloned())
                .collect(),
        )
        .await;
    let expected = plain.wait_ended().await;
    assert_eq!(expected.len(), 1, "{expected:?}");
    assert_eq!(expected[0].1, CallOutcome::Answered, "{expected:?}");

    // A list that no longer shows the call, then its Hangups.
    let mut crossed = Rig::start();
    crossed.route(before).await;
    crossed.resync_empty();
    crossed.route(after).await;
    let ends = crossed.wait_ended().await;
    assert_eq!(ends, expected, "ended by its own Hangups, not as lost");
    // Past the grace nothing closes it a second time.
    tokio::time::sleep(switchboard::actors::router::UNLISTED_GRACE + Duration::from_millis(500))
        .await;
    assert_eq!(crossed.ends(), expected, "one end only");
}

#[actix_rt::test]
async fn a_call_nothing_ends_is_closed_as_lost_after_the_grace() {
    let (before, _) = first_call();
    let mut rig = Rig::start();
    rig.route(before).await;
    rig.resync_empty();
    let ends = rig.wait_ended().await;
    assert_eq!(ends.len(), 1, "{ends:?}");
    assert_eq!(ends[0].1, CallOutcome::LostWhileDisconnected);
    let stats = rig.router.send(GetRouterStats).await.expect("router");
    assert_eq!(stats.calls, 0, "no longer tracked");
}
