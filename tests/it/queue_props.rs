//! Property tests of the queue book: random sequences of queue events (callers
//! joining at any position, leaving, giving up or answered twice or never, members
//! changing state, added and removed, status lists in between, unknown fields and
//! numbers out of range). Whatever the sequence: no panic, callers are numbered
//! 1..n with no uniqueid twice, members carry no interface twice, the day's
//! answered and abandoned counts are those of the events, and the service level is
//! a percentage.

use std::collections::{HashMap, HashSet};

use chrono::{TimeZone, Utc};
use proptest::prelude::*;
use switchboard::ami::{Event, RawMessage};
use switchboard::state::queue::QueueBook;

#[derive(Debug, Clone)]
enum Op {
    Join {
        q: u8,
        uid: u8,
        pos: i16,
    },
    Leave {
        q: u8,
        uid: u8,
    },
    Abandon {
        q: u8,
        uid: u8,
        hold: i32,
    },
    Connect {
        q: u8,
        uid: u8,
        hold: i32,
    },
    Member {
        q: u8,
        iface: u8,
        status: i8,
        paused: bool,
        name: &'static str,
    },
    Removed {
        q: u8,
        iface: u8,
    },
    Called {
        q: u8,
        iface: u8,
    },
    Complete {
        q: u8,
        iface: u8,
    },
    StatusList {
        members: Vec<(u8, u8)>,
        entries: Vec<(u8, u8)>,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let q = 0u8..3;
    prop_oneof![
        (q.clone(), 0u8..12, -2i16..15).prop_map(|(q, uid, pos)| Op::Join { q, uid, pos }),
        (q.clone(), 0u8..12).prop_map(|(q, uid)| Op::Leave { q, uid }),
        (q.clone(), 0u8..12, -5i32..400).prop_map(|(q, uid, hold)| Op::Abandon { q, uid, hold }),
        (q.clone(), 0u8..12, -5i32..400).prop_map(|(q, uid, hold)| Op::Connect { q, uid, hold }),
        (
            q.clone(),
            0u8..6,
            -1i8..10,
            any::<bool>(),
            prop::sample::select(vec!["", "lunch", " "])
        )
            .prop_map(|(q, iface, status, paused, name)| Op::Member {
                q,
                iface,
                status,
                paused,
                name
            }),
        (q.clone(), 0u8..6).prop_map(|(q, iface)| Op::Removed { q, iface }),
        (q.clone(), 0u8..6).prop_map(|(q, iface)| Op::Called { q, iface }),
        (q, 0u8..6).prop_map(|(q, iface)| Op::Complete { q, iface }),
        (
            prop::collection::vec((0u8..3, 0u8..6), 0..6),
            prop::collection::vec((0u8..3, 0u8..12), 0..6)
        )
            .prop_map(|(members, entries)| Op::StatusList { members, entries }),
    ]
}

fn ev(pairs: &[(&str, String)]) -> Event {
    Event::from_raw(RawMessage::from_pairs(pairs))
}

fn queue(q: u8) -> String {
    ["support", "sales", "vip"][q as usize % 3].to_string()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn random_queue_sequences_keep_the_book_consistent(ops in prop::collection::vec(op(), 1..150)) {
        let now = Utc.timestamp_opt(1_796_606_000, 0).single().expect("a time");
        let mut book = QueueBook::new("p", 20);
        let mut answered: HashMap<String, u64> = HashMap::new();
        let mut abandoned: HashMap<String, u64> = HashMap::new();
        for (i, op) in ops.into_iter().enumerate() {
            let ts = format!("{}.5", 1_796_606_000 + i as i64);
            match op {
                Op::Join { q, uid, pos } => {
                    book.apply(&ev(&[
                        ("Event", "QueueCallerJoin".into()), ("Timestamp", ts),
                        ("Queue", queue(q)), ("Uniqueid", format!("u{uid}")),
                        ("Position", pos.to_string()), ("CallerIDNum", "<unknown>".into()),
                    ]), now);
                }
                Op::Leave { q, uid } => {
                    book.apply(&ev(&[
                        ("Event", "QueueCallerLeave".into()), ("Queue", queue(q)),
                        ("Uniqueid", format!("u{uid}")),
                    ]), now);
                }
                Op::Abandon { q, uid, hold } => {
                    *abandoned.entry(queue(q)).or_default() += 1;
                    book.apply(&ev(&[
                        ("Event", "QueueCallerAbandon".into()), ("Timestamp", ts),
                        ("Queue", queue(q)), ("Uniqueid", format!("u{uid}")),
                        ("HoldTime", hold.to_string()),
                    ]), now);
                }
                Op::Connect { q, uid, hold } => {
                    *answered.entry(queue(q)).or_default() += 1;
                    book.apply(&ev(&[
                        ("Event", "AgentConnect".into()), ("Timestamp", ts),
                        ("Queue", queue(q)), ("Uniqueid", format!("u{uid}")),
                        ("HoldTime", hold.to_string()), ("Interface", "PJSIP/1".into()),
                    ]), now);
                }
                Op::Member { q, iface, status, paused, name } => {
                    book.apply(&ev(&[
                        ("Event", "QueueMemberStatus".into()), ("Queue", queue(q)),
                        ("Interface", format!("PJSIP/{iface}")), ("MemberName", name.into()),
                        ("Status", status.to_string()), ("Paused", u8::from(paused).to_string()),
                        ("PausedReason", name.into()),
                    ]), now);
                }
                Op::Removed { q, iface } => {
                    book.apply(&ev(&[
                        ("Event", "QueueMemberRemoved".into()), ("Queue", queue(q)),
                        ("Interface", format!("PJSIP/{iface}")),
                    ]), now);
                }
                Op::Called { q, iface } | Op::Complete { q, iface } => {
                    let name = if matches!(op, Op::Called { .. }) { "AgentCalled" } else { "AgentComplete" };
                    book.apply(&ev(&[
                        ("Event", name.into()), ("Queue", queue(q)),
                        ("Interface", format!("PJSIP/{iface}")),
                    ]), now);
                }
                Op::StatusList { members, entries } => {
                    let mut items = Vec::new();
                    for (q, iface) in members {
                        items.push(ev(&[
                            ("Event", "QueueMember".into()), ("Queue", queue(q)),
                            ("Location", format!("PJSIP/{iface}")), ("Status", "1".into()),
                        ]));
                    }
                    for (q, uid) in entries {
                        items.push(ev(&[
                            ("Event", "QueueEntry".into()), ("Queue", queue(q)),
                            ("Uniqueid", format!("u{uid}")), ("Position", "1".into()),
                            ("Wait", "5".into()),
                        ]));
                    }
                    // A list drops the queues it does not name, and their figures.
                    let listed: HashSet<String> = items
                        .iter()
                        .filter_map(|e| e.get("Queue").map(str::to_string))
                        .collect();
                    answered.retain(|q, _| listed.contains(q));
                    abandoned.retain(|q, _| listed.contains(q));
                    book.resync_status(&items, now);
                }
            }
        }
        for q in book.queues() {
            let positions: Vec<u32> = q.callers.iter().map(|c| c.position).collect();
            let expected: Vec<u32> = (1..=q.callers.len() as u32).collect();
            prop_assert_eq!(positions, expected, "positions of {}", q.name);
            let uids: HashSet<&str> = q.callers.iter().map(|c| c.uniqueid.as_str()).collect();
            prop_assert_eq!(uids.len(), q.callers.len(), "a caller twice in {}", q.name);
            let ifaces: HashSet<&str> = q.members.iter().map(|m| m.interface.as_str()).collect();
            prop_assert_eq!(ifaces.len(), q.members.len(), "a member twice in {}", q.name);
            prop_assert_eq!(q.today.answered, answered.get(&q.name).copied().unwrap_or(0));
            prop_assert_eq!(q.today.abandoned, abandoned.get(&q.name).copied().unwrap_or(0));
            prop_assert!(q.today.answered_within_sla <= q.today.answered);
            if let Some(sl) = q.today.service_level {
                prop_assert!((0.0..=100.0).contains(&sl), "service level {sl}");
            }
        }
    }
}
