//! SIGTERM to the real binary (`switchboard serve --config FILE`), against the
//! simulator, on SQLite and on PostgreSQL.
//!
//! Writes are kept pending on purpose when the signal arrives (another connection
//! holds a lock on the database, released a second later), so "pending writes
//! flushed" is really exercised. Asserted: the WebSocket client is closed with 1001
//! (going away), the simulator received exactly one `Logoff` on each AMI
//! connection (the main one, and a refresh's own login) and no login after the
//! signal, the process exits with status 0 (a generous bound, as an
//! "eventually"), and the store afterwards holds the extension states and calls
//! the service showed before the signal — the PBX's truth.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::browser::free_port;
use crate::common::child::OwnedChild;
use crate::common::service::WsClient;
use crate::common::store::{Counted, Kind, TestDb};
use crate::common::truth::View;
use crate::common::wait::{wait_until, DEADLINE};
use crate::common::ws_recorder::WsRecorder;
use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection, SqliteConnection};
use switchboard::sim::{SimConfig, SimHandle, Simulator};
use switchboard::store::{CallHistoryQuery, Store};

/// How long the process may take to exit after SIGTERM before the test fails.
const EXIT_WITHIN: Duration = Duration::from_secs(15);

/// Starts `switchboard serve --config FILE` against `sim`, storing in `database_url`.
fn spawn_service(dir: &Path, sim: &SimHandle, database_url: &str, port: u16) -> OwnedChild {
    let settings = format!(
        "AMI_HOST=127.0.0.1\nAMI_PORT={}\nAMI_USERNAME=admin\nAMI_SECRET=amisecret\n\
         DATABASE_URL={database_url}\nHTTP_BIND=127.0.0.1:{port}\n\
         AMI_BACKOFF_MIN_MS=50\nAMI_BACKOFF_MAX_MS=200\n",
        sim.addr().port()
    );
    OwnedChild::serve(dir, &settings, "info")
}

/// A lock that makes the service's writes wait, held by another connection.
enum Lock {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
}

impl Lock {
    fn take(kind: Kind, url: &str) -> Self {
        match kind {
            Kind::Sqlite => {
                let path = url.trim_start_matches("sqlite://");
                let mut c = SqliteConnection::establish(path).expect("lock connection");
                c.batch_execute("PRAGMA busy_timeout = 10000; BEGIN EXCLUSIVE")
                    .expect("take the write lock");
                Self::Sqlite(c)
            }
            Kind::Postgres => {
                let mut c = PgConnection::establish(url).expect("lock connection");
                c.batch_execute(
                    "BEGIN; LOCK TABLE extensions, extension_transitions, active_calls, \
                     calls, call_legs IN ACCESS EXCLUSIVE MODE",
                )
                .expect("lock the tables");
                Self::Postgres(c)
            }
        }
    }

    fn release(self) {
        match self {
            Self::Sqlite(mut c) => c.batch_execute("COMMIT"),
            Self::Postgres(mut c) => c.batch_execute("COMMIT"),
        }
        .expect("release the lock");
    }
}

