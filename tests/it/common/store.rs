//! Test support for the store suite: a fresh database per test on either backend,
//! a way to make it unavailable for a while, and domain-value builders.
//!
//! PostgreSQL: `SWITCHBOARD_TEST_PG_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`) is the admin connection; each test
//! gets its own `sb_test_*` database, dropped afterwards, so tests run in
//! parallel. Only when no server answers at all (connection refused) does a
//! PostgreSQL test skip, recorded through [`skips`]; with
//! `SWITCHBOARD_REQUIRE_SERVICES=1` or `CI` set even that fails the test, and any
//! other failure (authentication, SQL, migration) always does.

/// Included here (not from `common/mod.rs`) because the cluster bench includes
/// this file on its own.
#[path = "skips.rs"]
pub mod skips;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use diesel::connection::SimpleConnection;
use diesel::pg::Pg;
use diesel::sqlite::Sqlite;
use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl, SqliteConnection};
use switchboard::model::{
    Call, CallState, Direction, Extension, ExtensionTransition, HintStatus, Leg, Party,
};
use switchboard::store::{Store, StoreOptions};

/// Which backend a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Sqlite,
    Postgres,
}

/// A fresh, empty database for one test; removed on drop.
pub struct TestDb {
    pub kind: Kind,
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    pg: Option<(String, String)>,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn pg_admin_url() -> String {
    std::env::var("SWITCHBOARD_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

fn with_database(admin_url: &str, db: &str) -> String {
    let (head, query) = match admin_url.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (admin_url, None),
    };
    let base = head.rsplit_once('/').map_or(head, |(b, _)| b);
    match query {
        Some(q) => format!("{base}/{db}?{q}"),
        None => format!("{base}/{db}"),
    }
}

impl TestDb {
    /// A fresh database, or `None` (with the reason printed) when the backend
    /// is not available here.
    pub fn create(kind: Kind) -> Option<Self> {
        match kind {
            Kind::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("switchboard.db").display());
                Some(Self {
                    kind,
                    url,
                    _dir: Some(dir),
                    pg: None,
                })
            }
            Kind::Postgres => {
                let admin_url = pg_admin_url();
                let mut admin = match PgConnection::establish(&admin_url) {
                    Ok(c) => c,
                    Err(e) => {
                        let shown = redact_url(&admin_url);
                        let e = e.to_string().trim().replace('\n', " ");
                        if !nothing_listens(&admin_url) {
                            panic!("PostgreSQL at {shown} answers but refused the test: {e}");
                        }
                        skips::skip(&format!("PostgreSQL: no server answers at {shown} ({e})"));
                        return None;
                    }
                };
                let name = format!(
                    "sb_test_{}_{}_{}",
                    std::process::id(),
                    COUNTER.fetch_add(1, Ordering::Relaxed),
                    rand::random::<u32>()
                );
                admin
                    .batch_execute(&format!("CREATE DATABASE {name}"))
                    .expect("create test database");
                Some(Self {
                    kind,
                    url: with_database(&admin_url, &name),
                    _dir: None,
                    pg: Some((admin_url, name)),
                })
            }
        }
    }

    /// Opens the store with timeouts short enough for outage tests.
    pub fn open(&self) -> Store {
        Store::open_with(&self.url, &test_options()).expect("open store")
    }

    /// The rows `select` returns, read on a connection of its own (outside the store).
    pub fn rows<T>(&self, select: &str) -> Vec<T>
    where
        T: QueryableByName<Sqlite> + QueryableByName<Pg> + 'static,
    {
        match self.kind {
            Kind::Sqlite => {
                let path = self.url.trim_start_matches("sqlite://");
                let mut c = SqliteConnection::establish(path).expect("connect");
                diesel::sql_query(select).load(&mut c).expect("select")
            }
            Kind::Postgres => {
                let mut c = PgConnection::establish(&self.url).expect("connect");
                diesel::sql_query(select).load(&mut c).expect("select")
            }
        }
    }

    /// Runs `sql` as a batch on a connection of its own (outside the store).
    pub fn execute(&self, sql: &str) {
        match self.kind {
            Kind::Sqlite => {
                let path = self.url.trim_start_matches("sqlite://");
                let mut c = SqliteConnection::establish(path).expect("connect");
                c.batch_execute(sql).expect("execute");
            }
            Kind::Postgres => {
                let mut c = PgConnection::establish(&self.url).expect("connect");
                c.batch_execute(sql).expect("execute");
            }
        }
    }

