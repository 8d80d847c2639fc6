//! [`TestService`]: the simulator as the PBX plus the whole service (actors, store,
//! HTTP server) in-process, on ephemeral loopback ports, with a fresh SQLite file.
//!
//! Use inside `#[actix_rt::test]`. Every wait is a condition polled until a bounded
//! deadline; nothing sleeps to assert.

use super::wait::{wait_until, DEADLINE};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use actix_http::ws::{Codec, Frame, Message};
use awc::BoxedSocket;
use futures::{SinkExt, StreamExt};
use serde_json::Value;
use switchboard::app::{self, HttpSettings, Service};
use switchboard::config::Config;
use switchboard::sim::{SimConfig, SimHandle, Simulator};

/// Settings of one test service.
pub struct Options {
    /// The simulator's settings (default: 50 extensions, no generated traffic).
    pub sim: SimConfig,
    /// Extra environment for [`Config::from_lookup`] (e.g. `API_TOKEN`, `WS_QUEUE`).
    pub env: HashMap<&'static str, String>,
    /// Wait until the main connection is up and every extension is known.
    pub wait_ready: bool,
    /// HTTP worker threads (`serve` uses 2).
    pub http_workers: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            sim: SimConfig {
                rate: 0.0,
                ..SimConfig::default()
            },
            env: HashMap::new(),
            wait_ready: true,
            http_workers: 1,
        }
    }
}

impl Options {
    /// Adds one configuration variable.
    pub fn env(mut self, key: &'static str, value: impl Into<String>) -> Self {
        self.env.insert(key, value.into());
        self
    }
}

/// A running simulator + service + HTTP server.
pub struct TestService {
    /// The PBX.
    pub sim: SimHandle,
    /// The service's actors and state.
    pub service: Service,
    /// Where the HTTP server listens.
    pub addr: SocketAddr,
    /// The API token, when one is configured.
    pub token: Option<String>,
    server: actix_web::dev::ServerHandle,
    _db: tempfile::TempDir,
}

impl TestService {
    /// Default options: 50 extensions, no traffic, no token.
    pub async fn start() -> Self {
        Self::with(Options::default()).await
    }

    /// Starts with `opts`.
    pub async fn with(opts: Options) -> Self {
        let sim = Simulator::spawn(
            "127.0.0.1:0".parse().expect("loopback address"),
            opts.sim.clone(),
        )
        .expect("simulator starts");
        Self::with_sim(sim, opts).await
    }

