//! Several switchboard processes on one PostgreSQL database and two simulators:
//! the built binary (`serve`, configured through its environment) started as real
//! child processes, killed by PID (SIGKILL) when a test wants a crash.
//!
//! Each [`Cluster`] gets its own database (see [`super::store::TestDb`]), dropped
//! afterwards; [`Cluster::start`] answers `None` only where `TestDb::create` may
//! skip (nothing listens, outside CI).
//!
//! Each instance's store connections carry `application_name`
//! `switchboard-store:<INSTANCE_ID>`, so [`Cluster::audit_writes`] can tell which
//! instance wrote a row.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::Value;
use switchboard::sim::{PbxSnapshot, SimConfig, SimHandle, Simulator};

use super::store::{Kind, TestDb};
use super::wait::wait_until;

#[path = "cluster/audit.rs"]
pub mod audit;
#[path = "cluster/view.rs"]
pub mod view;

use audit::STORE_APP;

/// The PBX names, in the order of the simulators.
pub const PBXS: [&str; 2] = ["north", "south"];

/// Generous limit for "eventually" (never a performance assertion).
pub const EVENTUALLY: Duration = Duration::from_secs(30);

/// One switchboard process.
pub struct Instance {
    /// Its `INSTANCE_ID`.
    pub id: String,
    /// Where its HTTP API listens.
    pub http: std::net::SocketAddr,
    child: Option<Child>,
    log: PathBuf,
}

impl Instance {
    /// Base URL of its API.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.http)
    }

    /// Whether the process still runs.
    pub fn alive(&self) -> bool {
        self.child.is_some()
    }

    /// SIGKILL (by PID, through its `Child`), then reaps it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The last `n` lines of its log (for failure messages).
    pub fn log_tail(&self, n: usize) -> String {
        let mut text = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.log) {
            let _ = f.read_to_string(&mut text);
        }
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// GET `path` → (status, JSON body).
    pub async fn get(&self, path: &str) -> Option<(u16, Value)> {
        let mut resp = awc::Client::new()
            .get(self.url(path))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .ok()?;
        let body = resp.json::<Value>().limit(64 << 20).await.ok()?;
        Some((resp.status().as_u16(), body))
    }

    /// `/api/health` → each PBX's (heldBy, heldHere, state).
    pub async fn leases(&self) -> Option<BTreeMap<String, (Option<String>, bool, String)>> {
        let (_, h) = self.get("/api/health").await?;
        let pbxs = h["data"]["pbxs"].as_array()?;
        Some(
            pbxs.iter()
                .map(|p| {
                    (
                        p["pbx"].as_str().unwrap_or_default().to_string(),
                        (
                            p["heldBy"].as_str().map(str::to_string),
                            p["heldHere"].as_bool().unwrap_or(false),
                            p["state"].as_str().unwrap_or_default().to_string(),
                        ),
                    )
                })
                .collect(),
        )
    }

    /// Extension statuses of `pbx` as this instance shows them.
    pub async fn extensions(&self, pbx: &str) -> Option<BTreeMap<String, i64>> {
        let (_, v) = self.get(&format!("/api/extensions?pbx={pbx}")).await?;
        Some(
            v["data"]
                .as_array()?
                .iter()
                .map(|e| {
                    (
                        e["extension"].as_str().unwrap_or_default().to_string(),
                        e["status"].as_i64().unwrap_or(-1),
                    )
                })
                .collect(),
        )
    }

    /// Active calls of `pbx` as (id → (state, direction)).
    pub async fn calls(&self, pbx: &str) -> Option<BTreeMap<String, (String, String)>> {
        let (_, v) = self.get(&format!("/api/calls?pbx={pbx}")).await?;
        Some(
            v["data"]
                .as_array()?
                .iter()
                .map(|c| {
                    (
                        c["id"].as_str().unwrap_or_default().to_string(),
                        (
                            c["state"].as_str().unwrap_or_default().to_string(),
                            c["direction"].as_str().unwrap_or_default().to_string(),
                        ),
                    )
                })
                .collect(),
        )
    }

    /// How this instance's view of `pbx` differs from the simulator's truth.
    pub async fn mismatch(&self, pbx: &str, truth: &PbxSnapshot) -> Option<String> {
        let Some(exts) = self.extensions(pbx).await else {
            return Some(format!("{}: no answer", self.id));
        };
        for (exten, status) in &truth.extensions {
            let got = exts.get(exten).copied();
            if got != Some(i64::from(*status)) {
                return Some(format!(
                    "{} {pbx} extension {exten}: {got:?} vs {status}",
                    self.id
                ));
            }
        }
        let Some(calls) = self.calls(pbx).await else {
            return Some(format!("{}: no answer", self.id));
        };
        let want: BTreeMap<String, (String, String)> = truth
            .calls
            .iter()
            .map(|c| {
                (
                    c.linkedid.clone(),
                    (enum_name(&c.state), enum_name(&c.direction)),
                )
            })
            .collect();
        (calls != want).then(|| format!("{} {pbx} calls: {calls:?} vs truth {want:?}", self.id))
    }
}

