//! The journal over real processes (issue 17): a service stopped while the
//! database cannot take its writes journals them and exits 0, and the next start
//! replays them before its first login, so every call a WebSocket subscriber was
//! told ended is in the history with the outcome it was told; a replay killed
//! half-way resumes at the next start without writing anything twice.

use std::path::Path;

use diesel::connection::SimpleConnection;
use diesel::sql_types::BigInt;
use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl, SqliteConnection};
use switchboard::model::{ExtensionState, ExtensionTransition, HintStatus};
use switchboard::sim::{SimConfig, SimHandle};
use switchboard::store::{journal, WriteOp};

use crate::common::browser::free_port;
use crate::common::child::OwnedChild;
use crate::common::service::WsClient;
use crate::common::service_proc::{
    self, assert_told_is_stored, ended, exit_of, http_client, stop_cleanly, stored_outcomes,
    wait_connected, Outage,
};
use crate::common::sim_client::sim_with;
use crate::common::store::{active_call, finished, Kind, TestDb};
use crate::common::wait::{wait_until, DEADLINE};
use crate::common::ws_recorder::WsRecorder;

fn spawn_service(dir: &Path, sim: &SimHandle, database_url: &str, port: u16) -> OwnedChild {
    service_proc::spawn_service(dir, dir, sim, database_url, port, "")
}

async fn stopped_during_an_outage_loses_no_call(kind: Kind) {
    let Some(db) = TestDb::create(kind) else {
        return;
    };
    let sim = sim_with(SimConfig {
        rate: 0.0,
        extensions: 20,
        ..SimConfig::default()
    });
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let client = http_client();
    let mut service = spawn_service(dir.path(), &sim, &db.url, port);
    wait_connected(&client, &base).await;
    let ws = WsRecorder::start(WsClient::connect(&format!("ws://127.0.0.1:{port}/ws")).await);

    let before = sim.place_call("1001", "1002");
    sim.answer_call(&before);
    sim.hangup_call(&before);
    wait_until("the first call.ended", DEADLINE, || async {
        ended(&ws).len() == 1
    })
    .await;

    // The database goes away (SQLite: locked by another connection; PostgreSQL:
    // refusing connections), and calls keep ending.
    let outage = Outage::begin(&db);
    for (from, to) in [("1003", "1004"), ("1005", "1006"), ("1007", "1008")] {
        let call = sim.place_call(from, to);
        sim.answer_call(&call);
        sim.hangup_call(&call);
    }
    let unanswered = sim.place_call("1009", "1010");
    sim.hangup_call(&unanswered);
    wait_until("five call.ended", DEADLINE, || async {
        ended(&ws).len() == 5
    })
    .await;
    let told = ended(&ws);

    let log = stop_cleanly(&mut service).await;
    assert!(log.contains("journaled"), "log:\n{log}");
    let journal_file = dir.path().join(journal::FILE_NAME);
    assert!(journal_file.exists(), "log:\n{log}");
    outage.end();

    // The next start replays the journal before it logs in.
    let mut service = spawn_service(dir.path(), &sim, &db.url, port);
    wait_connected(&client, &base).await;
    let log = service.log();
    let replayed = log.find("replayed (").expect("the replay is logged");
    let login = log.find(": logged in to").expect("the login is logged");
    assert!(
        replayed < login,
        "replayed before the first login; log:\n{log}"
    );
    assert!(!journal_file.exists(), "the journal is gone once replayed");

    let stored = stored_outcomes(&client, &base).await;
    assert_told_is_stored(&told, &stored);
    stop_cleanly(&mut service).await;
    sim.stop();
}

#[actix_rt::test]
async fn sqlite_locked_at_sigterm_loses_no_call() {
    stopped_during_an_outage_loses_no_call(Kind::Sqlite).await;
}

