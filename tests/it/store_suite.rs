//! The store's behaviour, written once and run against SQLite and PostgreSQL
//! (`sqlite::*` and `postgres::*`). Each test gets a fresh database.

use switchboard::model::{CallState, HintStatus};
use switchboard::store::{Backend, CallHistoryQuery, RefreshRecord, Store, WriteOp};

use crate::common::backends::on_both_backends;
use crate::common::store::{
    active_call, extension, finished, t, transition, Counted, Kind, TestDb,
};

on_both_backends!(
    migrations_run_on_open_and_reopen,
    extensions_survive_a_restart,
    state_at_answers_for_any_instant,
    history_is_filtered_by_range_newest_first,
    mark_confirmed_touches_only_listed_extensions,
    active_calls_upsert_and_list,
    finishing_moves_a_call_to_history_once,
    call_history_pages_and_filters,
    get_call_finds_active_then_finished,
    refresh_runs_are_recorded,
    prune_keeps_the_state_in_force,
    apply_writes_a_mixed_batch_in_order,
    apply_keeps_the_order_of_ops_on_the_same_row,
);

fn expected_backend(db: &TestDb) -> Backend {
    match db.kind {
        Kind::Sqlite => Backend::Sqlite,
        Kind::Postgres => Backend::Postgres,
    }
}

fn migrations_run_on_open_and_reopen(db: &TestDb) {
    let store = db.open();
    assert_eq!(store.backend(), expected_backend(db));
    store.ping().expect("ping");
    assert!(store.list_extensions(None).expect("list").is_empty());
    assert!(store.recent_refreshes(10).expect("refreshes").is_empty());
    drop(store);
    // A second start finds the schema in place and applies nothing twice.
    let again = db.open();
    again.ping().expect("ping after reopen");
    assert!(again.list_active_calls(None).expect("active").is_empty());
    assert!(!again.describe().is_empty());
}

fn extensions_survive_a_restart(db: &TestDb) {
    let store = db.open();
    let mut a = extension("pbx1", "1001", 0, t(0));
    let b = extension("pbx1", "1002", 1, t(1));
    let c = extension("pbx2", "2001", 4, t(2));
    store
        .upsert_extensions(&[a.clone(), b.clone(), c.clone()])
        .expect("upsert");
    a.status = HintStatus::RINGING;
    a.status_text = "ringing".into();
    a.state = switchboard::model::ExtensionState::Ringing;
    a.name = None;
    a.device_state = Some("RINGING".into());
    a.last_change = t(5);
    store.upsert_extensions(&[a.clone()]).expect("update");
    drop(store);

    let store = db.open();
    assert_eq!(
        store.list_extensions(None).expect("list"),
        vec![a.clone(), b.clone(), c.clone()]
    );
    assert_eq!(
        store.list_extensions(Some("pbx1")).expect("list pbx1"),
        vec![a.clone(), b]
    );
    assert_eq!(store.get_extension("pbx1", "1001").expect("get"), Some(a));
    assert_eq!(store.get_extension("pbx2", "2001").expect("get"), Some(c));
    assert_eq!(store.get_extension("pbx2", "1001").expect("get"), None);
}

fn seed_transitions(store: &Store) {
    store
        .record_transitions(&[
            transition("pbx1", "1001", 0, t(0)),
            transition("pbx1", "1001", 8, t(10)),
            transition("pbx1", "1001", 1, t(11)),
            transition("pbx1", "1001", 0, t(20)),
            transition("pbx1", "1002", 4, t(5)),
            transition("pbx2", "1001", 2, t(12)),
        ])
        .expect("record");
}