fn enum_name<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Instances, simulators and their database.
pub struct Cluster {
    /// The instances, in start order.
    pub instances: Vec<Instance>,
    /// The simulators, one per name in [`PBXS`].
    pub sims: Vec<SimHandle>,
    dir: tempfile::TempDir,
    db: TestDb,
    next: usize,
}

fn free_port() -> std::net::SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
}

impl Cluster {
    /// A fresh database and two simulators generating `rate` events per second each;
    /// `None` when PostgreSQL is not available here.
    pub fn start(rate: f64) -> Option<Self> {
        let db = TestDb::create(Kind::Postgres)?;
        let sims = PBXS
            .iter()
            .enumerate()
            .map(|(i, _)| {
                Simulator::spawn(
                    "127.0.0.1:0".parse().expect("addr"),
                    SimConfig {
                        seed: 11 + i as u64,
                        extensions: 12,
                        first_extension: 1001 + 1000 * i as u32,
                        rate,
                        system_name: format!("sim{i}"),
                        ..SimConfig::default()
                    },
                )
                .expect("simulator starts")
            })
            .collect();
        Some(Self {
            instances: Vec::new(),
            sims,
            dir: tempfile::tempdir().expect("temp dir"),
            db,
            next: 0,
        })
    }

    /// [`Self::start`] with `n` instances added, one after the other: the setup
    /// most cluster tests begin with.
    pub async fn with_instances(rate: f64, n: usize) -> Option<Self> {
        let mut c = Self::start(rate)?;
        for _ in 0..n {
            c.add_instance().await;
        }
        Some(c)
    }

