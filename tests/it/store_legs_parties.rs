//! `call_legs` and `call_parties` without foreign keys on PostgreSQL (issue 19):
//! the store deletes a call's legs and parties itself wherever the call is
//! replaced or pruned, on both backends, so none outlives its call.

use diesel::sql_types::{BigInt, Text};
use diesel::QueryableByName;
use switchboard::store::retention::Cutoffs;

use crate::common::backends::on_both_backends;
use crate::common::store::{active_call, finished, t, Kind, TestDb};

/// One leg or party row: its call and what it names (a leg's extension, a
/// party's extension).
#[derive(QueryableByName, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Owned {
    #[diesel(sql_type = Text)]
    call_id: String,
    #[diesel(sql_type = Text)]
    what: String,
}

const LEGS: &str = "SELECT call_id, extension AS what FROM call_legs ORDER BY call_id, extension";
const PARTIES: &str =
    "SELECT call_id, extension AS what FROM call_parties ORDER BY call_id, extension";

fn owned(list: &[(&str, &str)]) -> Vec<Owned> {
    let mut v: Vec<Owned> = list
        .iter()
        .map(|(c, w)| Owned {
            call_id: c.to_string(),
            what: w.to_string(),
        })
        .collect();
    v.sort();
    v
}

/// Finishing a call again with other parties leaves only the new copy's legs and
/// parties; the other call's stay.
fn replacing_a_call_replaces_its_legs_and_parties(db: &TestDb) {
    let store = db.open();
    let first = finished(active_call("pbx1", "a", "1001", "1002", t(1)));
    let other = finished(active_call("pbx1", "b", "1005", "1006", t(2)));
    store.finish_calls(&[first, other]).expect("first copy");
    assert_eq!(db.rows::<Owned>(LEGS).len(), 4);
    let again = finished(active_call("pbx1", "a", "1003", "1004", t(3)));
    store.finish_calls(&[again]).expect("second copy");
    let pairs = [("a", "1003"), ("a", "1004"), ("b", "1005"), ("b", "1006")];
    assert_eq!(db.rows::<Owned>(LEGS), owned(&pairs));
    assert_eq!(db.rows::<Owned>(PARTIES), owned(&pairs));
}

/// A pruned call's legs and parties go with it (its legs counted), in steps as
/// small as one call.
fn pruning_deletes_the_legs_and_parties(db: &TestDb) {
    let store = db.open();
    store
        .finish_calls(&[
            finished(active_call("pbx1", "old1", "1001", "1002", t(1))),
            finished(active_call("pbx1", "old2", "1003", "1004", t(2))),
            finished(active_call("pbx1", "new", "1005", "1006", t(100))),
        ])
        .expect("seed");
    let cutoffs = Cutoffs {
        calls: t(50),
        transitions: t(0),
        refresh_runs: t(0),
    };
    let first = store.prune_step(&cutoffs, 1).expect("prune");
    assert_eq!((first.calls, first.call_legs, first.more), (1, 2, true));
    while store.prune_step(&cutoffs, 1).expect("prune").more {}
    let kept = [("new", "1005"), ("new", "1006")];
    assert_eq!(db.rows::<Owned>(LEGS), owned(&kept));
    assert_eq!(db.rows::<Owned>(PARTIES), owned(&kept));
}

on_both_backends!(
    replacing_a_call_replaces_its_legs_and_parties,
    pruning_deletes_the_legs_and_parties,
);

#[derive(QueryableByName, Debug)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// PostgreSQL keeps no foreign key from legs or parties to `calls`: it checked
/// them with a plan made before the table had statistics, scanning every call of
/// the PBX per row (see the `legs_parties_unlinked` migration).
#[test]
fn postgres_legs_and_parties_have_no_foreign_key() {
    let Some(db) = TestDb::create(Kind::Postgres) else {
        return;
    };
    drop(db.open());
    let keys = db.rows::<Count>(
        "SELECT count(*) AS n FROM pg_constraint \
         WHERE contype = 'f' AND conrelid IN ('call_legs'::regclass, 'call_parties'::regclass)",
    );
    assert_eq!(keys.first().map(|c| c.n), Some(0));
}
