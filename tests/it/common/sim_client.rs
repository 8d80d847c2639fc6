//! A small raw-TCP AMI client for the simulator tests: real sockets, the crate's own
//! codec on the client side, and bounded waits (never a sleep as an assertion).

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use switchboard::ami::{md5_key, AmiCodec, Frame, Limits, RawMessage};
use switchboard::sim::{SimConfig, SimHandle, Simulator};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_util::codec::Framed;

/// How long any single wait may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(5);

/// A simulator on 127.0.0.1 with a free port and no generated traffic.
pub fn quiet_sim() -> SimHandle {
    sim_with(SimConfig {
        rate: 0.0,
        ..SimConfig::default()
    })
}

/// A simulator on 127.0.0.1 with a free port.
pub fn sim_with(cfg: SimConfig) -> SimHandle {
    Simulator::spawn("127.0.0.1:0".parse().unwrap(), cfg).unwrap()
}

/// One AMI connection.
pub struct Client {
    framed: Framed<TcpStream, AmiCodec>,
    /// The banner line.
    pub banner: String,
    n: u64,
    /// Events received while waiting for replies.
    pub events: Vec<RawMessage>,
}

impl Client {
    /// Connects and reads the banner.
    pub async fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).await.unwrap();
        let mut framed = Framed::new(stream, AmiCodec::new(Limits::default()));
        let banner = match timeout(DEADLINE, framed.next()).await.unwrap() {
            Some(Ok(Frame::Banner(b))) => b.to_string(),
            other => panic!("expected a banner, got {other:?}"),
        };
        Client {
            framed,
            banner,
            n: 0,
            events: Vec::new(),
        }
    }

    /// Sends an action with a fresh ActionID; returns the id.
    pub async fn send(&mut self, action: &str, headers: &[(&str, &str)]) -> String {
        self.n += 1;
        let id = format!("t-{}", self.n);
        let mut text = format!("Action: {action}\r\nActionID: {id}\r\n");
        for (k, v) in headers {
            text.push_str(&format!("{k}: {v}\r\n"));
        }
        text.push_str("\r\n");
        self.framed.send(Bytes::from(text)).await.unwrap();
        id
    }

    /// The next message, or `None` on EOF or after `wait`.
    pub async fn next_within(&mut self, wait: Duration) -> Option<RawMessage> {
        loop {
            match timeout(wait, self.framed.next()).await {
                Ok(Some(Ok(Frame::Message(m)))) => return Some(m),
                Ok(Some(Ok(_))) => continue,
                Ok(Some(Err(_))) | Ok(None) | Err(_) => return None,
            }
        }
    }

    /// The next message; fails the test on EOF or timeout.
    pub async fn next(&mut self) -> RawMessage {
        self.next_within(DEADLINE)
            .await
            .expect("a message before the deadline")
    }

    /// The reply (a `Response`) to `id`; events met on the way are kept in `events`.
    pub async fn reply(&mut self, id: &str) -> RawMessage {
        loop {
            let m = self.next().await;
            if m.get("Response").is_some()
                && m.get("Event").is_none()
                && m.get("ActionID") == Some(id)
            {
                return m;
            }
            self.events.push(m);
        }
    }

    /// Sends an action and waits for its reply.
    pub async fn ask(&mut self, action: &str, headers: &[(&str, &str)]) -> RawMessage {
        let id = self.send(action, headers).await;
        self.reply(&id).await
    }

    /// Sends a list action: its reply, the items and the `...Complete` event.
    pub async fn list(
        &mut self,
        action: &str,
        headers: &[(&str, &str)],
    ) -> (RawMessage, Vec<RawMessage>, RawMessage) {
        let id = self.send(action, headers).await;
        let first = self.reply(&id).await;
        let mut items = Vec::new();
        loop {
            let m = self.next().await;
            if m.get("ActionID") != Some(id.as_str()) {
                self.events.push(m);
                continue;
            }
            if m.get("EventList") == Some("Complete") {
                return (first, items, m);
            }
            items.push(m);
        }
    }

    /// Plain login; returns the reply.
    pub async fn login(&mut self, user: &str, secret: &str) -> RawMessage {
        self.ask("Login", &[("Username", user), ("Secret", secret)])
            .await
    }

    /// MD5 challenge login; returns the reply.
    pub async fn login_md5(&mut self, user: &str, secret: &str) -> RawMessage {
        let r = self.ask("Challenge", &[("AuthType", "MD5")]).await;
        let challenge = r.get("Challenge").expect("a challenge").to_string();
        let key = md5_key(&challenge, secret);
        self.ask(
            "Login",
            &[("AuthType", "MD5"), ("Username", user), ("Key", &key)],
        )
        .await
    }

    /// The first event (kept or new) named `name` that satisfies `pred`.
    pub async fn wait_event(
        &mut self,
        name: &str,
        pred: impl Fn(&RawMessage) -> bool,
    ) -> RawMessage {
        if let Some(i) = self
            .events
            .iter()
            .position(|m| m.get("Event") == Some(name) && pred(m))
        {
            return self.events.remove(i);
        }
        loop {
            let m = self.next().await;
            if m.get("Event") == Some(name) && pred(&m) {
                return m;
            }
            self.events.push(m);
        }
    }

    /// True when the server closes the connection before the deadline.
    pub async fn sees_eof(&mut self) -> bool {
        let end = tokio::time::Instant::now() + DEADLINE;
        loop {
            let left = end.saturating_duration_since(tokio::time::Instant::now());
            match timeout(left, self.framed.next()).await {
                Ok(None) | Ok(Some(Err(_))) => return true,
                Ok(Some(Ok(_))) => continue,
                Err(_) => return false,
            }
        }
    }
}
