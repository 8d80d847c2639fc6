//! Raw HTTP and WebSocket over a plain TCP socket, for requests and frames that a
//! well-behaved client library refuses to send: dot segments and NUL in paths,
//! invalid UTF-8 in the request line, a `Content-Length` that lies, unmasked or
//! reserved-bit frames, a frame header announcing a gigabyte.
//!
//! Every read has a deadline; nothing here loops without a bound.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long a raw read may wait.
pub const READ_LIMIT: Duration = Duration::from_secs(10);

/// A parsed HTTP response.
#[derive(Debug)]
pub struct RawResponse {
    /// Status code (0 when the server closed without a status line).
    pub status: u16,
    /// Header block, lower-cased.
    pub head: String,
    /// Body bytes (as far as they came before the deadline or the close).
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The body as JSON, `Null` when it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// Sends `request` as is and reads the response (the request should say
/// `Connection: close`, or the response must carry a `Content-Length`).
pub async fn request(addr: SocketAddr, request: &[u8]) -> RawResponse {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    // The server may answer (and close) before the whole request is written.
    let _ = s.write_all(request).await;
    read_response(&mut s).await
}

/// Reads one response from `s`: head, then the body by its `Content-Length`, or to EOF.
pub async fn read_response(s: &mut TcpStream) -> RawResponse {
    let mut buf = Vec::new();
    let deadline = tokio::time::Instant::now() + READ_LIMIT;
    let mut chunk = vec![0u8; 64 * 1024];
    let mut head_end = None;
    loop {
        if head_end.is_none() {
            head_end = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4);
        }
        if let Some(h) = head_end {
            let head = String::from_utf8_lossy(&buf[..h]).to_ascii_lowercase();
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok());
            if len.is_some_and(|n| buf.len() >= h + n) {
                break;
            }
        }
        match tokio::time::timeout_at(deadline, s.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let h = head_end.unwrap_or(buf.len());
    let head = String::from_utf8_lossy(&buf[..h]).to_ascii_lowercase();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut body = buf[h..].to_vec();
    if let Some(n) = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
    {
        body.truncate(n);
    }
    RawResponse { status, head, body }
}

/// A WebSocket client on a raw socket.
pub struct RawWs {
    stream: TcpStream,
    buf: Vec<u8>,
}

/// The upgrade request for `path`, with extra header lines (each ending in CRLF).
pub fn upgrade_request(path: &str, extra: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}

/// What the server sent.
#[derive(Debug, PartialEq, Eq)]
pub enum ServerFrame {
    /// A text frame.
    Text(String),
    /// A close frame with its code.
    Close(Option<u16>),
    /// Anything else (ping, pong, binary).
    Other(u8),
}

impl RawWs {
    /// Upgrades on `path`; `Err` carries the response when the server refused.
    pub async fn connect(addr: SocketAddr, path: &str, extra: &str) -> Result<Self, RawResponse> {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        stream
            .write_all(upgrade_request(path, extra).as_bytes())
            .await
            .expect("write upgrade");
        let mut buf = Vec::new();
        let mut chunk = vec![0u8; 16 * 1024];
        let deadline = tokio::time::Instant::now() + READ_LIMIT;
        let end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
                Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
                _ => panic!("no answer to the upgrade"),
            }
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
        if !head.starts_with("http/1.1 101") {
            // Read the rest of the error body.
            let mut rest = buf[end..].to_vec();
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            while rest.len() < len {
                match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
                    Ok(Ok(n)) if n > 0 => rest.extend_from_slice(&chunk[..n]),
                    _ => break,
                }
            }
            let status = head
                .split_whitespace()
                .nth(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            return Err(RawResponse {
                status,
                head,
                body: rest,
            });
        }
        Ok(Self {
            stream,
            buf: buf[end..].to_vec(),
        })
    }

    /// Writes raw bytes (a crafted frame or part of one).
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        let _ = self.stream.write_all(bytes).await;
    }

    /// The next frame from the server, `None` after `limit` or at EOF.
    pub async fn next_frame(&mut self, limit: Duration) -> Option<ServerFrame> {
        let deadline = tokio::time::Instant::now() + limit;
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            if let Some((frame, used)) = parse_server_frame(&self.buf) {
                self.buf.drain(..used);
                return Some(frame);
            }
            match tokio::time::timeout_at(deadline, self.stream.read(&mut chunk)).await {
                Ok(Ok(n)) if n > 0 => self.buf.extend_from_slice(&chunk[..n]),
                _ => return None,
            }
        }
    }

    /// Skips text and control frames until a close; its code, `None` if none came.
    pub async fn close_code(&mut self, limit: Duration) -> Option<u16> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_frame(left).await? {
                ServerFrame::Close(code) => return code,
                _ => continue,
            }
        }
    }

    /// The next text frame as JSON, skipping control frames.
    pub async fn next_json(&mut self, limit: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_frame(left).await? {
                ServerFrame::Text(t) => return serde_json::from_str(&t).ok(),
                ServerFrame::Close(_) => return None,
                ServerFrame::Other(_) => continue,
            }
        }
    }
}

fn parse_server_frame(buf: &[u8]) -> Option<(ServerFrame, usize)> {
    if buf.len() < 2 {
        return None;
    }
    let opcode = buf[0] & 0x0f;
    let (len, mut at) = match buf[1] & 0x7f {
        126 => (u16::from_be_bytes([*buf.get(2)?, *buf.get(3)?]) as usize, 4),
        127 => {
            let b: [u8; 8] = buf.get(2..10)?.try_into().ok()?;
            (u64::from_be_bytes(b) as usize, 10)
        }
        n => (n as usize, 2),
    };
    if buf[1] & 0x80 != 0 {
        at += 4; // servers do not mask, but tolerate it
    }
    let payload = buf.get(at..at + len)?;
    let frame = match opcode {
        0x1 => ServerFrame::Text(String::from_utf8_lossy(payload).into_owned()),
        0x8 => ServerFrame::Close(
            (payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]])),
        ),
        other => ServerFrame::Other(other),
    };
    Some((frame, at + len))
}

/// A client frame: `first` is FIN/RSV/opcode, the payload masked when `masked`,
/// with the length written in the shortest form unless `declared` overrides it.
pub fn client_frame(first: u8, payload: &[u8], masked: bool, declared: Option<u64>) -> Vec<u8> {
    let mask = [0x12u8, 0x34, 0x56, 0x78];
    let len = declared.unwrap_or(payload.len() as u64);
    let mut out = vec![first];
    let m = if masked { 0x80 } else { 0 };
    if len < 126 {
        out.push(m | len as u8);
    } else if len <= u64::from(u16::MAX) {
        out.push(m | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(m | 127);
        out.extend_from_slice(&len.to_be_bytes());
    }
    if masked {
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    } else {
        out.extend_from_slice(payload);
    }
    out
}
