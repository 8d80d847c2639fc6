//! Connecting and logging in to an AMI server, as one async step.
//!
//! Used by the long-lived [`super::connection::ConnectionActor`] and by every
//! short-lived refresh session: connect with a timeout, read the banner, log in with
//! an MD5 challenge (the secret never crosses the wire) or in plain text, and hand
//! back the framed socket with whatever the server already sent still buffered.

use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_util::codec::Framed;

use crate::ami::{
    Action, ActionIds, AmiCodec, AmiError, AmiMessage, AuthMethod, Frame, Limits, Response,
};
use crate::secret::Secret;

/// Where an AMI server is and how to log in to it.
#[derive(Debug, Clone)]
pub struct AmiEndpoint {
    /// The PBX's name (logs, state).
    pub pbx: String,
    /// Host name or address.
    pub host: String,
    /// TCP port (5038 by default on Asterisk).
    pub port: u16,
    /// AMI user.
    pub username: String,
    /// AMI secret (never logged).
    pub secret: Secret,
    /// Login method.
    pub auth: AuthMethod,
    /// Limit on connecting.
    pub connect_timeout: Duration,
    /// Limit on banner + login.
    pub login_timeout: Duration,
    /// Decoder limits.
    pub limits: Limits,
}

impl AmiEndpoint {
    /// `host:port` for logs and errors.
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// A logged-in AMI connection.
#[derive(Debug)]
pub struct LoggedIn {
    /// The socket with its codec; frames already received stay in its buffer.
    pub framed: Framed<TcpStream, AmiCodec>,
    /// The server's banner line.
    pub banner: String,
    /// Connect-to-logged-in time.
    pub elapsed: Duration,
}

/// Connects to `ep` and logs in, using ActionIDs from `ids`.
pub async fn connect_and_login(
    ep: &AmiEndpoint,
    ids: &mut ActionIds,
) -> Result<LoggedIn, AmiError> {
    let started = Instant::now();
    let stream = tokio::time::timeout(
        ep.connect_timeout,
        TcpStream::connect((ep.host.as_str(), ep.port)),
    )
    .await
    .map_err(|_| AmiError::Timeout(ep.connect_timeout, "connecting"))??;
    // AMI messages are small; Nagle would add tens of milliseconds to each action.
    stream.set_nodelay(true)?;
    let mut framed = Framed::new(stream, AmiCodec::new(ep.limits));
    let banner = tokio::time::timeout(ep.login_timeout, async {
        let banner = read_banner(&mut framed).await?;
        login(&mut framed, ep, ids).await?;
        Ok::<_, AmiError>(banner)
    })
    .await
    .map_err(|_| AmiError::Timeout(ep.login_timeout, "logging in"))??;
    Ok(LoggedIn {
        framed,
        banner,
        elapsed: started.elapsed(),
    })
}

async fn read_banner(framed: &mut Framed<TcpStream, AmiCodec>) -> Result<String, AmiError> {
    match framed.next().await {
        Some(Ok(Frame::Banner(b))) => Ok(b.to_string()),
        Some(Ok(other)) => Err(AmiError::Protocol(format!(
            "expected the AMI banner, got {}",
            describe(&other)
        ))),
        Some(Err(e)) => Err(e.into()),
        None => Err(AmiError::Closed("reading the banner")),
    }
}

fn describe(frame: &Frame) -> String {
    match frame {
        Frame::Banner(b) => format!("banner {b:?}"),
        Frame::Message(m) => format!("a message starting {:?}", m.field(0).unwrap_or(("", ""))),
        Frame::Malformed(e) => format!("malformed input ({e})"),
        Frame::Skipped(name) => format!("a skipped {name} event"),
    }
}

async fn login(
    framed: &mut Framed<TcpStream, AmiCodec>,
    ep: &AmiEndpoint,
    ids: &mut ActionIds,
) -> Result<(), AmiError> {
    let action = match ep.auth {
        AuthMethod::Plain => Action::login(&ep.username, ep.secret.expose()),
        AuthMethod::Md5 => {
            let reply = request(framed, Action::challenge(), ids).await?;
            let challenge = match (reply.is_success(), reply.get("Challenge")) {
                (true, Some(c)) if !c.is_empty() => c.to_string(),
                _ => {
                    return Err(AmiError::LoginRefused(format!(
                        "MD5 challenge refused: {}",
                        reply.message().unwrap_or("no message")
                    )))
                }
            };
            Action::login_md5(&ep.username, ep.secret.expose(), &challenge)
        }
    };
    let reply = request(framed, action, ids).await?;
    if reply.is_success() {
        Ok(())
    } else {
        Err(AmiError::LoginRefused(
            reply.message().unwrap_or("no message").to_string(),
        ))
    }
}

/// Sends one action and waits for its reply, skipping anything else (nothing else
/// is expected before login).
async fn request(
    framed: &mut Framed<TcpStream, AmiCodec>,
    action: Action,
    ids: &mut ActionIds,
) -> Result<Response, AmiError> {
    let id = ids.next_id();
    let action = action.with_id(id.clone());
    framed.send(&action).await?;
    loop {
        let frame = match framed.next().await {
            Some(frame) => frame?,
            None => return Err(AmiError::Closed("waiting for a login reply")),
        };
        if let Frame::Message(raw) = frame {
            if let Ok(AmiMessage::Response(r)) = AmiMessage::classify(raw) {
                if r.action_id() == Some(id.as_str()) {
                    return Ok(r);
                }
            }
        }
    }
}

/// Sends `Logoff` and waits briefly for `Goodbye`; errors are ignored (we are leaving).
pub async fn logoff(framed: &mut Framed<TcpStream, AmiCodec>, ids: &mut ActionIds) {
    let _ = tokio::time::timeout(Duration::from_millis(500), async {
        request(framed, Action::logoff(), ids).await
    })
    .await;
}