fn state_at_answers_for_any_instant(db: &TestDb) {
    let store = db.open();
    seed_transitions(&store);
    let status_at = |minute: i64| {
        store
            .state_at("pbx1", "1001", t(minute))
            .expect("state_at")
            .map(|tr| tr.status.0)
    };
    assert_eq!(status_at(-1), None, "before anything was recorded");
    assert_eq!(status_at(0), Some(0), "exactly at the first transition");
    assert_eq!(status_at(5), Some(0));
    assert_eq!(status_at(10), Some(8), "exactly at a change");
    let just_after = store
        .state_at("pbx1", "1001", t(10) + chrono::Duration::seconds(30))
        .expect("state_at");
    assert_eq!(
        just_after.map(|tr| (tr.status, tr.at)),
        Some((HintStatus(8), t(10)))
    );
    assert_eq!(status_at(12), Some(1), "other PBX's 1001 is not mixed in");
    assert_eq!(status_at(600), Some(0));
    assert_eq!(
        store.state_at("pbx1", "1002", t(4)).expect("state_at"),
        None
    );
    assert_eq!(
        store.state_at("pbx1", "1002", t(30)).expect("state_at"),
        Some(transition("pbx1", "1002", 4, t(5)))
    );
}

fn history_is_filtered_by_range_newest_first(db: &TestDb) {
    let store = db.open();
    seed_transitions(&store);
    let minutes = |from: Option<i64>, to: Option<i64>, limit: i64| -> Vec<i64> {
        store
            .extension_history("pbx1", "1001", from.map(t), to.map(t), limit)
            .expect("history")
            .iter()
            .map(|tr| (tr.at - t(0)).num_minutes())
            .collect()
    };
    assert_eq!(minutes(None, None, 100), vec![20, 11, 10, 0]);
    assert_eq!(
        minutes(Some(10), Some(20), 100),
        vec![20, 11, 10],
        "bounds inclusive"
    );
    assert_eq!(minutes(Some(1), None, 100), vec![20, 11, 10]);
    assert_eq!(minutes(None, Some(10), 100), vec![10, 0]);
    assert_eq!(minutes(None, None, 2), vec![20, 11]);
    assert!(minutes(Some(21), None, 100).is_empty());
}

fn mark_confirmed_touches_only_listed_extensions(db: &TestDb) {
    let store = db.open();
    store
        .upsert_extensions(&[
            extension("pbx1", "1001", 0, t(0)),
            extension("pbx1", "1002", 0, t(0)),
            extension("pbx2", "1001", 0, t(0)),
        ])
        .expect("upsert");
    store
        .mark_confirmed("pbx1", &["1001".into(), "9999".into()], t(30))
        .expect("confirm");
    let confirmed = |pbx: &str, exten: &str| {
        store
            .get_extension(pbx, exten)
            .expect("get")
            .and_then(|e| e.last_confirmed)
    };
    assert_eq!(confirmed("pbx1", "1001"), Some(t(30)));
    assert_eq!(confirmed("pbx1", "1002"), None);
    assert_eq!(confirmed("pbx2", "1001"), None);
}

fn active_calls_upsert_and_list(db: &TestDb) {
    let store = db.open();
    let a = active_call("pbx1", "1700000000.1", "1001", "1002", t(1));
    let b = active_call("pbx1", "1700000000.7", "1003", "1004", t(0));
    let c = active_call("pbx2", "1700000000.1", "2001", "2002", t(2));
    store
        .upsert_active_calls(&[a.clone(), b.clone(), c.clone()])
        .expect("upsert");
    let mut a2 = a.clone();
    a2.state = CallState::OnHold;
    a2.on_hold = true;
    a2.duration_secs = 42.5;
    store.upsert_active_calls(&[a2.clone()]).expect("update");
    assert_eq!(
        store.list_active_calls(None).expect("list"),
        vec![b.clone(), a2.clone(), c.clone()],
        "oldest first"
    );
    assert_eq!(
        store.list_active_calls(Some("pbx1")).expect("list"),
        vec![b, a2]
    );
    assert_eq!(store.list_active_calls(Some("nope")).expect("list"), vec![]);
}

