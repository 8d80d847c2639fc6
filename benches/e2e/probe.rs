//! [`Probe`]: the exact event time of every change, by seq.
//!
//! A message's `ts` is the API's format, truncated to the millisecond, so the
//! latency a subscriber computes from it is up to 1 ms too long (0.5 ms on average,
//! at every percentile alike). The probe subscribes to the hub in process, like a
//! WebSocket session but without a socket, and keeps each change's time as the hub
//! has it (the event's `Timestamp:`, to the microsecond); a subscriber's latency is
//! then its receipt time minus that.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use actix::prelude::*;
use switchboard::delivery::{Deliver, Filter, GoingAway, Subscribe};

use crate::service::TestService;

/// Seq → event time in microseconds since the epoch.
pub(crate) type Times = Arc<Mutex<HashMap<u64, i64>>>;

struct ProbeActor(Times);

impl Actor for ProbeActor {
    type Context = Context<Self>;
}

impl Handler<Deliver> for ProbeActor {
    type Result = ();

    fn handle(&mut self, Deliver(changes): Deliver, _: &mut Context<Self>) {
        let mut times = self.0.lock().unwrap_or_else(|e| e.into_inner());
        for env in changes.iter() {
            times.insert(env.seq, env.ts.timestamp_micros());
        }
    }
}

impl Handler<GoingAway> for ProbeActor {
    type Result = ();

    fn handle(&mut self, _: GoingAway, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

/// Subscribes a probe to `ts`'s hub (on the calling thread's arbiter) and returns
/// the times it collects.
pub(crate) async fn probe(ts: &TestService) -> Times {
    let times = Times::default();
    let actor = ProbeActor(Arc::clone(&times)).start();
    let subscribed = ts
        .service
        .state
        .hub
        .send(Subscribe {
            id: u64::MAX - 1,
            client: actor.clone().recipient(),
            closer: actor.recipient(),
            route: None,
            filter: Filter::default(),
            last_seq: None,
        })
        .await;
    assert!(subscribed.is_ok(), "the hub takes the probe");
    times
}

/// Each sample's latency from the exact event time, in microseconds, and how many
/// samples had no exact time (their `ts`-based latency is kept).
pub(crate) fn exact(
    times: &Times,
    seqs: &[u64],
    recv_us: &[i64],
    wire_us: &[i64],
) -> (Vec<i64>, usize) {
    let times = times.lock().unwrap_or_else(|e| e.into_inner());
    let mut missing = 0;
    let lat = seqs
        .iter()
        .zip(recv_us)
        .zip(wire_us)
        .map(|((seq, recv), wire)| match times.get(seq) {
            Some(t) => recv - t,
            None => {
                missing += 1;
                *wire
            }
        })
        .collect();
    (lat, missing)
}
