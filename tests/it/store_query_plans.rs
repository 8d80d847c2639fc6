//! Every history filter is answered from an index (issue 17), on both backends:
//! the plans the databases pick for each filter's count (bounded by
//! `HISTORY_COUNT_LIMIT`) and page, first page, deep page and cursor page, are
//! read back with `EXPLAIN` and checked, so a later change cannot quietly bring
//! back a scan of the calls or a sort of every match.

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use switchboard::model::{Call, CallOutcome, Direction};
use switchboard::store::{CallHistoryQuery, HistoryCursor, Store};

use crate::common::store::{active_call, finished, t, Kind, TestDb};

/// Calls a minute apart on two PBXs between 60 extensions; every 10th has a
/// third leg on an extension that is neither caller nor callee; every 3rd comes
/// in from one of 10 outside numbers; every 7th was busy; queues vary.
fn seed(n: usize) -> Vec<Call> {
    (0..n)
        .map(|i| {
            let pbx = if i % 4 == 0 { "pbx2" } else { "pbx1" };
            let caller = format!("{}", 1000 + i % 60);
            let callee = format!("{}", 1000 + (i * 7 + 11) % 60);
            let mut call = finished(active_call(
                pbx,
                &format!("plan-{i:06}"),
                &caller,
                &callee,
                t(i as i64),
            ));
            if i % 10 == 0 {
                let mut leg = (*call.legs[1]).clone();
                leg.uniqueid = format!("{}.3", call.id);
                leg.extension = Some("2000".into());
                call.legs.push(std::sync::Arc::new(leg));
            }
            if i % 3 == 1 {
                call.direction = Direction::Inbound;
                call.caller.number = Some(format!("+336123400{:02}", i % 10));
                call.caller.name = Some(format!("Client {}", i % 10));
            }
            if i % 7 == 3 {
                call.outcome = Some(CallOutcome::Busy);
            }
            call.queue = match i % 5 {
                1 => Some("sales".into()),
                2 => Some("support".into()),
                _ => None,
            };
            call
        })
        .collect()
}

/// Each filter the API offers, alone and together. The count stops at 500
/// matches: against these 100,000 calls, the ratio of `HISTORY_COUNT_LIMIT` to
/// a history of millions (with a limit near the matches the planner may rightly
/// sort them all instead of walking the index).
fn filters() -> Vec<(&'static str, CallHistoryQuery)> {
    let q = || CallHistoryQuery {
        count_limit: 500,
        ..CallHistoryQuery::default()
    };
    vec![
        ("no filter", q()),
        (
            "pbx",
            CallHistoryQuery {
                pbx: Some("pbx2".into()),
                ..q()
            },
        ),
        (
            "extension",
            CallHistoryQuery {
                extension: Some("1007".into()),
                ..q()
            },
        ),
        (
            "extension on a leg only",
            CallHistoryQuery {
                extension: Some("2000".into()),
                ..q()
            },
        ),
        (
            "time range",
            CallHistoryQuery {
                from: Some(t(1000)),
                to: Some(t(5000)),
                ..q()
            },
        ),
        (
            "number",
            CallHistoryQuery {
                number: Some("+33612340004".into()),
                ..q()
            },
        ),
        (
            "search by name",
            CallHistoryQuery {
                search: Some("client".into()),
                ..q()
            },
        ),
        (
            "search by number",
            CallHistoryQuery {
                search: Some("+3361234".into()),
                ..q()
            },
        ),
        (
            "search with an extension",
            CallHistoryQuery {
                search: Some("client".into()),
                extension: Some("1007".into()),
                ..q()
            },
        ),
        (
            "outcome",
            CallHistoryQuery {
                outcome: Some(CallOutcome::Busy),
                ..q()
            },
        ),
        (
            "direction",
            CallHistoryQuery {
                direction: Some(Direction::Inbound),
                ..q()
            },
        ),
        (
            "queue",
            CallHistoryQuery {
                queue: Some("sales".into()),
                ..q()
            },
        ),
        (
            "everything",
            CallHistoryQuery {
                pbx: Some("pbx1".into()),
                extension: Some("1007".into()),
                from: Some(t(1000)),
                to: Some(t(15000)),
                ..q()
            },
        ),
        (
            "call columns with a search",
            CallHistoryQuery {
                search: Some("client".into()),
                outcome: Some(CallOutcome::Answered),
                queue: Some("support".into()),
                ..q()
            },
        ),
    ]
}

/// The page variants of one filter: first page, deep page, cursor page.
fn pages(base: &CallHistoryQuery) -> Vec<(&'static str, CallHistoryQuery)> {
    let cursor = HistoryCursor {
        started_at: t(9000).naive_utc(),
        id: "plan-009000".into(),
        pbx: "pbx1".into(),
    };
    vec![
        ("first page", base.clone()),
        (
            "deep page",
            CallHistoryQuery {
                // Deep, yet inside every filter's matches: past them the
                // database must read every match anyway and may rightly join
                // them all instead.
                offset: 250,
                ..base.clone()
            },
        ),
        (
            "cursor page",
            CallHistoryQuery {
                after: Some(cursor),
                count_total: false,
                ..base.clone()
            },
        ),
    ]
}

/// A step that reads a history table without an index, or sorts every match.
fn bad_step(kind: Kind, line: &str) -> bool {
    const TABLES: [&str; 4] = ["calls", "call_legs", "call_parties", "call_search"];
    match kind {
        Kind::Sqlite => {
            let bare_scan = TABLES.iter().any(|t| line.trim() == format!("SCAN {t}"));
            bare_scan || line.contains("USE TEMP B-TREE FOR ORDER BY")
        }
        Kind::Postgres => {
            let seq = TABLES.iter().any(|t| {
                line.contains(&format!("Seq Scan on {t} "))
                    || line.ends_with(&format!("Seq Scan on {t}"))
            });
            seq || line.trim_start().starts_with("-> Sort")
                || line.trim_start().starts_with("Sort ")
        }
    }
}