fn finishing_moves_a_call_to_history_once(db: &TestDb) {
    let store = db.open();
    let live = active_call("pbx1", "1700000000.1", "1001", "1002", t(0));
    let other = active_call("pbx1", "1700000000.9", "1005", "1006", t(1));
    store
        .upsert_active_calls(&[live.clone(), other.clone()])
        .expect("upsert");
    let done = finished(live);
    store
        .finish_calls(std::slice::from_ref(&done))
        .expect("finish");
    assert_eq!(store.list_active_calls(None).expect("active"), vec![other]);
    let (page, total) = store
        .call_history(&CallHistoryQuery::default())
        .expect("history")
        .counted();
    assert_eq!((page, total), (vec![done.clone()], 1));

    // The same call finished again (a replayed write) leaves one copy.
    store
        .finish_calls(std::slice::from_ref(&done))
        .expect("finish again");
    let (page, total) = store
        .call_history(&CallHistoryQuery::default())
        .expect("history")
        .counted();
    assert_eq!(total, 1);
    assert_eq!(page[0].legs.len(), 2);
    assert_eq!(page[0], done);
}

fn call_history_pages_and_filters(db: &TestDb) {
    let store = db.open();
    // 25 calls a minute apart; every 5th is on pbx2; extension 1001 calls out
    // on every 3rd, and 1099 appears only as a leg on call 7.
    let mut all = Vec::new();
    for i in 0..25 {
        let pbx = if i % 5 == 0 { "pbx2" } else { "pbx1" };
        let caller = if i % 3 == 0 { "1001" } else { "1010" };
        let mut call = finished(active_call(
            pbx,
            &format!("call-{i:02}"),
            caller,
            "1020",
            t(i),
        ));
        if i == 7 {
            std::sync::Arc::make_mut(&mut call.legs[1]).extension = Some("1099".into());
        }
        all.push(call);
    }
    store.finish_calls(&all).expect("finish");
    let ids = |q: CallHistoryQuery| -> (Vec<String>, i64) {
        let (page, total) = store.call_history(&q).expect("history").counted();
        (page.into_iter().map(|c| c.id).collect(), total)
    };
    let newest_first: Vec<String> = (0..25).rev().map(|i| format!("call-{i:02}")).collect();

    let page = |offset| CallHistoryQuery {
        limit: 10,
        offset,
        ..CallHistoryQuery::default()
    };
    assert_eq!(ids(page(0)), (newest_first[0..10].to_vec(), 25));
    assert_eq!(ids(page(10)), (newest_first[10..20].to_vec(), 25));
    assert_eq!(ids(page(20)), (newest_first[20..25].to_vec(), 25));
    assert_eq!(ids(page(30)), (vec![], 25));

    let (by_exten, total) = ids(CallHistoryQuery {
        extension: Some("1001".into()),
        limit: 100,
        ..CallHistoryQuery::default()
    });
    let expected: Vec<String> = (0..25)
        .rev()
        .filter(|i| i % 3 == 0)
        .map(|i| format!("call-{i:02}"))
        .collect();
    assert_eq!((by_exten, total), (expected, 9));

    assert_eq!(
        ids(CallHistoryQuery {
            extension: Some("1099".into()),
            ..CallHistoryQuery::default()
        }),
        (vec!["call-07".to_string()], 1),
        "an extension seen only on a leg"
    );

    let (in_range, total) = ids(CallHistoryQuery {
        from: Some(t(5)),
        to: Some(t(9)),
        ..CallHistoryQuery::default()
    });
    assert_eq!(total, 5);
    assert_eq!(
        in_range,
        ["call-09", "call-08", "call-07", "call-06", "call-05"]
    );

    let (combined, total) = ids(CallHistoryQuery {
        pbx: Some("pbx2".into()),
        extension: Some("1001".into()),
        from: Some(t(1)),
        queue: None,
        limit: 1,
        ..CallHistoryQuery::default()
    });
    // pbx2 and 1001: calls 0 and 15; from minute 1: only 15.
    assert_eq!((combined, total), (vec!["call-15".to_string()], 1));
}