#[actix_rt::test]
async fn postgres_refusing_connections_at_sigterm_loses_no_call() {
    stopped_during_an_outage_loses_no_call(Kind::Postgres).await;
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

fn count(kind: Kind, url: &str, sql: &str) -> i64 {
    let rows: Vec<Count> = match kind {
        Kind::Sqlite => {
            let path = url.trim_start_matches("sqlite://");
            let mut c = SqliteConnection::establish(path).expect("connect");
            c.batch_execute("PRAGMA busy_timeout = 5000")
                .expect("busy timeout");
            diesel::sql_query(sql).load(&mut c)
        }
        Kind::Postgres => {
            let mut c = PgConnection::establish(url).expect("connect");
            diesel::sql_query(sql).load(&mut c)
        }
    }
    .unwrap_or_default();
    rows.first().map_or(-1, |r| r.n)
}

/// A journal of `transitions` state changes and `calls` finished calls, recent
/// enough that retention keeps them.
fn big_journal(path: &Path, transitions: usize, calls: usize, database: &str) {
    let now = chrono::Utc::now();
    let mut ops: Vec<WriteOp> = (0..transitions)
        .map(|i| {
            WriteOp::Transition(ExtensionTransition {
                pbx: "journal-pbx".into(),
                extension: format!("{}", 2000 + i % 500),
                status: HintStatus::IDLE,
                status_text: "Idle".into(),
                state: ExtensionState::Idle,
                device_state: None,
                at: now - chrono::Duration::milliseconds(i as i64),
            })
        })
        .collect();
    ops.extend((0..calls).map(|i| {
        let at = now - chrono::Duration::seconds(i as i64);
        let call = finished(active_call(
            "journal-pbx",
            &format!("j-{i:06}"),
            "2001",
            "2002",
            at,
        ));
        WriteOp::FinishedCall(std::sync::Arc::new(call))
    }));
    journal::append(path, &ops, database).expect("write the journal");
}

async fn a_replay_killed_half_way_resumes_without_duplicates(kind: Kind) {
    // 32 chunks: the kill comes after the first one is in.
    const TRANSITIONS: usize = 60_000;
    const CALLS: usize = 4_000;
    let Some(db) = TestDb::create(kind) else {
        return;
    };
    let store = db.open(); // migrated, as a service that ran before
    let sim = sim_with(SimConfig {
        rate: 0.0,
        extensions: 5,
        ..SimConfig::default()
    });
    let dir = tempfile::tempdir().expect("temp dir");
    let journal_file = dir.path().join(journal::FILE_NAME);
    big_journal(&journal_file, TRANSITIONS, CALLS, store.identity());
    let chunks = journal::read(&journal_file)
        .expect("read")
        .expect("a journal")
        .chunks
        .len() as i64;
    let port = free_port();
    let mut service = spawn_service(dir.path(), &sim, &db.url, port);
    wait_until("the replay's first chunk", DEADLINE, || async {
        count(kind, &db.url, "SELECT COUNT(*) AS n FROM journal_chunks") >= 1
    })
    .await;
    service.sigkill();
    let applied = count(kind, &db.url, "SELECT COUNT(*) AS n FROM journal_chunks");
    assert!(
        applied < chunks,
        "the kill came after the replay ended ({applied} of {chunks} chunks): make the journal bigger"
    );
    assert!(
        journal_file.exists(),
        "the journal stays until it is fully applied"
    );

    let client = http_client();
    let mut service = spawn_service(dir.path(), &sim, &db.url, port);
    wait_connected(&client, &format!("http://127.0.0.1:{port}")).await;
    assert!(!journal_file.exists(), "log:\n{}", service.log());
    assert_eq!(
        count(kind, &db.url, "SELECT COUNT(*) AS n FROM journal_chunks"),
        chunks
    );
    assert_eq!(
        count(
            kind,
            &db.url,
            "SELECT COUNT(*) AS n FROM extension_transitions WHERE pbx = 'journal-pbx'"
        ),
        TRANSITIONS as i64,
        "every transition once"
    );
    assert_eq!(
        count(
            kind,
            &db.url,
            "SELECT COUNT(*) AS n FROM calls WHERE pbx = 'journal-pbx'"
        ),
        CALLS as i64
    );
    stop_cleanly(&mut service).await;
    sim.stop();
}

#[actix_rt::test]
async fn sqlite_a_replay_killed_half_way_resumes_without_duplicates() {
    a_replay_killed_half_way_resumes_without_duplicates(Kind::Sqlite).await;
}

#[actix_rt::test]
async fn postgres_a_replay_killed_half_way_resumes_without_duplicates() {
    a_replay_killed_half_way_resumes_without_duplicates(Kind::Postgres).await;
}

/// When the journal cannot be written either, the service says how many ops of
/// which kind were lost and exits non-zero.
#[actix_rt::test]
async fn ops_written_nowhere_are_counted_and_the_exit_is_not_0() {
    let db = TestDb::create(Kind::Sqlite).expect("SQLite is always there");
    let sim = sim_with(SimConfig {
        rate: 0.0,
        extensions: 10,
        ..SimConfig::default()
    });
    let dir = tempfile::tempdir().expect("temp dir");
    let nowhere = dir.path().join("no-such-directory");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let client = http_client();
    let mut service = service_proc::spawn_service(dir.path(), &nowhere, &sim, &db.url, port, "");
    wait_connected(&client, &base).await;
    let ws = WsRecorder::start(WsClient::connect(&format!("ws://127.0.0.1:{port}/ws")).await);
    let outage = Outage::begin(&db);
    let call = sim.place_call("1001", "1002");
    sim.answer_call(&call);
    sim.hangup_call(&call);
    wait_until("the call.ended", DEADLINE, || async {
        ended(&ws).len() == 1
    })
    .await;
    service.sigterm();
    let (status, log) = exit_of(&mut service).await;
    outage.end();
    assert!(
        !status.success(),
        "ops were lost: exit non-zero; log:\n{log}"
    );
    assert!(log.contains("LOST"), "log:\n{log}");
    assert!(
        log.contains("finishedCall=1"),
        "counted by kind; log:\n{log}"
    );
    sim.stop();
}

/// A journal left in the directory by a service on another database: the
/// service refuses to start (exit non-zero, saying why), applies nothing and
/// leaves the file as it was; started on the database the journal was
/// written for, it replays it.
async fn a_journal_for_another_database_is_refused_and_kept(kind: Kind) {
    let (Some(ours), Some(theirs)) = (TestDb::create(kind), TestDb::create(kind)) else {
        return;
    };
    let written_for = theirs.open().identity().to_string();
    let this = ours.open().identity().to_string();
    assert_ne!(written_for, this, "two databases, two identities");
    assert_eq!(
        ours.open().identity(),
        this,
        "the identity stays across opens"
    );
    let sim = sim_with(SimConfig {
        rate: 0.0,
        extensions: 5,
        ..SimConfig::default()
    });
    let dir = tempfile::tempdir().expect("temp dir");
    let journal_file = dir.path().join(journal::FILE_NAME);
    big_journal(&journal_file, 10, 3, &written_for);
    let before = std::fs::read(&journal_file).expect("journal bytes");
    let port = free_port();

    let mut service = spawn_service(dir.path(), &sim, &ours.url, port);
    let (status, log) = exit_of(&mut service).await;
    assert!(!status.success(), "exit status {status}; log:\n{log}");
    assert!(
        log.contains("written for another database") && log.contains(&written_for),
        "log:\n{log}"
    );
    assert!(
        !log.contains(": logged in to"),
        "no login before the refusal; log:\n{log}"
    );
    assert_eq!(
        std::fs::read(&journal_file).expect("kept"),
        before,
        "the journal is untouched"
    );
    let chunks = "SELECT COUNT(*) AS n FROM journal_chunks";
    assert_eq!(count(kind, &ours.url, chunks), 0);
    assert_eq!(count(kind, &ours.url, "SELECT COUNT(*) AS n FROM calls"), 0);

    let mut service = spawn_service(dir.path(), &sim, &theirs.url, port);
    wait_connected(&http_client(), &format!("http://127.0.0.1:{port}")).await;
    assert!(!journal_file.exists(), "log:\n{}", service.log());
    assert_eq!(
        count(kind, &theirs.url, "SELECT COUNT(*) AS n FROM calls"),
        3
    );
    stop_cleanly(&mut service).await;
    sim.stop();
}

#[actix_rt::test]
async fn sqlite_a_journal_for_another_database_is_refused_and_kept() {
    a_journal_for_another_database_is_refused_and_kept(Kind::Sqlite).await;
}

#[actix_rt::test]
async fn postgres_a_journal_for_another_database_is_refused_and_kept() {
    a_journal_for_another_database_is_refused_and_kept(Kind::Postgres).await;
}