    /// Makes the database refuse writes until [`Outage::end`].
    pub fn begin_outage(&self) -> Outage {
        match &self.pg {
            None => {
                let path = self.url.trim_start_matches("sqlite://");
                let mut conn = SqliteConnection::establish(path).expect("lock connection");
                conn.batch_execute("BEGIN EXCLUSIVE")
                    .expect("take the write lock");
                Outage::Sqlite(conn)
            }
            Some((admin_url, name)) => {
                let mut admin = PgConnection::establish(admin_url).expect("admin connection");
                admin
                    .batch_execute(&format!(
                        "ALTER DATABASE {name} ALLOW_CONNECTIONS false; \
                         SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                         WHERE datname = '{name}' AND pid <> pg_backend_pid();"
                    ))
                    .expect("block connections");
                Outage::Postgres {
                    admin,
                    name: name.clone(),
                }
            }
        }
    }
}

/// `host:port` of a `postgres://` URL (5432 when no port is given).
fn host_port(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?']).next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if host_port.is_empty() {
        return None;
    }
    Some(if host_port.contains(':') {
        host_port.to_string()
    } else {
        format!("{host_port}:5432")
    })
}

/// True only when a TCP connection to the URL's server is refused: the one failure
/// a developer's machine without PostgreSQL shows, and the only one that may skip.
fn nothing_listens(url: &str) -> bool {
    use std::net::{TcpStream, ToSocketAddrs};
    let Some(addrs) = host_port(url).and_then(|hp| hp.to_socket_addrs().ok()) else {
        return false;
    };
    let addrs: Vec<_> = addrs.collect();
    !addrs.is_empty()
        && addrs.iter().all(|a| {
            matches!(
                TcpStream::connect_timeout(a, Duration::from_secs(2)),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused
            )
        })
}

/// The URL without its password, for messages.
fn redact_url(url: &str) -> String {
    match (url.split_once("://"), url.rfind('@')) {
        (Some((scheme, rest)), Some(_)) => {
            let (user_info, host) = rest.rsplit_once('@').unwrap_or(("", rest));
            let user = user_info.split(':').next().unwrap_or("");
            format!("{scheme}://{user}@{host}")
        }
        _ => url.to_string(),
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin_url, name)) = &self.pg {
            if let Ok(mut admin) = PgConnection::establish(admin_url) {
                let _ =
                    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            }
        }
    }
}

/// A database made unavailable by [`TestDb::begin_outage`].
pub enum Outage {
    /// An exclusive transaction held open on another connection.
    Sqlite(SqliteConnection),
    /// The database refusing connections.
    Postgres { admin: PgConnection, name: String },
}

impl Outage {
    /// Makes the database available again.
    pub fn end(self) {
        match self {
            Outage::Sqlite(mut conn) => conn.batch_execute("COMMIT").expect("release the lock"),
            Outage::Postgres { mut admin, name } => admin
                .batch_execute(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"))
                .expect("allow connections"),
        }
    }
}

/// Short waits so an unavailable database shows up as errors quickly.
pub fn test_options() -> StoreOptions {
    StoreOptions {
        pool_size: 4,
        connection_timeout: Duration::from_millis(500),
        busy_timeout: Duration::from_millis(50),
        ..StoreOptions::default()
    }
}

/// A fixed instant plus `minutes`, so tests never depend on the clock.
pub fn t(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 5, 10, 0, 0)
        .single()
        .expect("valid date")
        + chrono::Duration::minutes(minutes)
}

pub fn extension(pbx: &str, exten: &str, status: i32, at: DateTime<Utc>) -> Extension {
    let s = HintStatus(status);
    Extension {
        pbx: pbx.into(),
        extension: exten.into(),
        context: "ext-local".into(),
        hint: Some(format!("PJSIP/{exten}")),
        name: (status % 2 == 0).then(|| format!("Agent {exten}")),
        name_source: None,
        status: s,
        status_text: s.label().into(),
        state: s.kind(),
        device_state: (status == 1).then(|| "INUSE".to_string()),
        last_change: at,
        last_confirmed: None,
    }
}