fn get_call_finds_active_then_finished(db: &TestDb) {
    let store = db.open();
    let live = active_call("pbx1", "shared-id", "1001", "1002", t(0));
    let ended = finished(active_call("pbx2", "shared-id", "2001", "2002", t(1)));
    let only_ended = finished(active_call("pbx1", "old", "1003", "1004", t(2)));
    store
        .upsert_active_calls(std::slice::from_ref(&live))
        .expect("upsert");
    store
        .finish_calls(&[ended.clone(), only_ended.clone()])
        .expect("finish");
    assert_eq!(
        store.get_call(None, "shared-id").expect("get"),
        Some(live.clone())
    );
    assert_eq!(
        store.get_call(Some("pbx1"), "shared-id").expect("get"),
        Some(live)
    );
    assert_eq!(
        store.get_call(Some("pbx2"), "shared-id").expect("get"),
        Some(ended)
    );
    assert_eq!(store.get_call(None, "old").expect("get"), Some(only_ended));
    assert_eq!(store.get_call(Some("pbx2"), "old").expect("get"), None);
    assert_eq!(store.get_call(None, "missing").expect("get"), None);
}

fn refresh_record(n: i64, error: Option<&str>) -> RefreshRecord {
    RefreshRecord {
        connection_id: format!("refresh-{n}"),
        pbx: "pbx1".into(),
        started_at: t(n),
        finished_at: t(n) + chrono::Duration::milliseconds(850),
        extensions_checked: 1000,
        successful: 998,
        failed: 2,
        corrections: serde_json::json!([{"extension": "1001", "from": 0, "to": 1}]),
        error: error.map(str::to_string),
    }
}

fn refresh_runs_are_recorded(db: &TestDb) {
    let store = db.open();
    let runs = [
        refresh_record(0, None),
        refresh_record(1, Some("login refused")),
        refresh_record(2, None),
    ];
    for run in &runs {
        store.record_refresh(run).expect("record");
    }
    assert_eq!(
        store.recent_refreshes(2).expect("recent"),
        vec![runs[2].clone(), runs[1].clone()]
    );
    assert_eq!(store.recent_refreshes(10).expect("recent").len(), 3);
}

fn prune_keeps_the_state_in_force(db: &TestDb) {
    let store = db.open();
    seed_transitions(&store);
    // Cut at minute 15: for pbx1/1001 minutes 0 and 10 go, 11 stays (in force at
    // the cut); the single transitions of the others stay too.
    let removed = store.prune_transitions(t(15)).expect("prune");
    assert_eq!(removed, 2);
    let left: Vec<i64> = store
        .extension_history("pbx1", "1001", None, None, 100)
        .expect("history")
        .iter()
        .map(|tr| (tr.at - t(0)).num_minutes())
        .collect();
    assert_eq!(left, vec![20, 11]);
    assert_eq!(
        store
            .state_at("pbx1", "1001", t(15))
            .expect("state_at")
            .map(|tr| tr.status.0),
        Some(1)
    );
    assert!(store
        .state_at("pbx1", "1002", t(15))
        .expect("state_at")
        .is_some());
    assert_eq!(store.prune_transitions(t(15)).expect("prune again"), 0);
}

fn apply_writes_a_mixed_batch_in_order(db: &TestDb) {
    let store = db.open();
    let call = active_call("pbx1", "c1", "1001", "1002", t(0));
    let ops = vec![
        WriteOp::Extension(std::sync::Arc::new(extension("pbx1", "1001", 0, t(0)))),
        WriteOp::Transition(transition("pbx1", "1001", 0, t(0))),
        WriteOp::ActiveCall(std::sync::Arc::new(call.clone())),
        WriteOp::Extension(std::sync::Arc::new(extension("pbx1", "1001", 1, t(1)))),
        WriteOp::Transition(transition("pbx1", "1001", 1, t(1))),
        WriteOp::Transition(transition("pbx1", "1002", 8, t(1))),
        WriteOp::Confirmed {
            pbx: "pbx1".into(),
            extensions: vec!["1001".into()],
            at: t(2),
        },
        WriteOp::FinishedCall(std::sync::Arc::new(finished(call.clone()))),
        WriteOp::Refresh(refresh_record(3, None)),
    ];
    store.apply(&ops).expect("apply");
    let ext = store
        .get_extension("pbx1", "1001")
        .expect("get")
        .expect("stored");
    assert_eq!((ext.status.0, ext.last_confirmed), (1, Some(t(2))));
    assert_eq!(
        store
            .extension_history("pbx1", "1001", None, None, 10)
            .expect("history")
            .len(),
        2
    );
    assert!(store.list_active_calls(None).expect("active").is_empty());
    assert_eq!(
        store.get_call(None, "c1").expect("get"),
        Some(finished(call))
    );
    assert_eq!(store.recent_refreshes(5).expect("refreshes").len(), 1);
    store.apply(&[]).expect("empty batch");
}

