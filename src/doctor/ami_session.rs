//! One short AMI session for the doctor, over a blocking socket with deadlines:
//! connect, read the banner, log in as `serve` would (plain or MD5), ask the
//! actions the service relies on one at a time, listen to the events for a while,
//! log off. It records what the PBX said ([`Transcript`]); judging it is
//! `pbx_checks.rs`'s job. The secret never leaves this file except as the login
//! (or, with MD5, only its hash).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use tokio_util::codec::Decoder;

use crate::ami::{Action, AmiCodec, AuthMethod, Event, Frame, Limits, RawMessage};
use crate::config::PbxConfig;

/// The actions the service needs answered, in the order they are asked.
pub const ASKED: [&str; 5] = [
    "ExtensionStateList",
    "CoreShowChannels",
    "QueueStatus",
    "PJSIPShowEndpoint",
    "Filter",
];

/// Deadlines of one session.
#[derive(Debug, Clone, Copy)]
pub struct SessionLimits {
    /// TCP connect limit (`AMI_CONNECT_TIMEOUT_MS`).
    pub connect: Duration,
    /// Banner and login limit (`AMI_LOGIN_TIMEOUT_MS`).
    pub login: Duration,
    /// How long one action's answer may take.
    pub answer: Duration,
    /// How long to listen to events after the actions.
    pub listen: Duration,
    /// The codec's limits (`AMI_MAX_*`).
    pub frames: Limits,
}

/// How the login went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Login {
    /// Not tried: no connection or no banner.
    NotTried,
    /// `Authentication accepted`.
    Accepted,
    /// The PBX refused it (its message).
    Refused(String),
    /// The PBX did not give an MD5 challenge (its message).
    ChallengeRefused(String),
    /// No answer in time, or the connection closed.
    NoAnswer(String),
}

/// One action's answer.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// `Response: Success`, with the list items when it started an event list.
    Success(Vec<RawMessage>),
    /// `Response: Error` and its message (`Permission denied`, …).
    Error(String),
    /// No answer in time, or the connection closed.
    NoAnswer,
}

/// Everything the PBX said in the session.
#[derive(Debug, Clone)]
pub struct Transcript {
    /// `host:port` as configured.
    pub address: String,
    /// The TCP connection (the error when it failed).
    pub connected: Result<(), String>,
    /// The banner line.
    pub banner: Option<String>,
    /// The login.
    pub login: Login,
    /// Each asked action ([`ASKED`]) with its answer.
    pub answers: Vec<(&'static str, Outcome)>,
    /// Events that were not answers to our actions, as they arrived (FullyBooted included).
    pub events: Vec<Event>,
    /// How long events were listened to.
    pub listened: Duration,
}

impl Transcript {
    /// The answer to `action` (one of [`ASKED`]).
    pub fn answer(&self, action: &str) -> Option<&Outcome> {
        self.answers
            .iter()
            .find(|(a, _)| *a == action)
            .map(|(_, o)| o)
    }
}

/// A socket with the codec over it.
struct Link {
    stream: TcpStream,
    codec: AmiCodec,
    buf: BytesMut,
    next_id: u64,
}

impl Link {
    /// The next frame before `deadline`; `Ok(None)` when the deadline passed.
    fn next_frame(&mut self, deadline: Instant) -> std::io::Result<Option<Frame>> {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            if let Some(frame) = self.codec.decode(&mut self.buf)? {
                return Ok(Some(frame));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            self.stream.set_read_timeout(Some(left))?;
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the PBX closed the connection",
                    ))
                }
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Sends `action` with a fresh ActionID and returns that id.
    fn send(&mut self, action: Action) -> std::io::Result<String> {
        self.next_id += 1;
        let id = format!("doctor-{}", self.next_id);
        let mut out = BytesMut::new();
        action
            .with_id(id.clone())
            .encode_into(&mut out)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))?;
        self.stream.write_all(&out)?;
        Ok(id)
    }

    /// Sends `action` and reads until its answer (and its list) is complete;
    /// other events read meanwhile go to `events`.
    fn ask(&mut self, action: Action, within: Duration, events: &mut Vec<Event>) -> Outcome {
        let Ok(id) = self.send(action) else {
            return Outcome::NoAnswer;
        };
        let deadline = Instant::now() + within;
        let mut items: Option<Vec<RawMessage>> = None;
        loop {
            let message = match self.next_frame(deadline) {
                Ok(Some(Frame::Message(m))) => m,
                Ok(Some(_)) => continue,
                Ok(None) | Err(_) => return Outcome::NoAnswer,
            };
            let ours = message.get("ActionID") == Some(id.as_str());
            let is_event = message
                .field(0)
                .is_some_and(|(k, _)| k.eq_ignore_ascii_case("Event"));
            if !ours {
                if is_event {
                    events.push(Event::from_raw(message));
                }
                continue;
            }
            if is_event {
                let complete = message
                    .get("EventList")
                    .is_some_and(|v| v.eq_ignore_ascii_case("Complete"));
                let list = items.get_or_insert_with(Vec::new);
                if complete {
                    return Outcome::Success(std::mem::take(list));
                }
                list.push(message);
                continue;
            }
            let success = message
                .get("Response")
                .is_some_and(|v| v.eq_ignore_ascii_case("Success"));
            if !success {
                return Outcome::Error(message.get("Message").unwrap_or("").to_string());
            }
            let starts_list = message
                .get("EventList")
                .is_some_and(|v| v.eq_ignore_ascii_case("start"));
            if !starts_list {
                return Outcome::Success(vec![message]);
            }
            items.get_or_insert_with(Vec::new);
        }
    }
}

