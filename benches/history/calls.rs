//! The bench's finished calls: who calls whom, when, and how it ended.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use switchboard::model::{Call, CallOutcome, Direction};

use crate::store::{active_call, finished};

/// The history's spread: calls start over the 90 days before the bench's `now`.
pub const DAYS: i64 = 90;

/// The spread in microseconds.
pub fn span_micros() -> i64 {
    DAYS * 86_400 * 1_000_000
}

/// Call `i` of `n`, spread evenly over the 90 days before `now`: 500
/// extensions, a third of the callers outside numbers (inbound), 10% on a
/// second PBX, two legs each and a third leg on every fifth, three in ten not
/// answered.
pub fn call(i: usize, n: usize, now: DateTime<Utc>) -> Call {
    let span = DAYS * 86_400;
    let at = now - chrono::Duration::seconds(span - (i as i64 * span) / n as i64);
    let pbx = if i % 10 == 0 { "pbx2" } else { "pbx1" };
    let outside = i % 3 == 0;
    let caller = if outside {
        format!("+4930{:07}", (i * 7919) % 10_000_000)
    } else {
        format!("{}", 1000 + (i * 7) % 500)
    };
    let callee = format!("{}", 1000 + (i * 13 + 5) % 500);
    let mut c = finished(active_call(pbx, &format!("b-{i:08}"), &caller, &callee, at));
    if i % 5 == 0 {
        let mut leg = (*c.legs[1]).clone();
        leg.uniqueid = format!("{}.3", c.id);
        leg.extension = Some(format!("{}", 1000 + (i * 31 + 17) % 500));
        c.legs.push(Arc::new(leg));
    }
    if outside {
        c.direction = Direction::Inbound;
    }
    c.outcome = Some(match i % 10 {
        3 | 7 => CallOutcome::NoAnswer,
        5 => CallOutcome::Busy,
        _ => CallOutcome::Answered,
    });
    c
}

/// The `-r007` of replica 7: what a replicated call's id (and its legs'
/// uniqueids) end with. Replica 0 is the base call itself.
pub fn replica_suffix(r: usize) -> String {
    format!("-r{r:03}")
}

/// Base call `j` (of `base`) as replica `r` of a history of `n` calls: the
/// suffixed id and uniqueids, and every time `r` steps of `span / n` later, so
/// the replicas fill the gaps between base calls and the 90 days stay the
/// spread. `replicate::fill` writes exactly this in SQL.
pub fn replica(j: usize, base: usize, r: usize, n: usize, now: DateTime<Utc>) -> Call {
    let mut c = call(j, base, now);
    if r == 0 {
        return c;
    }
    let suffix = replica_suffix(r);
    let shift = chrono::Duration::microseconds(r as i64 * (span_micros() / n as i64));
    c.id.push_str(&suffix);
    c.started_at += shift;
    c.answered_at = c.answered_at.map(|t| t + shift);
    c.ended_at = c.ended_at.map(|t| t + shift);
    c.legs = c
        .legs
        .iter()
        .map(|l| {
            let mut leg = (**l).clone();
            leg.uniqueid.push_str(&suffix);
            leg.started_at += shift;
            leg.answered_at = leg.answered_at.map(|t| t + shift);
            leg.ended_at = leg.ended_at.map(|t| t + shift);
            Arc::new(leg)
        })
        .collect();
    c
}
