use super::*;
use crate::ami::RawMessage;
use chrono::TimeZone;

fn ev(pairs: &[(&str, &str)]) -> Event {
    Event::from_raw(RawMessage::from_pairs(pairs))
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 7, 9, 0, 0)
        .single()
        .expect("time")
}

fn join(uid: &str, pos: &str, ts: &str) -> Event {
    ev(&[
        ("Event", "QueueCallerJoin"),
        ("Timestamp", ts),
        ("Queue", "support"),
        ("Uniqueid", uid),
        ("Channel", "Local/700@from-internal-1;2"),
        ("CallerIDNum", uid),
        ("CallerIDName", "Caller"),
        ("Position", pos),
    ])
}

fn by_uid(name: &str, uid: &str, extra: &[(&str, &str)]) -> Event {
    let mut pairs = vec![("Event", name), ("Queue", "support"), ("Uniqueid", uid)];
    pairs.extend_from_slice(extra);
    ev(&pairs)
}

#[test]
fn callers_keep_their_order_and_move_up_when_one_leaves() {
    let mut book = QueueBook::new("p", 20);
    let ts = t0().timestamp().to_string();
    for (uid, pos) in [("a", "1"), ("b", "2"), ("c", "3")] {
        assert_eq!(
            book.apply(&join(uid, pos, &ts), t0()).as_deref(),
            Some("support")
        );
    }
    book.apply(
        &by_uid("QueueCallerAbandon", "b", &[("HoldTime", "30")]),
        t0(),
    );
    book.apply(&by_uid("QueueCallerLeave", "b", &[]), t0());
    book.apply(&by_uid("QueueCallerLeave", "a", &[]), t0());
    book.apply(
        &by_uid(
            "AgentConnect",
            "a",
            &[("HoldTime", "4"), ("Interface", "x")],
        ),
        t0(),
    );
    let q = book
        .picture("support", t0() + Duration::seconds(7))
        .expect("queue");
    let waiting: Vec<_> = q
        .callers
        .iter()
        .map(|c| (c.position, c.uniqueid.as_str()))
        .collect();
    assert_eq!(waiting, vec![(1, "c")]);
    assert_eq!(q.callers[0].wait_secs, 7);
    let d = &q.today;
    assert_eq!((d.offered, d.answered, d.abandoned), (3, 1, 1));
    assert_eq!((d.longest_abandon_secs, d.longest_wait_secs), (30, 30));
    assert_eq!(d.service_level, Some(50.0));
}

#[test]
fn members_follow_status_pause_add_and_remove() {
    let mut book = QueueBook::new("p", 20);
    let member = |name: &str, status: &str, paused: &str, reason: &str| {
        ev(&[
            ("Event", name),
            ("Queue", "support"),
            ("MemberName", "Agent 8002"),
            ("Interface", "Local/8002@a/n"),
            ("Status", status),
            ("Paused", paused),
            ("PausedReason", reason),
            ("CallsTaken", "0"),
        ])
    };
    book.apply(&member("QueueMemberAdded", "1", "0", ""), t0());
    assert!(
        book.apply(&member("QueueMemberStatus", "1", "0", ""), t0())
            .is_none(),
        "no change, no update"
    );
    book.apply(&member("QueueMemberPause", "1", "1", "lunch"), t0());
    let q = book.picture("support", t0()).expect("queue");
    assert_eq!(
        q.members[0].state,
        MemberState::Paused {
            reason: Some("lunch".into())
        }
    );
    book.apply(&member("QueueMemberPause", "1", "0", ""), t0());
    book.apply(
        &ev(&[
            ("Event", "AgentCalled"),
            ("Queue", "support"),
            ("Interface", "Local/8002@a/n"),
        ]),
        t0(),
    );
    assert_eq!(
        book.picture("support", t0()).expect("q").members[0].state,
        MemberState::Ringing
    );
    book.apply(&member("QueueMemberRemoved", "1", "0", ""), t0());
    assert!(book.picture("support", t0()).expect("q").members.is_empty());
}

#[test]
fn a_status_list_replaces_members_and_callers_keeps_figures_and_drops_lost_queues() {
    let mut book = QueueBook::new("p", 20);
    let ts = t0().timestamp().to_string();
    book.apply(&join("a", "1", &ts), t0());
    book.apply(&join("x", "1", &ts).clone(), t0());
    let other = ev(&[
        ("Event", "QueueCallerJoin"),
        ("Queue", "sales"),
        ("Uniqueid", "s"),
    ]);
    book.apply(&other, t0());
    let items = vec![
        ev(&[
            ("Event", "QueueParams"),
            ("Queue", "support"),
            ("Strategy", "ringall"),
        ]),
        ev(&[
            ("Event", "QueueMember"),
            ("Queue", "support"),
            ("Name", "SIP 1011"),
            ("Location", "PJSIP/1011"),
            ("Status", "5"),
        ]),
        ev(&[
            ("Event", "QueueEntry"),
            ("Queue", "support"),
            ("Position", "1"),
            ("Uniqueid", "a"),
            ("Wait", "9"),
        ]),
    ];
    let later = t0() + Duration::seconds(10);
    let changed = book.resync_status(&items, later);
    let names: Vec<_> = changed
        .iter()
        .map(|q| (q.name.as_str(), q.removed))
        .collect();
    assert_eq!(names, vec![("sales", true), ("support", false)]);
    let q = book.picture("support", later).expect("support");
    assert_eq!(q.strategy.as_deref(), Some("ringall"));
    assert_eq!(q.members[0].state, MemberState::Unavailable);
    assert_eq!(q.callers.len(), 1);
    assert_eq!(
        q.callers[0].joined_at,
        t0(),
        "the joining time seen live is kept"
    );
    assert_eq!(q.today.offered, 2, "figures survive a resync");
    assert!(book.picture("sales", later).is_none());
    assert!(
        book.resync_status(&items, later).is_empty(),
        "nothing new, nothing sent"
    );
    let summary = vec![ev(&[("Event", "QueueSummary"), ("Queue", "empty")])];
    assert_eq!(book.resync_summary(&summary, later).len(), 1);
}

#[test]
fn a_restart_counts_todays_stored_queue_calls_again() {
    let mut book = QueueBook::new("p", 20);
    let stored = [
        (Some(5), false),
        (Some(30), false),
        (Some(9), true),
        (None, false),
    ];
    book.seed_today("support", stored, t0());
    let d = book.picture("support", t0()).expect("queue").today;
    assert_eq!((d.offered, d.answered, d.abandoned), (4, 2, 1));
    assert_eq!((d.answered_within_sla, d.longest_abandon_secs), (1, 9));
}

#[test]
fn forgetting_the_pbx_reports_each_queue_removed_once() {
    let mut book = QueueBook::new("p", 20);
    book.apply(&join("a", "1", &t0().timestamp().to_string()), t0());
    let gone = book.clear(t0());
    assert_eq!(gone.len(), 1);
    assert!(gone[0].removed && gone[0].callers.is_empty());
    assert!(book.clear(t0()).is_empty());
}

#[test]
fn hostile_input_is_bounded() {
    let mut book = QueueBook::new("p", 20);
    for i in 0..(MAX_QUEUES + 5) {
        let name = format!("q{i}");
        book.apply(
            &ev(&[
                ("Event", "QueueCallerJoin"),
                ("Queue", &name),
                ("Uniqueid", "u"),
            ]),
            t0(),
        );
    }
    assert_eq!(book.queues().count(), MAX_QUEUES);
    assert!(book
        .apply(&ev(&[("Event", "QueueCallerJoin"), ("Queue", "")]), t0())
        .is_none());
}