    /// Starts the service against an already running simulator.
    pub async fn with_sim(sim: SimHandle, opts: Options) -> Self {
        let db = tempfile::tempdir().expect("temp dir");
        let mut env: HashMap<&'static str, String> = HashMap::from([
            ("AMI_HOST", "127.0.0.1".to_string()),
            ("AMI_PORT", sim.addr().port().to_string()),
            ("AMI_USERNAME", opts.sim.username.clone()),
            ("AMI_SECRET", opts.sim.secret.clone()),
            (
                "DATABASE_URL",
                format!("sqlite://{}", db.path().join("test.db").display()),
            ),
            ("HTTP_BIND", "127.0.0.1:0".to_string()),
            // A journal stays in the test's directory whatever DATABASE_URL a
            // test sets (PostgreSQL's default is the working directory).
            ("JOURNAL_DIR", db.path().display().to_string()),
            ("AMI_CONNECT_TIMEOUT_MS", "1000".to_string()),
            ("AMI_LOGIN_TIMEOUT_MS", "2000".to_string()),
            ("AMI_BACKOFF_MIN_MS", "50".to_string()),
            ("AMI_BACKOFF_MAX_MS", "200".to_string()),
        ]);
        env.extend(opts.env.clone());
        let token = env.get("API_TOKEN").cloned();
        let config = Config::from_lookup(|k| env.get(k).cloned()).expect("valid test config");
        let service = app::start(config).await.expect("service starts");
        let http = app::http_server(
            service.state.clone(),
            HttpSettings {
                bind: "127.0.0.1:0".parse().expect("loopback address"),
                workers: opts.http_workers,
                shutdown_timeout: 1,
            },
        )
        .expect("bind an ephemeral port");
        let addr = http.addrs[0];
        let handle = http.server.handle();
        actix_rt::spawn(http.server);
        let ts = Self {
            sim,
            service,
            addr,
            token,
            server: handle,
            _db: db,
        };
        if opts.wait_ready {
            let n = opts.sim.extensions as usize;
            // Named too: the names read after login republish every extension, which
            // would otherwise land in the middle of what a test is counting.
            wait_until(
                "the AMI connection and every extension, named",
                DEADLINE,
                || async {
                    let h = ts.get("/api/health").await.1;
                    let ext = ts.get("/api/extensions").await.1;
                    let named = ext["data"]
                        .as_array()
                        .is_some_and(|l| l.iter().all(|e| e["name"].is_string()));
                    h["data"]["ami"]["state"] == "connected"
                        && ext["count"].as_u64() == Some(n as u64)
                        && named
                },
            )
            .await;
        }
        ts
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// `ws://127.0.0.1:PORT{path}`.
    pub fn ws_url(&self, path: &str) -> String {
        format!("ws://{}{}", self.addr, path)
    }

    /// A client with generous timeouts.
    pub fn client(&self) -> awc::Client {
        awc::Client::builder()
            .timeout(Duration::from_secs(30))
            .finish()
    }

    /// A client that sends the configured token.
    pub fn authed(&self) -> awc::Client {
        let mut b = awc::Client::builder().timeout(Duration::from_secs(30));
        if let Some(t) = &self.token {
            b = b.bearer_auth(t);
        }
        b.finish()
    }

    /// GET `path` with the token (when configured): status and JSON body (`Null` when not JSON).
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let (status, body) = answer(self.authed().get(self.url(path)), "GET").await;
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }

    /// GET `path` as text (for /metrics).
    pub async fn get_text(&self, path: &str) -> (u16, String) {
        let (status, body) = answer(self.client().get(self.url(path)), "GET").await;
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    /// POST `path` with the token (when configured) and an empty body.
    pub async fn post(&self, path: &str) -> (u16, Value) {
        let (status, body) = answer(self.authed().post(self.url(path)), "POST").await;
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }

    /// The live extension `exten` as the API shows it.
    pub async fn extension(&self, exten: &str) -> Value {
        self.get(&format!("/api/extensions/{exten}")).await.1["data"].clone()
    }

    /// Waits until the API shows `exten` with hint status `status`.
    pub async fn wait_extension_status(&self, exten: &str, status: i64) {
        wait_until(
            &format!("extension {exten} at status {status}"),
            DEADLINE,
            || async { self.extension(exten).await["status"].as_i64() == Some(status) },
        )
        .await;
    }

    /// The hub's current sequence number.
    pub async fn hub_seq(&self) -> u64 {
        self.get("/api/health").await.1["data"]["websocket"]["seq"]
            .as_u64()
            .unwrap_or(0)
    }

    /// One value of a counter or gauge on `/metrics` (sum over its labels), 0 when absent.
    pub async fn metric(&self, name: &str) -> f64 {
        let text = self.get_text("/metrics").await.1;
        metric_value(&text, name)
    }

    /// Opens a WebSocket at `path` (token added as a header when configured).
    pub async fn ws(&self, path: &str) -> WsClient {
        let mut req = self.client().ws(self.ws_url(path)).max_frame_size(64 << 20);
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        let (_, framed) = req.connect().await.expect("websocket upgrade");
        WsClient { framed }
    }

    /// Stops the HTTP server, the service and the simulator.
    pub async fn stop(self) {
        self.service.shutdown().await;
        self.server.stop(false).await;
        self.sim.stop();
    }
}

/// Sum of every sample of metric `name` in a Prometheus text page.
pub fn metric_value(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (key, value) = l.rsplit_once(' ')?;
            let base = key.split('{').next()?;
            (base == name).then(|| value.parse::<f64>().ok()).flatten()
        })
        .sum()
}

/// A WebSocket client of the tests.
pub struct WsClient {
    framed: actix_codec::Framed<BoxedSocket, Codec>,
}

/// What the server sent next.
#[derive(Debug)]
pub enum WsEvent {
    /// A JSON text message.
    Json(Value),
    /// A close frame: code and reason.
    Closed(
        Option<u16>,
        // Read only through `Debug`, in the failure messages that show it.
        #[allow(dead_code)] String,
    ),
    /// The connection ended without a close frame.
    Ended,
}