fn apply_keeps_the_order_of_ops_on_the_same_row(db: &TestDb) {
    let store = db.open();
    let first = active_call("pbx1", "again", "1001", "1002", t(0));
    let mut second = active_call("pbx1", "again", "1001", "1003", t(5));
    second.state = CallState::Ringing;
    let gone = active_call("pbx1", "gone", "1004", "1005", t(1));
    let mut gone_late = gone.clone();
    gone_late.on_hold = true;
    gone_late.duration_secs += 1.0;
    let mut ext_before = extension("pbx1", "1001", 0, t(0));
    ext_before.last_confirmed = Some(t(0));
    let mut ext_after = extension("pbx1", "1001", 1, t(3));
    ext_after.last_confirmed = None;
    store
        .apply(&[
            // A call that ends and then (same id, a new live version) comes back.
            WriteOp::ActiveCall(std::sync::Arc::new(first.clone())),
            WriteOp::FinishedCall(std::sync::Arc::new(finished(first.clone()))),
            WriteOp::ActiveCall(std::sync::Arc::new(second.clone())),
            // A call updated after it finished (a late event of the same call: same
            // start) stays finished.
            WriteOp::ActiveCall(std::sync::Arc::new(gone.clone())),
            WriteOp::FinishedCall(std::sync::Arc::new(finished(gone.clone()))),
            WriteOp::ActiveCall(std::sync::Arc::new(gone_late)),
            // Extension upserts around a confirmation keep their order.
            WriteOp::Extension(std::sync::Arc::new(ext_before)),
            WriteOp::Confirmed {
                pbx: "pbx1".into(),
                extensions: vec!["1001".into()],
                at: t(2),
            },
            WriteOp::Extension(std::sync::Arc::new(ext_after.clone())),
            WriteOp::Extension(std::sync::Arc::new(extension("pbx1", "1002", 0, t(0)))),
            WriteOp::Extension(std::sync::Arc::new(extension("pbx1", "1002", 4, t(4)))),
        ])
        .expect("apply");
    assert_eq!(store.list_active_calls(None).expect("active"), vec![second]);
    let (history, total) = store
        .call_history(&CallHistoryQuery::default())
        .expect("history")
        .counted();
    assert_eq!(total, 2);
    assert_eq!(history, vec![finished(gone), finished(first)]);
    assert_eq!(
        store.get_extension("pbx1", "1001").expect("get"),
        Some(ext_after)
    );
    assert_eq!(
        store
            .get_extension("pbx1", "1002")
            .expect("get")
            .map(|e| e.status.0),
        Some(4)
    );
}