/// Connects to the first address `host:port` resolves to that answers in time.
fn connect(host: &str, port: u16, within: Duration) -> Result<TcpStream, String> {
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("{host} does not resolve: {e}"))?
        .collect();
    let mut last = format!("{host} resolves to no address");
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, within) {
            Ok(s) => return Ok(s),
            Err(e) => last = format!("{addr}: {e}"),
        }
    }
    Err(last)
}

/// Logs in as `pbx` says (plain, or the MD5 challenge).
fn log_in(link: &mut Link, pbx: &PbxConfig, within: Duration, events: &mut Vec<Event>) -> Login {
    let secret = pbx.secret.expose();
    let login = match pbx.auth {
        AuthMethod::Plain => Action::login(&pbx.username, secret),
        AuthMethod::Md5 => match link.ask(Action::challenge(), within, events) {
            Outcome::Success(reply) => match reply.first().and_then(|r| r.get("Challenge")) {
                Some(challenge) => Action::login_md5(&pbx.username, secret, challenge),
                None => return Login::ChallengeRefused("no Challenge in the answer".into()),
            },
            Outcome::Error(message) => return Login::ChallengeRefused(message),
            Outcome::NoAnswer => return Login::NoAnswer("no answer to Challenge".into()),
        },
    };
    match link.ask(login, within, events) {
        Outcome::Success(_) => Login::Accepted,
        Outcome::Error(message) => Login::Refused(message),
        Outcome::NoAnswer => Login::NoAnswer("no answer to Login".into()),
    }
}

/// The action `name` (one of [`ASKED`]) as the doctor asks it. `endpoint` names a
/// PJSIP endpoint for `PJSIPShowEndpoint` (the permission is checked before the
/// name, so any name tells whether the user may ask).
fn action(name: &'static str, endpoint: &str) -> Action {
    match name {
        "PJSIPShowEndpoint" => Action::new(name).header("Endpoint", endpoint),
        // An exclude filter for an event that does not exist: allowed or not,
        // it changes nothing this session receives.
        "Filter" => Action::new(name)
            .header("Operation", "Add")
            .header("Filter", "!Event: SwitchboardDoctorProbe"),
        _ => Action::new(name),
    }
}

/// The first PJSIP endpoint a hint names (`PJSIP/1001` → `1001`).
fn first_endpoint(hints: Option<&Outcome>) -> String {
    let Some(Outcome::Success(items)) = hints else {
        return "switchboard-doctor".to_string();
    };
    items
        .iter()
        .filter_map(|i| i.get("Hint"))
        .flat_map(|h| h.split('&'))
        .find_map(|d| d.strip_prefix("PJSIP/"))
        .map_or_else(|| "switchboard-doctor".to_string(), str::to_string)
}

/// Runs the whole session against `pbx`.
pub fn run(pbx: &PbxConfig, limits: SessionLimits) -> Transcript {
    let mut t = Transcript {
        address: format!("{}:{}", pbx.host, pbx.port),
        connected: Ok(()),
        banner: None,
        login: Login::NotTried,
        answers: Vec::new(),
        events: Vec::new(),
        listened: Duration::ZERO,
    };
    let stream = match connect(&pbx.host, pbx.port, limits.connect) {
        Ok(s) => s,
        Err(e) => {
            t.connected = Err(e);
            return t;
        }
    };
    let _ = stream.set_nodelay(true);
    let mut link = Link {
        stream,
        codec: AmiCodec::new(limits.frames),
        buf: BytesMut::with_capacity(64 * 1024),
        next_id: 0,
    };
    match link.next_frame(Instant::now() + limits.login) {
        Ok(Some(Frame::Banner(b))) => t.banner = Some(b.trim().to_string()),
        Ok(Some(_)) | Ok(None) => return t,
        Err(e) => {
            t.connected = Err(format!("closed before the banner: {e}"));
            return t;
        }
    }
    t.login = log_in(&mut link, pbx, limits.login, &mut t.events);
    if t.login != Login::Accepted {
        return t;
    }
    for name in ASKED {
        let endpoint = first_endpoint(t.answer("ExtensionStateList"));
        let outcome = link.ask(action(name, &endpoint), limits.answer, &mut t.events);
        t.answers.push((name, outcome));
    }
    let started = Instant::now();
    let until = started + limits.listen;
    while let Ok(Some(frame)) = link.next_frame(until) {
        if let Frame::Message(m) = frame {
            if m.field(0)
                .is_some_and(|(k, _)| k.eq_ignore_ascii_case("Event"))
            {
                t.events.push(Event::from_raw(m));
            }
        }
    }
    t.listened = started.elapsed();
    let _ = link.send(Action::logoff());
    t
}
