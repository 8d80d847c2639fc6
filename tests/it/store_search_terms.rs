//! `call_search` without a foreign key (issue 19): the store deletes a call's
//! search terms itself wherever the call is replaced or pruned, on both
//! backends, and the migration that dropped the key leaves an upgraded
//! database with exactly the terms the writer gives.

use switchboard::model::Call;
use switchboard::store::retention::Cutoffs;
use switchboard::store::{CallHistoryQuery, Store};

use crate::common::store::{
    active_call, finished, search_terms_backfill, t, Counted, Kind, SearchTerm, TestDb,
    SEARCH_TERMS as TERMS,
};

fn named(id: &str, name: &str, minute: i64) -> Call {
    let mut call = finished(active_call("pbx1", id, "1001", "1002", t(minute)));
    call.caller.name = Some(name.into());
    call
}

fn found(store: &Store, text: &str) -> Vec<String> {
    let (calls, total) = store
        .call_history(&CallHistoryQuery {
            search: Some(text.into()),
            ..CallHistoryQuery::default()
        })
        .expect("history")
        .counted();
    assert_eq!(total, calls.len() as i64, "{text}");
    calls.into_iter().map(|c| c.id).collect()
}

/// The terms stored for `calls` when each is written once into an empty store.
fn writers_terms(kind: Kind, calls: &[Call]) -> Vec<SearchTerm> {
    let db = TestDb::create(kind).expect("backend answered a moment ago");
    db.open().finish_calls(calls).expect("store");
    db.rows::<SearchTerm>(TERMS)
}

/// Finishing a call again (another name, another start) leaves only the new
/// copy's terms; the other call's stay.
fn replacing_a_call_replaces_its_terms(kind: Kind) {
    let Some(db) = TestDb::create(kind) else {
        return;
    };
    let store = db.open();
    let other = named("b", "Bob Stone", 2);
    store
        .finish_calls(&[named("a", "Alice Martin", 1), other.clone()])
        .expect("first copy");
    assert_eq!(found(&store, "mart"), ["a"]);
    let again = named("a", "Zoé Ramos", 3);
    store
        .finish_calls(std::slice::from_ref(&again))
        .expect("second copy");
    assert!(found(&store, "mart").is_empty());
    assert!(found(&store, "alice").is_empty());
    assert_eq!(found(&store, "ram"), ["a"]);
    assert_eq!(found(&store, "zoé"), ["a"]);
    assert_eq!(
        db.rows::<SearchTerm>(TERMS),
        writers_terms(kind, &[again, other])
    );
}

#[test]
fn sqlite_replacing_a_call_replaces_its_terms() {
    replacing_a_call_replaces_its_terms(Kind::Sqlite);
}

#[test]
fn postgres_replacing_a_call_replaces_its_terms() {
    replacing_a_call_replaces_its_terms(Kind::Postgres);
}

/// A pruned call's terms go with it, in steps as small as one call.
fn pruning_deletes_the_terms(kind: Kind) {
    let Some(db) = TestDb::create(kind) else {
        return;
    };
    let store = db.open();
    let kept = named("new", "Émile Zola", 100);
    store
        .finish_calls(&[
            named("old1", "Alice Martin", 1),
            named("old2", "Émile Old", 2),
            kept.clone(),
        ])
        .expect("seed");
    let cutoffs = Cutoffs {
        calls: t(50),
        transitions: t(0),
        refresh_runs: t(0),
    };
    let first = store.prune_step(&cutoffs, 1).expect("prune");
    assert_eq!((first.calls, first.more), (1, true));
    while store.prune_step(&cutoffs, 1).expect("prune").more {}
    assert_eq!(found(&store, "émile"), ["new"]);
    assert!(found(&store, "alice").is_empty());
    assert_eq!(db.rows::<SearchTerm>(TERMS), writers_terms(kind, &[kept]));
}

#[test]
fn sqlite_pruning_deletes_the_terms() {
    pruning_deletes_the_terms(Kind::Sqlite);
}

#[test]
fn postgres_pruning_deletes_the_terms() {
    pruning_deletes_the_terms(Kind::Postgres);
}

/// A database as the `history_filters` migration left it: its backfill's
/// terms for a name outside printable ASCII (SQL's trim() keeps the tab, and
/// SQLite's lower() the `É`). Upgrading gives it the writer's terms, so pruning or
/// replacing the call later finds and deletes every one of them.
fn upgrade_rewrites_the_backfilled_terms(kind: Kind) {
    let Some(db) = TestDb::create(kind) else {
        return;
    };
    let calls = [named("a", "Émile Zola\t", 1), named("b", "Bob Stone", 2)];
    db.open().finish_calls(&calls).expect("seed");
    let down = match kind {
        Kind::Sqlite => {
            include_str!("../../migrations/sqlite/2026-12-08-000000_search_terms_unlinked/down.sql")
        }
        Kind::Postgres => {
            include_str!(
                "../../migrations/postgres/2026-12-08-000000_search_terms_unlinked/down.sql"
            )
        }
    };
    db.execute(down);
    db.execute("DELETE FROM call_search");
    db.execute(search_terms_backfill(kind));
    db.execute("DELETE FROM __diesel_schema_migrations WHERE version = '20261208000000'");
    let sql_terms = db.rows::<SearchTerm>(TERMS);
    let writers = writers_terms(kind, &calls);
    assert_ne!(sql_terms, writers, "the backfill differs for this name");

    let store = db.open();
    assert_eq!(db.rows::<SearchTerm>(TERMS), writers);
    assert_eq!(found(&store, "zola"), ["a"]);
    store
        .finish_calls(&[named("a", "Anna Berg", 1)])
        .expect("replace");
    assert!(found(&store, "zola").is_empty());
    assert!(found(&store, "émile").is_empty());
    assert_eq!(found(&store, "berg"), ["a"]);
}

#[test]
fn sqlite_upgrade_rewrites_the_backfilled_terms() {
    upgrade_rewrites_the_backfilled_terms(Kind::Sqlite);
}

#[test]
fn postgres_upgrade_rewrites_the_backfilled_terms() {
    upgrade_rewrites_the_backfilled_terms(Kind::Postgres);
}