/// Cluster mode (PostgreSQL only): a batch carries feed rows naming its instance,
/// and the ops of a PBX whose lease that instance's lease session does not hold are
/// neither stored nor fed — a fenced holder's last batch must not overwrite what
/// the new holder wrote — while the held PBX's ops are.
#[test]
fn postgres_a_batch_feeds_only_held_pbxs_and_never_overwrites_another_holder() {
    use diesel::prelude::*;
    use std::sync::Arc;
    use switchboard::cluster::lease::with_application_name;
    use switchboard::store::lease_key::{lock_key, LEASE_APP};
    use switchboard::store::FeedRow;

    #[derive(QueryableByName, Debug, PartialEq)]
    struct Fed {
        #[diesel(sql_type = diesel::sql_types::Text)]
        pbx: String,
    }
    let Some(db) = TestDb::create(Kind::Postgres) else {
        return;
    };
    let store = db.open();
    let lease_url = with_application_name(&db.url, &format!("{LEASE_APP}inst-a"));
    let mut lease = PgConnection::establish(&lease_url).expect("lease session");
    diesel::sql_query(format!("SELECT pg_advisory_lock({})", lock_key("pbx1")))
        .execute(&mut lease)
        .expect("lease of pbx1 taken");
    // pbx2 is held by another instance; pbx3 by nobody (a lone instance catching
    // up after an outage, before it takes its leases again).
    let other_url = with_application_name(&db.url, &format!("{LEASE_APP}inst-b"));
    let mut other = PgConnection::establish(&other_url).expect("other instance's lease session");
    diesel::sql_query(format!("SELECT pg_advisory_lock({})", lock_key("pbx2")))
        .execute(&mut other)
        .expect("lease of pbx2 taken by inst-b");
    let feed = |pbx: &str| {
        WriteOp::Feed(FeedRow {
            pbx: pbx.into(),
            kind: "extension.status".into(),
            payload: "{}".into(),
            instance: "inst-a".into(),
        })
    };
    let ext = |pbx: &str, exten: &str, status: i32, at: i64| {
        WriteOp::Extension(Arc::new(extension(pbx, exten, status, t(at))))
    };
    store
        .apply(&[
            ext("pbx1", "1001", 0, 0),
            feed("pbx1"),
            ext("pbx2", "2001", 0, 0),
            WriteOp::Transition(transition("pbx2", "2001", 0, t(0))),
            WriteOp::ActiveCall(Arc::new(active_call("pbx2", "c2", "2001", "2002", t(0)))),
            feed("pbx2"),
            ext("pbx3", "3001", 0, 0),
            feed("pbx3"),
        ])
        .expect("apply");
    let status = |pbx: &str, exten: &str| {
        store
            .get_extension(pbx, exten)
            .expect("get")
            .map(|e| e.status.0)
    };
    let fed = |conn: &mut PgConnection| -> Vec<Fed> {
        diesel::sql_query("SELECT pbx FROM change_feed ORDER BY id")
            .load(conn)
            .expect("feed rows")
    };
    let mut reader = PgConnection::establish(&db.url).expect("reader");
    assert_eq!(status("pbx1", "1001"), Some(0), "the held PBX is stored");
    assert_eq!(
        status("pbx2", "2001"),
        None,
        "a PBX another instance holds is not"
    );
    assert_eq!(
        status("pbx3", "3001"),
        Some(0),
        "a PBX nobody holds keeps its state writes (nothing a subscriber was told is lost)"
    );
    assert!(store
        .extension_history("pbx2", "2001", None, None, 10)
        .expect("history")
        .is_empty());
    assert!(store
        .list_active_calls(Some("pbx2"))
        .expect("active")
        .is_empty());
    assert_eq!(
        fed(&mut reader),
        vec![Fed { pbx: "pbx1".into() }],
        "only the held PBX is fed"
    );

    // The lease session ends and another instance takes pbx1: the next batch of
    // pbx1 is refused as well.
    drop(lease);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        #[derive(QueryableByName)]
        struct Held {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let held: Held = diesel::sql_query(
            "SELECT count(*)::bigint AS n FROM pg_locks WHERE locktype = 'advisory'",
        )
        .get_result(&mut reader)
        .expect("locks");
        if held.n == 1 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the lease never ended"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    diesel::sql_query(format!("SELECT pg_advisory_lock({})", lock_key("pbx1")))
        .execute(&mut other)
        .expect("lease of pbx1 taken by inst-b");
    store
        .apply(&[ext("pbx1", "1001", 1, 1), feed("pbx1")])
        .expect("apply");
    assert_eq!(
        status("pbx1", "1001"),
        Some(0),
        "the fenced write is refused"
    );
    assert_eq!(fed(&mut reader).len(), 1, "and not fed");
}