impl WsClient {
    /// Opens a WebSocket at a full `ws://` URL (a service this process did not start,
    /// such as the real binary).
    pub async fn connect(url: &str) -> Self {
        let client = awc::Client::builder()
            .timeout(Duration::from_secs(30))
            .finish();
        let (_, framed) = client
            .ws(url)
            .max_frame_size(64 << 20)
            .connect()
            .await
            .expect("websocket upgrade");
        Self { framed }
    }

    /// The next message or close (pings are answered and skipped); `None` after `limit`.
    pub async fn next_within(&mut self, limit: Duration) -> Option<WsEvent> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let frame = match tokio::time::timeout_at(deadline, self.framed.next()).await {
                Err(_) => return None,
                Ok(None) | Ok(Some(Err(_))) => return Some(WsEvent::Ended),
                Ok(Some(Ok(f))) => f,
            };
            match frame {
                Frame::Text(b) => {
                    return Some(WsEvent::Json(
                        serde_json::from_slice(&b).expect("server sends JSON"),
                    ))
                }
                Frame::Close(reason) => {
                    return Some(WsEvent::Closed(
                        reason.as_ref().map(|r| u16::from(r.code)),
                        reason.and_then(|r| r.description).unwrap_or_default(),
                    ))
                }
                Frame::Ping(p) => {
                    let _ = self.framed.send(Message::Pong(p)).await;
                }
                _ => {}
            }
        }
    }

    /// The next JSON message; fails the test on close or after [`DEADLINE`].
    pub async fn next_json(&mut self) -> Value {
        match self.next_within(DEADLINE).await {
            Some(WsEvent::Json(v)) => v,
            other => panic!("expected a JSON message, got {other:?}"),
        }
    }

    /// Messages until one satisfies `pred` (returned with everything before it).
    pub async fn until(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_within(left).await {
                Some(WsEvent::Json(v)) => {
                    let done = pred(&v);
                    seen.push(v);
                    if done {
                        return seen;
                    }
                }
                other => panic!(
                    "waiting for {what}: got {other:?} after {} messages",
                    seen.len()
                ),
            }
        }
    }

    /// Sends a JSON text message.
    pub async fn send_json(&mut self, v: &Value) {
        self.framed
            .send(Message::Text(v.to_string().into()))
            .await
            .expect("websocket send");
    }

    /// Closes politely.
    pub async fn close(mut self) {
        let _ = self.framed.send(Message::Close(None)).await;
    }
}

/// Log lines captured in this test process (see [`capture_logs`]).
static LOGS: OnceLock<Mutex<Vec<String>>> = OnceLock::new();

/// Keeps every level of the service's own lines and the dependencies' lines at
/// `info` and above (the access log among them): every test of the binary logs
/// into it once one test installed it, and the dependencies' debug chatter from
/// all of them would only load the machine the other tests run on.
struct Capture;

impl log::Log for Capture {
    fn enabled(&self, meta: &log::Metadata<'_>) -> bool {
        meta.level() <= log::Level::Info || meta.target().starts_with("switchboard")
    }
    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        if let Some(logs) = LOGS.get() {
            let line = format!("{} {}: {}", record.level(), record.target(), record.args());
            logs.lock().unwrap_or_else(|p| p.into_inner()).push(line);
        }
    }
    fn flush(&self) {}
}

/// Installs the capturing logger (see [`Capture`] for what it keeps); call before starting services.
pub fn capture_logs() {
    if LOGS.set(Mutex::new(Vec::new())).is_ok() {
        let _ = log::set_boxed_logger(Box::new(Capture));
        log::set_max_level(log::LevelFilter::Trace);
    }
}

/// Every captured line so far.
pub fn captured_logs() -> Vec<String> {
    LOGS.get()
        .map(|l| l.lock().unwrap_or_else(|p| p.into_inner()).clone())
        .unwrap_or_default()
}

/// Sends `req` (no body) and reads the whole answer: status and body bytes.
async fn answer(req: awc::ClientRequest, method: &str) -> (u16, bytes::Bytes) {
    let mut res = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("{method} answered: {e}"));
    let body = res.body().limit(64 << 20).await.expect("body read");
    (res.status().as_u16(), body)
}