async fn sigterm_logs_off_closes_clients_flushes_and_exits_0(kind: Kind) {
    let Some(db) = TestDb::create(kind) else {
        return; // reason printed by TestDb::create
    };
    let sim = Simulator::spawn(
        "127.0.0.1:0".parse().expect("addr"),
        SimConfig {
            rate: 0.0,
            extensions: 20,
            ..SimConfig::default()
        },
    )
    .expect("simulator");
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut service = spawn_service(dir.path(), &sim, &db.url, port);

    let client = awc::Client::builder()
        .timeout(Duration::from_secs(5))
        .finish();
    let health_url = format!("{base}/api/health");
    wait_until("the binary to serve and connect", DEADLINE, || async {
        match client.get(&health_url).send().await {
            Ok(mut res) => res
                .json::<serde_json::Value>()
                .await
                .is_ok_and(|h| h["data"]["ami"]["state"] == "connected"),
            Err(_) => false,
        }
    })
    .await;
    let ws = WsRecorder::start(WsClient::connect(&format!("ws://127.0.0.1:{port}/ws")).await);
    wait_until("the WebSocket snapshot", DEADLINE, || async {
        ws.messages()
            .first()
            .is_some_and(|m| m["type"] == "snapshot")
    })
    .await;

    // Calls: one finished, one talking, one ringing; an extension offline.
    let done = sim.place_call("1001", "1002");
    sim.answer_call(&done);
    sim.hangup_call(&done);
    let talking = sim.place_call("1003", "1004");
    sim.answer_call(&talking);
    sim.set_extension_state("1010", 4);
    wait_until("the API to show the PBX's state", DEADLINE, || async {
        View::of_api_url(&base).await == View::of_sim(&sim)
    })
    .await;

    // A refresh from the PBX: a second AMI connection (its own login and Logoff).
    let mut res = client
        .post(format!("{base}/api/extensions/hybrid-refresh"))
        .send()
        .await
        .expect("refresh answered");
    assert_eq!(res.status().as_u16(), 200, "{:?}", res.body().await);
    wait_until("the refresh connection's Logoff", DEADLINE, || async {
        sim.stats().logoffs == 1 && sim.stats().sessions == 1
    })
    .await;

    // More changes while the database makes every write wait: pending at SIGTERM.
    let lock = Lock::take(kind, &db.url);
    let ringing = sim.place_call("1005", "1006");
    sim.set_extension_state("1011", 4);
    sim.set_extension_state("1010", 0);
    wait_until("the API to show the changes", DEADLINE, || async {
        View::of_api_url(&base).await == View::of_sim(&sim)
    })
    .await;
    let shown = View::of_api_url(&base).await;
    assert!(shown.calls.contains_key(&ringing));
    wait_until(
        "the writer to hold the new changes unwritten",
        DEADLINE,
        || async {
            match client.get(&health_url).send().await {
                Ok(mut res) => res
                    .json::<serde_json::Value>()
                    .await
                    .is_ok_and(|h| h["data"]["store"]["pending"].as_u64() > Some(0)),
                Err(_) => false,
            }
        },
    )
    .await;
    assert_eq!(
        sim.stats().logoffs,
        1,
        "only the refresh connection's so far"
    );

    service.sigterm();
    let signalled = Instant::now();
    tokio::time::sleep(Duration::from_secs(1)).await;
    lock.release();
    let status = service.wait_exit(EXIT_WITHIN).await;
    eprintln!(
        "{kind:?}: exited {:.2} s after SIGTERM (the database lock held for the first 1 s)",
        signalled.elapsed().as_secs_f64()
    );
    let log = service.log();
    let status = status.unwrap_or_else(|| panic!("no exit within {EXIT_WITHIN:?}; log:\n{log}"));
    assert!(status.success(), "exit status {status}; log:\n{log}");
    assert!(log.contains("pending writes flushed"), "log:\n{log}");

    wait_until("the WebSocket close to be read", DEADLINE, || async {
        ws.close_code().is_some()
    })
    .await;
    assert_eq!(ws.close_code(), Some(Some(1001)), "going away");
    let stats = sim.stats();
    assert_eq!(
        (stats.logins_ok, stats.logoffs),
        (2, 2),
        "one Logoff on each AMI connection (the main one and the refresh's), \
         and no login after the signal"
    );
    wait_until("the AMI session to close", DEADLINE, || async {
        sim.stats().sessions == 0
    })
    .await;

    // The store holds what was shown before the signal (the PBX did not change).
    let store = Store::open(&db.url).expect("open the store after exit");
    assert_eq!(
        View::of_store(&store),
        shown,
        "stored = shown before SIGTERM"
    );
    assert_eq!(View::of_store(&store).diff(&View::of_sim(&sim)), None);
    let (history, _) = store
        .call_history(&CallHistoryQuery {
            limit: 100,
            ..CallHistoryQuery::default()
        })
        .expect("history")
        .counted();
    assert_eq!(history.len(), 1, "{history:?}");
    assert_eq!(history[0].id, done);
    assert_eq!(history[0].outcome.map(|o| o.as_str()), Some("answered"));
    drop(store);
    sim.stop();
}

#[actix_rt::test]
async fn sigterm_on_sqlite() {
    sigterm_logs_off_closes_clients_flushes_and_exits_0(Kind::Sqlite).await;
}

#[actix_rt::test]
async fn sigterm_on_postgres() {
    sigterm_logs_off_closes_clients_flushes_and_exits_0(Kind::Postgres).await;
}
