//! Each history filter the page offers returns exactly the calls it names, on
//! both backends (issues 17, 20); the migration's backfill of `call_search`
//! gives the calls stored before it the same terms the writer gives new ones.

use switchboard::model::{Call, CallOutcome, Direction, Party};
use switchboard::store::{CallHistoryQuery, Store};

use crate::common::store::{
    active_call, finished, search_terms_backfill, t, Counted, Kind, SearchTerm, TestDb,
    SEARCH_TERMS,
};

/// Five calls that differ in every filter's column.
fn calls() -> Vec<Call> {
    let mut a = finished(active_call("pbx1", "a", "1001", "1002", t(1)));
    a.caller.name = Some("Alice Martin".into());
    let mut b = finished(active_call("pbx1", "b", "1003", "1001", t(2)));
    b.outcome = Some(CallOutcome::Busy);
    b.queue = None;
    let mut c = finished(active_call("pbx2", "c", "+33612345678", "1002", t(3)));
    c.direction = Direction::Inbound;
    c.caller = Party {
        number: Some("+33612345678".into()),
        name: Some("Émile Zola".into()),
    };
    c.outcome = Some(CallOutcome::NoAnswer);
    c.queue = Some("sales".into());
    let mut d = finished(active_call("pbx1", "d", "1002", "0611223344", t(4)));
    d.direction = Direction::Outbound;
    d.callee.name = Some("MARTINE Dupont".into());
    let mut e = finished(active_call("pbx1", "e", "1004", "1005", t(5)));
    e.caller.name = Some("Bob".into());
    e.outcome = Some(CallOutcome::Cancelled);
    vec![a, b, c, d, e]
}

/// The ids `q` finds, newest first, checking the count agrees.
fn ids(store: &Store, q: CallHistoryQuery) -> Vec<String> {
    let (found, total) = store.call_history(&q).expect("history").counted();
    assert_eq!(total, found.len() as i64, "{q:?}");
    found.into_iter().map(|c| c.id).collect()
}

fn each_filter_finds_exactly_its_calls(kind: Kind) {
    let Some(db) = TestDb::create(kind) else {
        return;
    };
    let store = db.open();
    store.finish_calls(&calls()).expect("seed");
    let q = CallHistoryQuery::default;
    let cases: Vec<(CallHistoryQuery, &[&str])> = vec![
        (q(), &["e", "d", "c", "b", "a"]),
        (
            CallHistoryQuery {
                number: Some("+33612345678".into()),
                ..q()
            },
            &["c"],
        ),
        (
            CallHistoryQuery {
                number: Some("1001".into()),
                ..q()
            },
            &["b", "a"],
        ),
        (
            CallHistoryQuery {
                number: Some("+336".into()),
                ..q()
            },
            &[],
        ),
        (
            CallHistoryQuery {
                search: Some("+336".into()),
                ..q()
            },
            &["c"],
        ),
        (
            CallHistoryQuery {
                search: Some("MAR".into()),
                ..q()
            },
            &["d", "a"],
        ),
        (
            CallHistoryQuery {
                search: Some("alice m".into()),
                ..q()
            },
            &["a"],
        ),
        (
            CallHistoryQuery {
                search: Some("émile".into()),
                ..q()
            },
            &["c"],
        ),
        (
            CallHistoryQuery {
                search: Some("artin".into()),
                ..q()
            },
            &[],
        ),
        (
            CallHistoryQuery {
                search: Some("100".into()),
                ..q()
            },
            &["e", "d", "c", "b", "a"],
        ),
        (
            CallHistoryQuery {
                search: Some("100".into()),
                extension: Some("1001".into()),
                ..q()
            },
            &["b", "a"],
        ),
        (
            CallHistoryQuery {
                search: Some("bob".into()),
                number: Some("1005".into()),
                outcome: Some(CallOutcome::Cancelled),
                ..q()
            },
            &["e"],
        ),
        (
            CallHistoryQuery {
                outcome: Some(CallOutcome::Busy),
                ..q()
            },
            &["b"],
        ),
        (
            CallHistoryQuery {
                outcome: Some(CallOutcome::Answered),
                ..q()
            },
            &["d", "a"],
        ),
        (
            CallHistoryQuery {
                direction: Some(Direction::Inbound),
                ..q()
            },
            &["c"],
        ),
        (
            CallHistoryQuery {
                direction: Some(Direction::Internal),
                extension: Some("1002".into()),
                ..q()
            },
            &["a"],
        ),
        (
            CallHistoryQuery {
                queue: Some("sales".into()),
                ..q()
            },
            &["c"],
        ),
        (
            CallHistoryQuery {
                queue: Some("support".into()),
                pbx: Some("pbx1".into()),
                from: Some(t(2)),
                ..q()
            },
            &["e", "d"],
        ),
    ];
    for (query, want) in cases {
        assert_eq!(ids(&store, query.clone()), want, "{query:?}");
    }
}

#[test]
fn sqlite_each_filter_finds_exactly_its_calls() {
    each_filter_finds_exactly_its_calls(Kind::Sqlite);
}

#[test]
fn postgres_each_filter_finds_exactly_its_calls() {
    each_filter_finds_exactly_its_calls(Kind::Postgres);
}

/// Stores the calls (the writer's terms), then empties `call_search` and runs
/// the backfill: the same rows come back. (Names in ASCII: SQLite's lower()
/// folds only those, as the migration says.)
fn backfill_gives_the_writers_terms(kind: Kind) {
    let Some(db) = TestDb::create(kind) else {
        return;
    };
    let mut seeded = calls();
    seeded[2].caller.name = Some("Emile  Zola".into());
    db.open().finish_calls(&seeded).expect("seed");
    let written: Vec<SearchTerm> = db.rows(SEARCH_TERMS);
    assert!(written.len() > 50, "{written:?}");
    db.execute("DELETE FROM call_search");
    db.execute(search_terms_backfill(kind));
    assert_eq!(db.rows::<SearchTerm>(SEARCH_TERMS), written);
}

#[test]
fn sqlite_backfill_gives_the_writers_terms() {
    backfill_gives_the_writers_terms(Kind::Sqlite);
}

#[test]
fn postgres_backfill_gives_the_writers_terms() {
    backfill_gives_the_writers_terms(Kind::Postgres);
}