    /// Ends instance `i`'s lease session from the database side (as a failover of
    /// the database, a network cut or an administrator would); answers how many
    /// sessions were terminated.
    pub fn cut_lease_session(&self, i: usize) -> usize {
        use diesel::prelude::*;
        #[derive(QueryableByName)]
        struct Done {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let mut conn = PgConnection::establish(&self.db.url).expect("database connection");
        let done: Done = diesel::sql_query(
            "SELECT count(pg_terminate_backend(pid))::bigint AS n FROM pg_stat_activity \
             WHERE datname = current_database() AND application_name = $1",
        )
        .bind::<diesel::sql_types::Text, _>(format!("switchboard:{}", self.instances[i].id))
        .get_result(&mut conn)
        .expect("terminate the lease session");
        done.n as usize
    }

    /// Cuts instance `i`'s lease session ([`Self::cut_lease_session`]) and waits
    /// until the instance says it stands by: the fencing every lease-loss test
    /// starts from.
    pub async fn fence(&self, i: usize) {
        assert_eq!(
            self.cut_lease_session(i),
            1,
            "one lease session per instance"
        );
        let what = format!(
            "{} to stand by after losing its lease session",
            self.instances[i].id
        );
        wait_until(&what, EVENTUALLY, || async {
            self.instances[i].log_tail(400).contains("standing by")
        })
        .await;
    }

    /// Appends rows to the change feed as instance `i` would have written them,
    /// and notifies: plants in the other instances' views what a fenced holder's
    /// refused feed rows would have left there (or kept from them).
    pub fn plant_feed_rows(&self, i: usize, pbx: &str, rows: &[(&str, Value)]) {
        use diesel::prelude::*;
        use diesel::sql_types::Text;
        let mut conn = PgConnection::establish(&self.db.url).expect("database connection");
        for (kind, payload) in rows {
            diesel::sql_query(
                "INSERT INTO change_feed (pbx, kind, payload, instance) VALUES ($1, $2, $3, $4)",
            )
            .bind::<Text, _>(pbx)
            .bind::<Text, _>(*kind)
            .bind::<Text, _>(payload.to_string())
            .bind::<Text, _>(&self.instances[i].id)
            .execute(&mut conn)
            .expect("feed row inserted");
        }
        diesel::sql_query("SELECT pg_notify('switchboard_feed', $1)")
            .bind::<Text, _>(pbx)
            .execute(&mut conn)
            .expect("notified");
    }

    /// The simulator of `pbx`.
    pub fn sim(&self, pbx: &str) -> &SimHandle {
        let i = PBXS.iter().position(|p| *p == pbx).expect("known PBX");
        &self.sims[i]
    }

    /// Starts one more instance and waits until its API answers.
    pub async fn add_instance(&mut self) -> usize {
        self.next += 1;
        let id = format!("inst{}", self.next);
        let http = free_port();
        let log = self.dir.path().join(format!("{id}.log"));
        let out = std::fs::File::create(&log).expect("log file");
        let err = out.try_clone().expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env(
                "DATABASE_URL",
                switchboard::cluster::lease::with_application_name(
                    &self.db.url,
                    &format!("{STORE_APP}{id}"),
                ),
            )
            .env("INSTANCE_ID", &id)
            .env("HTTP_BIND", http.to_string())
            .env("AMI_PBXS", PBXS.join(","))
            .env("AMI_NORTH_PORT", self.sims[0].addr().port().to_string())
            .env("AMI_SOUTH_PORT", self.sims[1].addr().port().to_string())
            .env("AMI_SECRET", "amisecret")
            .env("RUST_LOG", "info,actix_web::middleware::logger=warn")
            .env("STATIC_DIR", concat!(env!("CARGO_MANIFEST_DIR"), "/static"))
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("switchboard starts");
        let inst = Instance {
            id,
            http,
            child: Some(child),
            log,
        };
        wait_until(
            &format!("instance {} to answer", inst.id),
            EVENTUALLY,
            || async {
                match inst.get("/api/health").await {
                    Some(_) => Ok(()),
                    None => Err(format!("its log:\n{}", inst.log_tail(40))),
                }
            },
        )
        .await;
        self.instances.push(inst);
        self.instances.len() - 1
    }

    /// The running instances.
    pub fn alive(&self) -> impl Iterator<Item = &Instance> {
        self.instances.iter().filter(|i| i.alive())
    }

    /// Waits until every running instance agrees that each PBX is held by exactly
    /// one running instance — the one that says `heldHere` and is `connected` —
    /// and the others are on `standby`; returns PBX → holder index.
    pub async fn settled_leases(&self) -> BTreeMap<String, usize> {
        wait_until("the leases to settle", EVENTUALLY, || self.lease_picture()).await
    }

    async fn lease_picture(&self) -> Result<BTreeMap<String, usize>, String> {
        let mut holders: BTreeMap<String, usize> = BTreeMap::new();
        let mut views = Vec::new();
        for (i, inst) in self.instances.iter().enumerate().filter(|(_, i)| i.alive()) {
            let l = inst
                .leases()
                .await
                .ok_or_else(|| format!("{}: no health", inst.id))?;
            views.push((i, l));
        }
        for pbx in PBXS {
            let here: Vec<usize> = views
                .iter()
                .filter(|(_, l)| l.get(pbx).is_some_and(|(_, h, _)| *h))
                .map(|(i, _)| *i)
                .collect();
            let [holder] = here[..] else {
                return Err(format!("{pbx} held here by {here:?}"));
            };
            let name = &self.instances[holder].id;
            for (i, l) in &views {
                let Some((by, _, state)) = l.get(pbx) else {
                    return Err(format!("{pbx} missing on {i}"));
                };
                if by.as_deref() != Some(name.as_str()) {
                    return Err(format!("{i} says {pbx} is held by {by:?}, not {name}"));
                }
                let want = if *i == holder { "connected" } else { "standby" };
                if state != want {
                    return Err(format!("{i}: {pbx} connection {state}, want {want}"));
                }
            }
            holders.insert(pbx.to_string(), holder);
        }
        Ok(holders)
    }

    /// Waits until every running instance shows exactly the simulators' truth.
    pub async fn wait_truth(&self) {
        wait_until(
            "every instance to match the simulators",
            EVENTUALLY,
            || async {
                for inst in self.alive() {
                    for pbx in PBXS {
                        if let Some(m) = inst.mismatch(pbx, &self.sim(pbx).snapshot()).await {
                            return Err(m);
                        }
                    }
                }
                Ok(())
            },
        )
        .await;
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in &mut self.instances {
            if std::thread::panicking() {
                eprintln!("--- log of instance {} ---\n{}", i.id, i.log_tail(60));
            }
            i.kill();
        }
        for s in &self.sims {
            s.stop();
        }
        let _ = &self.db;
    }
}

/// A WebSocket subscriber of one instance: every JSON message, in arrival order.
pub struct Subscriber {
    framed: actix_codec::Framed<awc::BoxedSocket, awc::ws::Codec>,
    /// Messages read so far (after the snapshot).
    pub seen: Vec<Value>,
}

impl Subscriber {
    /// Connects to `/ws` of `inst` and reads the opening snapshot.
    pub async fn connect(inst: &Instance) -> Self {
        let (s, first) = Self::open(inst, "/ws").await;
        assert_eq!(first["type"], "snapshot", "first message is the snapshot");
        s
    }

