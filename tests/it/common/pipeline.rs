//! Running the whole service in a test: `app::start` against a real AMI peer (the
//! simulator or a replay server) on 127.0.0.1, with a fresh database, and bounded
//! waits on what the pipeline reports (router counters, hub sequence, live view,
//! connection status, registry).

use super::wait::{wait_settled, wait_until, DEADLINE};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use switchboard::actors::hub::GetHubStats;
use switchboard::actors::router::{GetRouterStats, RouterStats};
use switchboard::app::{self, Service};
use switchboard::config::Config;
use switchboard::delivery::{Catchup, Change, Deliver, Envelope, Filter, GoingAway, Subscribe};
use switchboard::model::{AmiConnectionState, Call, ConnectionStatus, Extension};
use switchboard::store::{CallHistoryQuery, Flush};

use super::store::{Counted, Kind, TestDb};

/// The service under test with its database (dropped after the service).
pub struct Running {
    pub service: Service,
    _db: TestDb,
    /// Where a journal goes (never the crate's directory, where a later test's
    /// service would replay it into its own database).
    _journal: tempfile::TempDir,
}

/// Settings for [`start`].
pub struct Setup<'a> {
    pub ami: SocketAddr,
    pub auth: &'a str,
    pub backend: Kind,
    pub extra: Vec<(&'a str, String)>,
}

impl<'a> Setup<'a> {
    /// The service against `ami` with MD5 login, SQLite, default timings.
    pub fn new(ami: SocketAddr) -> Self {
        Self {
            ami,
            auth: "md5",
            backend: Kind::Sqlite,
            extra: Vec::new(),
        }
    }

    pub fn auth(mut self, auth: &'a str) -> Self {
        self.auth = auth;
        self
    }

    pub fn backend(mut self, kind: Kind) -> Self {
        self.backend = kind;
        self
    }

    pub fn with(mut self, key: &'a str, value: impl ToString) -> Self {
        self.extra.push((key, value.to_string()));
        self
    }
}

/// Starts the service (inside the current actix System). `None` when the backend is
/// not available here (the reason is printed).
pub async fn start(setup: Setup<'_>) -> Option<Running> {
    let db = TestDb::create(setup.backend)?;
    let mut vars: HashMap<String, String> = HashMap::new();
    vars.insert("AMI_HOST".into(), setup.ami.ip().to_string());
    vars.insert("AMI_PORT".into(), setup.ami.port().to_string());
    vars.insert("AMI_USERNAME".into(), "admin".into());
    vars.insert("AMI_SECRET".into(), "amisecret".into());
    vars.insert("AMI_AUTH".into(), setup.auth.into());
    vars.insert("DATABASE_URL".into(), db.url.clone());
    vars.insert("HTTP_BIND".into(), "127.0.0.1:0".into());
    vars.insert("AMI_BACKOFF_MIN_MS".into(), "20".into());
    vars.insert("AMI_BACKOFF_MAX_MS".into(), "200".into());
    // Tests count the events the service is sent against what the simulator
    // generated; a filter would hide some. Tests of the filter set it themselves.
    vars.insert("AMI_EVENT_FILTER".into(), "off".into());
    let journal = tempfile::tempdir().expect("journal dir");
    vars.insert("JOURNAL_DIR".into(), journal.path().display().to_string());
    for (k, v) in setup.extra {
        vars.insert(k.to_string(), v);
    }
    let config = Config::from_lookup(|k| vars.get(k).cloned()).expect("test config");
    let service = app::start(config).await.expect("service starts");
    Some(Running {
        service,
        _db: db,
        _journal: journal,
    })
}

impl Running {
    /// The router's counters.
    pub async fn router(&self) -> RouterStats {
        self.service.state.pbxs[0]
            .router
            .send(GetRouterStats)
            .await
            .expect("router answers")
    }

    /// The hub's sequence number.
    pub async fn hub_seq(&self) -> u64 {
        self.service
            .state
            .hub
            .send(GetHubStats)
            .await
            .expect("hub answers")
            .0
    }

    /// The connection's status as health shows it.
    pub fn connection(&self) -> ConnectionStatus {
        self.service.state.pbxs[0]
            .status
            .read()
            .expect("status lock")
            .clone()
    }

    /// Active calls in the live view.
    pub fn live_calls(&self) -> Vec<Arc<Call>> {
        self.service
            .state
            .live
            .read()
            .expect("live lock")
            .calls(None)
    }

    /// Sets `exten` to `status` at the simulator and waits until the live view
    /// shows it: the pipeline carries events from the PBX.
    pub async fn pbx_state_reaches_live_view(
        &self,
        sim: &switchboard::sim::SimHandle,
        exten: &str,
        status: i32,
    ) {
        sim.set_extension_state(exten, status);
        wait_until(
            &format!("{exten} to show status {status} in the live view"),
            DEADLINE,
            || async {
                self.live_extensions()
                    .get(exten)
                    .is_some_and(|e| e.status.0 == status)
            },
        )
        .await;
    }

    /// Extensions in the live view, by number.
    pub fn live_extensions(&self) -> HashMap<String, Arc<Extension>> {
        self.service
            .state
            .live
            .read()
            .expect("live lock")
            .extensions(None)
            .into_iter()
            .map(|e| (e.extension.clone(), e))
            .collect()
    }

