//! The service as a real process beside a simulator, with the database taken
//! away under it: what the fault tests of the journal and of long outages share.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitStatus;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::{Connection, SqliteConnection};
use switchboard::sim::SimHandle;

use super::child::OwnedChild;
use super::store::{Kind, TestDb};
use super::wait::wait_until;
use super::ws_recorder::WsRecorder;

/// Long enough for the grace period, a batch attempt still waiting for the
/// lock, and the journal.
pub const EXIT_WITHIN: Duration = Duration::from_secs(40);

/// A replay of a big journal comes before the login: allow for it.
pub const REPLAY_WITHIN: Duration = Duration::from_secs(120);

/// How `service` ended, within [`EXIT_WITHIN`], with its log; panics with the
/// log when it is still running then.
pub async fn exit_of(service: &mut OwnedChild) -> (ExitStatus, String) {
    let status = service.wait_exit(EXIT_WITHIN).await;
    let log = service.log();
    let status = status.unwrap_or_else(|| panic!("no exit within {EXIT_WITHIN:?}; log:\n{log}"));
    (status, log)
}

/// SIGTERM, then exit 0 within [`EXIT_WITHIN`] (panics with the log
/// otherwise); the log.
pub async fn stop_cleanly(service: &mut OwnedChild) -> String {
    service.sigterm();
    let (status, log) = exit_of(service).await;
    assert!(status.success(), "exit status {status}; log:\n{log}");
    log
}

/// `switchboard serve` in `dir` against the simulator and `database_url`, with
/// its journal in `journal_dir`, a 2-second shutdown grace, quick AMI
/// reconnects, and `extra` settings (`KEY=value` lines) after those.
pub fn spawn_service(
    dir: &Path,
    journal_dir: &Path,
    sim: &SimHandle,
    database_url: &str,
    port: u16,
    extra: &str,
) -> OwnedChild {
    let settings = format!(
        "AMI_HOST=127.0.0.1\nAMI_PORT={}\nAMI_USERNAME=admin\nAMI_SECRET=amisecret\n\
         DATABASE_URL={database_url}\nHTTP_BIND=127.0.0.1:{port}\n\
         AMI_BACKOFF_MIN_MS=50\nAMI_BACKOFF_MAX_MS=200\n\
         SHUTDOWN_GRACE=2\nJOURNAL_DIR={}\n{extra}",
        sim.addr().port(),
        journal_dir.display()
    );
    OwnedChild::serve(dir, &settings, "info")
}

/// The HTTP client the fault tests ask the service with.
pub fn http_client() -> awc::Client {
    awc::Client::builder()
        .timeout(Duration::from_secs(10))
        .finish()
}

/// A JSON answer of the service, or `None` when there is none (yet).
pub async fn get_json(client: &awc::Client, url: &str) -> Option<serde_json::Value> {
    let mut res = client.get(url).send().await.ok()?;
    res.json::<serde_json::Value>().limit(64 << 20).await.ok()
}

/// Waits until the service answers and its PBX is connected.
pub async fn wait_connected(client: &awc::Client, base: &str) {
    let url = format!("{base}/api/health");
    wait_until("the binary to serve and connect", REPLAY_WITHIN, || async {
        get_json(client, &url)
            .await
            .is_some_and(|h| h["data"]["ami"]["state"] == "connected")
    })
    .await;
}

/// `call.ended` announcements: call id → outcome.
pub fn ended(ws: &WsRecorder) -> BTreeMap<String, String> {
    ws.messages()
        .iter()
        .filter(|m| m["type"] == "call.ended")
        .filter_map(|m| {
            Some((
                m["data"]["id"].as_str()?.to_string(),
                m["data"]["outcome"].as_str()?.to_string(),
            ))
        })
        .collect()
}

/// The history's calls (up to 500): call id → outcome, each call listed once
/// (a call stored twice would show as a shorter map than the list: checked).
pub async fn stored_outcomes(client: &awc::Client, base: &str) -> BTreeMap<String, String> {
    let history = get_json(client, &format!("{base}/api/calls/history?pageSize=500"))
        .await
        .expect("history");
    let list = history["data"].as_array().expect("a list");
    let stored: BTreeMap<String, String> = list
        .iter()
        .filter_map(|c| {
            Some((
                c["id"].as_str()?.to_string(),
                c["outcome"].as_str()?.to_string(),
            ))
        })
        .collect();
    assert_eq!(stored.len(), list.len(), "each call once: {history}");
    stored
}

/// Asserts every call a subscriber was told ended is in the history with the
/// outcome it was told.
pub fn assert_told_is_stored(told: &BTreeMap<String, String>, stored: &BTreeMap<String, String>) {
    assert!(!told.is_empty(), "calls were announced");
    for (id, outcome) in told {
        assert_eq!(
            stored.get(id),
            Some(outcome),
            "call {id}: told {outcome}, history {stored:?}"
        );
    }
}

/// The database away: SQLite locked by another connection (which first waits
/// its turn behind the service's own writes), PostgreSQL refusing connections.
pub enum Outage {
    Sqlite(SqliteConnection),
    Postgres(super::store::Outage),
}

impl Outage {
    pub fn begin(db: &TestDb) -> Self {
        match db.kind {
            Kind::Sqlite => {
                let path = db.url.trim_start_matches("sqlite://");
                let mut c = SqliteConnection::establish(path).expect("lock connection");
                c.batch_execute("PRAGMA busy_timeout = 10000; BEGIN EXCLUSIVE")
                    .expect("take the write lock");
                Self::Sqlite(c)
            }
            Kind::Postgres => Self::Postgres(db.begin_outage()),
        }
    }

    pub fn end(self) {
        match self {
            Self::Sqlite(mut c) => c.batch_execute("COMMIT").expect("release the lock"),
            Self::Postgres(o) => o.end(),
        }
    }
}