pub fn transition(pbx: &str, exten: &str, status: i32, at: DateTime<Utc>) -> ExtensionTransition {
    let s = HintStatus(status);
    ExtensionTransition {
        pbx: pbx.into(),
        extension: exten.into(),
        status: s,
        status_text: s.label().into(),
        state: s.kind(),
        device_state: None,
        at,
    }
}

fn leg(id: &str, n: u32, exten: &str, at: DateTime<Utc>, ended: bool) -> Leg {
    Leg {
        uniqueid: format!("{id}.{n}"),
        channel: format!("PJSIP/{exten}-0000000{n}"),
        number: Some(exten.into()),
        extension: Some(exten.into()),
        state: if ended { "Down".into() } else { "Up".into() },
        started_at: at,
        answered_at: Some(at + chrono::Duration::seconds(3)),
        ended_at: ended.then(|| at + chrono::Duration::seconds(63)),
        hangup_cause: ended.then_some(16),
        hangup_cause_text: ended.then(|| "Normal Clearing".to_string()),
    }
}

/// A live, bridged internal call from `caller` to `callee`.
pub fn active_call(pbx: &str, id: &str, caller: &str, callee: &str, at: DateTime<Utc>) -> Call {
    Call {
        direction: Direction::Internal,
        state: CallState::Bridged,
        caller: Party {
            number: Some(caller.into()),
            name: Some(format!("Agent {caller}")),
        },
        callee: Party {
            number: Some(callee.into()),
            name: None,
        },
        legs: vec![
            leg(id, 1, caller, at, false).into(),
            leg(id, 2, callee, at, false).into(),
        ],
        answered_at: Some(at + chrono::Duration::seconds(3)),
        duration_secs: 10.0,
        talk_secs: 7.0,
        ..Call::new(pbx, id, at)
    }
}

/// The same call, ended, as the call tracker hands it to history.
pub fn finished(mut call: Call) -> Call {
    let at = call.started_at;
    call.state = CallState::Ended;
    call.on_hold = false;
    call.legs = call
        .legs
        .iter()
        .enumerate()
        .map(|(i, l)| {
            leg(
                &call.id,
                i as u32 + 1,
                l.extension.as_deref().unwrap_or("x"),
                at,
                true,
            )
            .into()
        })
        .collect();
    call.ended_at = Some(at + chrono::Duration::seconds(63));
    call.duration_secs = 63.0;
    call.talk_secs = 60.0;
    call.transfers = vec![switchboard::model::TransferKind::Blind];
    call.queue = Some("support".into());
    call.outcome = Some(switchboard::model::CallOutcome::Answered);
    call.hangup_cause = Some(16);
    call.hangup_cause_text = Some("Normal Clearing".into());
    call
}

/// A history page as the calls and their total (pages that were counted).
pub trait Counted {
    /// The calls and how many match in all.
    fn counted(self) -> (Vec<Call>, i64);
}

impl Counted for switchboard::store::CallHistory {
    fn counted(self) -> (Vec<Call>, i64) {
        let total = self
            .total
            .expect("a page-numbered history query counts its total");
        assert!(self.total_exact, "{total} calls, counted to the limit");
        (self.calls, total)
    }
}

/// One `call_search` row, as [`SEARCH_TERMS`] reads it back.
#[derive(QueryableByName, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct SearchTerm {
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub term: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub call_id: String,
    #[diesel(sql_type = diesel::sql_types::Timestamp)]
    pub started_at: chrono::NaiveDateTime,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub pbx: String,
}

/// Every stored search term, in one order for comparing.
pub const SEARCH_TERMS: &str =
    "SELECT term, call_id, started_at, pbx FROM call_search ORDER BY term, call_id, pbx";

/// The `history_filters` migration's backfill of `call_search` (the last
/// statement of its `up.sql`): search terms computed in SQL.
pub fn search_terms_backfill(kind: Kind) -> &'static str {
    let up_sql = match kind {
        Kind::Sqlite => {
            include_str!("../../../migrations/sqlite/2026-12-07-210000_history_filters/up.sql")
        }
        Kind::Postgres => {
            include_str!("../../../migrations/postgres/2026-12-07-210000_history_filters/up.sql")
        }
    };
    let at = up_sql
        .find("INSERT INTO call_search")
        .expect("the migration backfills call_search");
    &up_sql[at..]
}