    /// Connects to `path` (e.g. `/ws?lastSeq=5`) of `inst`; answers the first message.
    pub async fn open(inst: &Instance, path: &str) -> (Self, Value) {
        let url = format!("ws://{}{path}", inst.http);
        let (_, framed) = awc::Client::new()
            .ws(url)
            .max_frame_size(64 << 20)
            .connect()
            .await
            .expect("websocket connects");
        let mut s = Self {
            framed,
            seen: Vec::new(),
        };
        let first = s.next(EVENTUALLY).await.expect("a first message");
        (s, first)
    }

    /// The next JSON message within `limit` (pings answered).
    pub async fn next(&mut self, limit: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.framed.next())
                .await
                .ok()??
                .ok()?;
            match frame {
                awc::ws::Frame::Text(b) => return serde_json::from_slice(&b).ok(),
                awc::ws::Frame::Ping(p) => {
                    let _ = self.framed.send(awc::ws::Message::Pong(p)).await;
                }
                awc::ws::Frame::Close(_) => return None,
                _ => {}
            }
        }
    }

    /// Reads everything that arrives during `span` (kept in `seen`).
    pub async fn drain(&mut self, span: Duration) {
        let deadline = tokio::time::Instant::now() + span;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return;
            }
            match self.next(left).await {
                Some(v) => self.seen.push(v),
                None => return,
            }
        }
    }

    /// Reads until `pred` holds for a message (kept in `seen`); false on timeout.
    pub async fn until(&mut self, limit: Duration, pred: impl Fn(&Value) -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let Some(v) = self.next(left).await else {
                return false;
            };
            let done = pred(&v);
            self.seen.push(v);
            if done {
                return true;
            }
        }
    }

    /// Per call and per extension, the changes seen, in order: key → [(type, state)].
    pub fn streams(&self) -> BTreeMap<String, Vec<String>> {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for v in &self.seen {
            let kind = v["type"].as_str().unwrap_or_default();
            let d = &v["data"];
            let (key, what) = match kind {
                "extension.status" => (
                    format!("ext {} {}", d["pbx"], d["extension"]),
                    format!("{} {}", d["status"], d["lastChange"]),
                ),
                "call.started" | "call.updated" | "call.ended" => (
                    format!("call {} {}", d["pbx"], d["id"]),
                    format!(
                        "{kind} {} {} {}",
                        d["state"],
                        d["onHold"],
                        d["legs"].as_array().map_or(0, Vec::len)
                    ),
                ),
                _ => continue,
            };
            out.entry(key).or_default().push(what);
        }
        out
    }
}