    /// Waits until the connection is in `state`.
    pub async fn wait_state(&self, state: AmiConnectionState) {
        wait_until(&format!("connection state {state}"), DEADLINE, || async {
            self.connection().state == state
        })
        .await;
    }

    /// Waits until the router has routed at least `n` events, then until the changes
    /// they caused have all reached the hub (its sequence stops moving while no call
    /// tracker is left with work), then commits pending store writes.
    pub async fn settle(&self, n: u64) {
        wait_until(&format!("{n} events routed"), DEADLINE, || async {
            self.router().await.routed >= n
        })
        .await;
        self.quiesce().await;
    }

    /// Waits until the hub's sequence number has not moved for 60 ms, then flushes
    /// the store writer.
    pub async fn quiesce(&self) {
        let quiet = Duration::from_millis(60);
        wait_settled("the hub to settle", DEADLINE, quiet, || self.hub_seq()).await;
        self.flush().await;
    }

    /// Commits the store writer's pending writes.
    pub async fn flush(&self) {
        self.service
            .state
            .writer
            .send(Flush)
            .await
            .expect("writer answers");
    }

    /// Every finished call in the store, oldest first.
    pub fn history(&self) -> Vec<Call> {
        let q = CallHistoryQuery {
            limit: 100_000,
            ..CallHistoryQuery::default()
        };
        // The count and the page are two statements: a batch the writer commits
        // between them (a caller may read while calls still end) makes them differ,
        // so read again until one answer agrees with itself.
        let read = || {
            self.service
                .state
                .store
                .call_history(&q)
                .expect("history")
                .counted()
        };
        let (mut calls, mut total) = read();
        for _ in 0..200 {
            if calls.len() as i64 == total {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
            (calls, total) = read();
        }
        assert_eq!(
            calls.len() as i64,
            total,
            "one page holds the whole history"
        );
        calls.sort_by(|a, b| a.started_at.cmp(&b.started_at).then(a.id.cmp(&b.id)));
        calls
    }

    /// Stops the service politely.
    pub async fn stop(self) {
        self.service.shutdown().await;
    }
}

/// Every change the hub numbered, in `seq` order, as a WebSocket client would see
/// them: a subscriber actor that resumes from seq 0 (the hub's history replays what
/// came before it subscribed) and keeps what is delivered.
#[derive(Clone, Default)]
pub struct Changes(Arc<std::sync::Mutex<Vec<Arc<Envelope>>>>);

impl Changes {
    /// The changes so far.
    pub fn all(&self) -> Vec<Arc<Envelope>> {
        self.0.lock().expect("changes lock").clone()
    }

    /// Every published state of call `id`, in order.
    pub fn of_call(&self, id: &str) -> Vec<Arc<Call>> {
        self.all()
            .iter()
            .filter_map(|e| match &e.change {
                Change::CallStarted(c) | Change::CallUpdated(c) | Change::CallEnded(c)
                    if c.id == id =>
                {
                    Some(c.clone())
                }
                _ => None,
            })
            .collect()
    }
}

struct Collector {
    changes: Changes,
}

impl Actor for Collector {
    type Context = actix::Context<Self>;
}

impl Handler<Deliver> for Collector {
    type Result = ();

    fn handle(&mut self, msg: Deliver, _: &mut Self::Context) {
        self.changes
            .0
            .lock()
            .expect("changes lock")
            .extend(msg.0.iter().cloned());
    }
}

impl Handler<GoingAway> for Collector {
    type Result = ();

    fn handle(&mut self, _: GoingAway, _: &mut Self::Context) {}
}

impl Running {
    /// Subscribes a collector to every change since the start.
    pub async fn collect(&self) -> Changes {
        let (changes, catchup) = self.subscribe_collector(Some(0)).await;
        match catchup {
            Catchup::Replay { changes: past, .. } => {
                changes.0.lock().expect("changes lock").extend(past)
            }
            Catchup::Snapshot { .. } => panic!("the hub's history should cover a test run"),
        }
        changes
    }

    /// Subscribes a collector to every change from now on (cluster mode numbers
    /// changes from the start time, so there is no history from 0 to replay).
    pub async fn collect_from_now(&self) -> Changes {
        self.subscribe_collector(None).await.0
    }

    async fn subscribe_collector(&self, last_seq: Option<u64>) -> (Changes, Catchup) {
        let changes = Changes::default();
        let addr = Collector {
            changes: changes.clone(),
        }
        .start();
        let catchup = self
            .service
            .state
            .hub
            .send(Subscribe {
                id: u64::MAX - 1,
                client: addr.clone().recipient(),
                closer: addr.recipient(),
                route: None,
                filter: Filter::default(),
                last_seq,
            })
            .await
            .expect("hub answers")
            .expect("the hub builds a catch-up");
        (changes, catchup)
    }
}

/// A simulator on an ephemeral loopback port with no background traffic: the test
/// drives every call and state change itself (bursts, placed calls).
pub fn quiet_sim(seed: u64, extensions: u32) -> switchboard::sim::SimHandle {
    switchboard::sim::Simulator::spawn(
        "127.0.0.1:0".parse().expect("addr"),
        switchboard::sim::SimConfig {
            seed,
            extensions,
            rate: 0.0,
            ..switchboard::sim::SimConfig::default()
        },
    )
    .expect("simulator starts")
}
