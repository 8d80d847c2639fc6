//! Today's figures of one queue: offered, answered, abandoned, waits and the
//! service level, started again when an event belongs to a later day.

use chrono::{DateTime, Timelike, Utc};

use crate::model::queue::QueueDay;

/// Most points of the waiting-callers curve: one per minute of a day.
const MINUTES_PER_DAY: usize = 24 * 60;

/// Starts the figures again when `at` is on a later day than they are for.
pub fn roll(day: &mut QueueDay, at: DateTime<Utc>) {
    let date = at.date_naive();
    if date > day.date {
        *day = QueueDay::new(date, day.sla_secs);
    }
}

/// A caller joined.
pub fn offered(day: &mut QueueDay, at: DateTime<Utc>) {
    roll(day, at);
    day.offered += 1;
}

/// A caller was answered after waiting `wait` seconds.
pub fn answered(day: &mut QueueDay, at: DateTime<Utc>, wait: u64) {
    roll(day, at);
    day.answered += 1;
    day.total_wait_secs += wait;
    day.longest_wait_secs = day.longest_wait_secs.max(wait);
    if wait <= day.sla_secs {
        day.answered_within_sla += 1;
    }
    derive(day);
}

/// A caller gave up after waiting `wait` seconds.
pub fn abandoned(day: &mut QueueDay, at: DateTime<Utc>, wait: u64) {
    roll(day, at);
    day.abandoned += 1;
    day.total_abandon_secs += wait;
    day.longest_abandon_secs = day.longest_abandon_secs.max(wait);
    day.longest_wait_secs = day.longest_wait_secs.max(wait);
    derive(day);
}

/// Notes that `waiting` callers wait at `at` (the most of each minute is kept).
pub fn waiting(day: &mut QueueDay, at: DateTime<Utc>, waiting: usize) {
    roll(day, at);
    if at.date_naive() < day.date {
        return;
    }
    let minute = (at.hour() * 60 + at.minute()) as u16;
    let waiting = u32::try_from(waiting).unwrap_or(u32::MAX);
    let room = day.waiting_by_minute.len() < MINUTES_PER_DAY;
    match day.waiting_by_minute.last_mut() {
        Some((m, w)) if *m == minute => *w = (*w).max(waiting),
        Some((m, _)) if *m > minute => {} // an older event: the curve only moves on
        _ if room => day.waiting_by_minute.push((minute, waiting)),
        _ => {}
    }
}

fn derive(day: &mut QueueDay) {
    let ended = day.answered + day.abandoned;
    day.service_level = (ended > 0).then(|| {
        let pct = day.answered_within_sla as f64 * 100.0 / ended as f64;
        (pct * 10.0).round() / 10.0
    });
    day.average_wait_secs =
        (day.answered > 0).then(|| round1(day.total_wait_secs as f64 / day.answered as f64));
    day.average_abandon_secs =
        (day.abandoned > 0).then(|| round1(day.total_abandon_secs as f64 / day.abandoned as f64));
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 7, h, m, 0)
            .single()
            .expect("time")
    }

    #[test]
    fn figures_add_up_and_the_service_level_counts_ended_waits() {
        let mut d = QueueDay::new(at(0, 0).date_naive(), 20);
        for _ in 0..4 {
            offered(&mut d, at(9, 0));
        }
        answered(&mut d, at(9, 1), 5);
        answered(&mut d, at(9, 2), 25);
        abandoned(&mut d, at(9, 3), 40);
        assert_eq!((d.offered, d.answered, d.abandoned), (4, 2, 1));
        assert_eq!(d.answered_within_sla, 1);
        assert_eq!(d.service_level, Some(33.3));
        assert_eq!(d.average_wait_secs, Some(15.0));
        assert_eq!(d.longest_wait_secs, 40);
        assert_eq!(d.longest_abandon_secs, 40);
    }

    #[test]
    fn a_new_day_starts_from_zero_and_the_curve_keeps_each_minutes_peak() {
        let mut d = QueueDay::new(at(0, 0).date_naive(), 20);
        waiting(&mut d, at(9, 0), 1);
        waiting(&mut d, at(9, 0), 3);
        waiting(&mut d, at(9, 0), 2);
        waiting(&mut d, at(9, 5), 0);
        assert_eq!(d.waiting_by_minute, vec![(540, 3), (545, 0)]);
        offered(&mut d, at(9, 6));
        offered(&mut d, at(9, 6) + chrono::Duration::days(1));
        assert_eq!(d.offered, 1);
        assert!(d.waiting_by_minute.is_empty());
    }
}