fn assert_indexed_plans(kind: Kind, store: &Store) {
    let mut checked = 0;
    for (filter, base) in filters() {
        for (page, q) in pages(&base) {
            let page_plan = store
                .history_plan(&CallHistoryQuery {
                    count_total: false,
                    ..q.clone()
                })
                .expect("explain the page");
            let whole = store.history_plan(&q).expect("explain");
            assert!(!page_plan.is_empty(), "{filter}, {page}: no plan read back");
            let count_plan = &whole[..whole.len() - page_plan.len()];
            assert_eq!(count_plan.is_empty(), !q.count_total, "{filter}, {page}");
            let bad: Vec<&String> = page_plan.iter().filter(|l| bad_step(kind, l)).collect();
            assert!(
                bad.is_empty(),
                "{filter}, {page}: {bad:?} in the page's plan\n{}",
                page_plan.join("\n")
            );
            // The count walks the page's path too (`SELECT 1 … ORDER BY …
            // LIMIT HISTORY_COUNT_LIMIT + 1`), even with no filter at all.
            let bad: Vec<&String> = count_plan.iter().filter(|l| bad_step(kind, l)).collect();
            assert!(
                bad.is_empty(),
                "{filter}, {page}: {bad:?} in the count's plan\n{}",
                count_plan.join("\n")
            );
            checked += 1;
        }
    }
    assert_eq!(checked, filters().len() * 3);
}

#[test]
fn sqlite_every_history_filter_is_read_from_an_index() {
    let db = TestDb::create(Kind::Sqlite).expect("SQLite is always there");
    let store = db.open();
    store.finish_calls(&seed(20_000)).expect("seed");
    assert_indexed_plans(Kind::Sqlite, &store);
    // The plan holds with the statistics ANALYZE gives the planner, too.
    let path = db.url.trim_start_matches("sqlite://");
    let mut conn = diesel::SqliteConnection::establish(path).expect("connect");
    conn.batch_execute("ANALYZE").expect("analyze");
    drop(conn);
    let store = db.open();
    assert_indexed_plans(Kind::Sqlite, &store);
}

#[test]
fn postgres_every_history_filter_is_read_from_an_index() {
    let Some(db) = TestDb::create(Kind::Postgres) else {
        return;
    };
    let store = db.open();
    // Enough calls that a table's worth of reading costs the planner more than
    // a page's (at 20,000 it may still read the whole table for a deep page).
    for part in seed(100_000).chunks(20_000) {
        store.finish_calls(part).expect("seed");
    }
    // With statistics (visibility map set), as a running server has.
    let mut conn = PgConnection::establish(&db.url).expect("connect");
    conn.batch_execute("VACUUM ANALYZE")
        .expect("vacuum analyze");
    drop(conn);
    assert_indexed_plans(Kind::Postgres, &store);
}

/// The cursor walks the same order as the pages: reading the whole history by
/// cursor gives every call once, in the order page numbers give them.
fn cursor_pages_match_numbered_pages(kind: Kind) {
    let Some(db) = TestDb::create(kind) else {
        return;
    };
    let store = db.open();
    // Ties on the start time and the id, across PBXs, are ordered too.
    let mut calls = seed(300);
    for c in calls.iter_mut().skip(100).take(20) {
        c.started_at = t(100);
    }
    let mut twin = calls[150].clone();
    twin.pbx = "pbx3".into();
    calls.push(twin);
    store.finish_calls(&calls).expect("seed");
    // Every filter but the time ranges, which lie past these 300 calls.
    for (_, base) in filters().into_iter().filter(|(_, q)| q.from.is_none()) {
        let numbered = store
            .call_history(&CallHistoryQuery {
                limit: 1000,
                ..base.clone()
            })
            .expect("history")
            .calls;
        let mut walked = Vec::new();
        let mut after = None;
        for _ in 0..100 {
            let page = store
                .call_history(&CallHistoryQuery {
                    limit: 7,
                    after: after.clone(),
                    count_total: false,
                    ..base.clone()
                })
                .expect("history");
            assert_eq!(page.total, None, "cursor pages are not counted");
            walked.extend(page.calls);
            after = page.next;
            if after.is_none() {
                break;
            }
        }
        let key = |c: &Call| (c.pbx.clone(), c.id.clone());
        assert_eq!(
            walked.iter().map(key).collect::<Vec<_>>(),
            numbered.iter().map(key).collect::<Vec<_>>()
        );
        assert!(!numbered.is_empty());
        // Deep numbered pages (read from the key of the last call they skip)
        // are the same slices of the whole list, past its end included.
        for offset in (7..=numbered.len() + 7).step_by(7) {
            let page = store
                .call_history(&CallHistoryQuery {
                    limit: 7,
                    offset: offset as i64,
                    ..base.clone()
                })
                .expect("history");
            let want = &numbered[offset.min(numbered.len())..(offset + 7).min(numbered.len())];
            assert_eq!(
                page.calls.iter().map(key).collect::<Vec<_>>(),
                want.iter().map(key).collect::<Vec<_>>(),
                "page at {offset}"
            );
            assert_eq!(page.total, Some(numbered.len() as i64), "page at {offset}");
        }
    }
}

#[test]
fn sqlite_cursor_pages_match_numbered_pages() {
    cursor_pages_match_numbered_pages(Kind::Sqlite);
}

#[test]
fn postgres_cursor_pages_match_numbered_pages() {
    cursor_pages_match_numbered_pages(Kind::Postgres);
}
