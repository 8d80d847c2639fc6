//! The WebSocket transport under a session actor: frames in from the request body,
//! frames out through a **bounded** queue into the response body.
//!
//! actix-web-actors' `WebsocketContext` buffers outgoing frames without limit and
//! offers no way to see how far a client has fallen behind, which would let one
//! slow reader grow the server's memory. Here the handshake still comes from
//! actix-web-actors, but outgoing frames go through a `tokio::sync::mpsc` channel of
//! fixed capacity that the response body drains as the socket accepts data, so the
//! session knows exactly when a client lags (the channel is full) and can conflate
//! or drop it.

use actix_http::ws::{Codec, Frame, Message, ProtocolError};
use actix_web::{web, HttpRequest, HttpResponse};
use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};
use tokio::sync::mpsc;
use tokio_util::codec::{Decoder, Encoder};

/// Largest frame accepted from a client (filters and resume requests are tiny).
pub const MAX_CLIENT_FRAME: usize = 64 * 1024;

/// Places of the queue kept for control frames (close, ping, pong): data messages
/// never take them, so a client that is dropped for being slow still finds the
/// close frame with its reason after what was already queued.
const CONTROL_RESERVE: usize = 2;

/// Sends encoded frames to one client without ever waiting.
#[derive(Debug)]
pub struct Outbox {
    tx: mpsc::Sender<Bytes>,
    codec: Codec,
}

/// Why a frame could not be queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// The client is behind: the queue is full.
    Full,
    /// The client is gone.
    Closed,
}

impl Outbox {
    /// Encodes and queues one message.
    pub fn send(&mut self, msg: Message) -> Result<(), SendError> {
        let mut buf = BytesMut::new();
        if self.codec.encode(msg, &mut buf).is_err() {
            return Err(SendError::Closed);
        }
        self.push(buf.freeze())
    }

    fn push(&mut self, bytes: Bytes) -> Result<(), SendError> {
        self.tx.try_send(bytes).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => SendError::Full,
            mpsc::error::TrySendError::Closed(_) => SendError::Closed,
        })
    }

    /// Queues a text message (never into the places kept for control frames).
    pub fn text(&mut self, text: &str) -> Result<(), SendError> {
        self.frame(text_frame(text))
    }

    /// Queues a text frame encoded once for every client (see [`text_frame`]): a
    /// change fanned out to many subscribers is then a reference-count increment per
    /// client, not a copy and an encode.
    pub fn frame(&mut self, frame: Bytes) -> Result<(), SendError> {
        if self.tx.is_closed() {
            return Err(SendError::Closed);
        }
        if self.tx.capacity() <= CONTROL_RESERVE {
            return Err(SendError::Full);
        }
        self.push(frame)
    }

    /// Free places in the queue for data messages.
    pub fn capacity(&self) -> usize {
        self.tx.capacity().saturating_sub(CONTROL_RESERVE)
    }

    /// Resolves once `wanted` data messages (at least one, at most a quarter of the
    /// queue) fit again — `true` — or the client is gone — `false`. A session with a
    /// backlog waits on this instead of polling the queue on a timer.
    pub fn room(&self, wanted: usize) -> impl std::future::Future<Output = bool> + 'static {
        let tx = self.tx.clone();
        let queue = tx.max_capacity().saturating_sub(CONTROL_RESERVE);
        let n = wanted.clamp(1, (queue / 4).max(1)) + CONTROL_RESERVE;
        async move { tx.reserve_many(n).await.is_ok() }
    }
}

/// Encodes `text` as one server-to-client text frame. Server frames are never
/// masked, so the bytes are the same for every client and can be shared.
pub fn text_frame(text: &str) -> Bytes {
    let mut buf = frame_buffer(text.len());
    buf.extend_from_slice(text.as_bytes());
    frame_after_header(buf)
}

/// Room [`frame_buffer`] keeps for the longest frame header (RFC 6455 §5.2: two
/// bytes, plus eight for a 64-bit length).
pub const FRAME_HEADROOM: usize = 10;

/// A buffer to write a text frame's payload into (after [`FRAME_HEADROOM`] bytes
/// kept for its header), for [`frame_after_header`]. Serialising straight into it
/// spares building the payload first and copying it behind a header.
pub fn frame_buffer(capacity: usize) -> Vec<u8> {
    let mut buf = Vec::with_capacity(FRAME_HEADROOM + capacity);
    buf.resize(FRAME_HEADROOM, 0);
    buf
}

/// Writes the header of an unmasked, final text frame just before the payload in
/// `buf` (from [`frame_buffer`]) and returns header and payload, without copying.
pub fn frame_after_header(mut buf: Vec<u8>) -> Bytes {
    let len = buf.len().saturating_sub(FRAME_HEADROOM);
    let mut header = [0u8; FRAME_HEADROOM];
    header[0] = 0x81; // FIN, text
    let n = if len < 126 {
        header[1] = len as u8;
        2
    } else if let Ok(short) = u16::try_from(len) {
        header[1] = 126;
        header[2..4].copy_from_slice(&short.to_be_bytes());
        4
    } else {
        header[1] = 127;
        header[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        10
    };
    let start = FRAME_HEADROOM - n;
    buf[start..FRAME_HEADROOM].copy_from_slice(&header[..n]);
    Bytes::from(buf).slice(start..)
}

/// Most frames the response body takes from the queue at once. Each `recv` gave
/// back its place under the channel's lock; taking what is there in one go gives
/// the places back together. Frames taken wait only for the socket (the body is
/// polled when the connection can write), so the queue bound moves by at most this.
const BODY_TAKE: usize = 64;

/// Accepts the upgrade: returns the response to send, the outbox, and the stream of
/// client frames. `queue` bounds the frames waiting for the socket.
pub fn accept(
    req: &HttpRequest,
    payload: web::Payload,
    queue: usize,
) -> Result<
    (
        HttpResponse,
        Outbox,
        impl Stream<Item = Result<Frame, ProtocolError>>,
    ),
    actix_web::Error,
> {
    let mut response = actix_web_actors::ws::handshake(req)?;
    let (tx, rx) = mpsc::channel::<Bytes>(queue.max(1) + CONTROL_RESERVE);
    // `taken` holds frames taken but not yet sent, last first (so `pop` sends in order).
    let body = futures::stream::unfold(
        (rx, Vec::with_capacity(BODY_TAKE)),
        |(mut rx, mut taken)| async move {
            if taken.is_empty() {
                if rx.recv_many(&mut taken, BODY_TAKE).await == 0 {
                    return None;
                }
                taken.reverse();
            }
            let frame = taken.pop()?;
            Some((Ok::<_, actix_web::Error>(frame), (rx, taken)))
        },
    );
    let outbox = Outbox {
        tx,
        codec: Codec::new(),
    };
    let frames = client_frames(payload);
    Ok((response.streaming(body), outbox, frames))
}

/// Decodes the request body into WebSocket frames (masked, at most [`MAX_CLIENT_FRAME`]).
fn client_frames(payload: web::Payload) -> impl Stream<Item = Result<Frame, ProtocolError>> {
    let codec = Codec::new().max_size(MAX_CLIENT_FRAME);
    futures::stream::unfold(
        (payload, BytesMut::new(), codec, false),
        |(mut payload, mut buf, mut codec, done)| async move {
            if done {
                return None;
            }
            loop {
                // Refuse a frame by the length its header declares, before its payload
                // is buffered (the codec itself checks only once the whole frame is in).
                if declared_len(&buf).is_some_and(|n| n > MAX_CLIENT_FRAME as u64) {
                    return Some((Err(ProtocolError::Overflow), (payload, buf, codec, true)));
                }
                match codec.decode(&mut buf) {
                    Ok(Some(frame)) => return Some((Ok(frame), (payload, buf, codec, false))),
                    Ok(None) => {}
                    Err(e) => return Some((Err(e), (payload, buf, codec, true))),
                }
                match payload.next().await {
                    Some(Ok(chunk)) => buf.extend_from_slice(&chunk),
                    Some(Err(_)) | None => return None,
                }
            }
        },
    )
}

/// The payload length a frame's header declares (RFC 6455 §5.2), once enough of the
/// header is in `buf` to tell.
pub fn declared_len(buf: &[u8]) -> Option<u64> {
    let len = *buf.get(1)? & 0x7f;
    match len {
        126 => {
            let b = buf.get(2..4)?;
            Some(u64::from(u16::from_be_bytes([b[0], b[1]])))
        }
        127 => {
            let b: [u8; 8] = buf.get(2..10)?.try_into().ok()?;
            Some(u64::from_be_bytes(b))
        }
        n => Some(u64::from(n)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_what_the_codec_encodes() {
        for len in [0usize, 1, 125, 126, 127, 65_535, 65_536, 70_000] {
            let text = "x".repeat(len);
            let mut expected = BytesMut::new();
            Codec::new()
                .encode(Message::Text(text.clone().into()), &mut expected)
                .expect("codec encodes");
            assert_eq!(text_frame(&text), expected.freeze(), "{len} bytes");
        }
    }

    #[test]
    fn reads_the_three_length_forms() {
        assert_eq!(declared_len(&[0x81]), None);
        assert_eq!(declared_len(&[0x81, 0x85]), Some(5));
        assert_eq!(declared_len(&[0x81, 0xfe, 0x01]), None);
        assert_eq!(declared_len(&[0x81, 0xfe, 0x01, 0x00]), Some(256));
        let mut long = vec![0x82, 0xff];
        long.extend_from_slice(&(1u64 << 40).to_be_bytes());
        assert_eq!(declared_len(&long), Some(1 << 40));
        assert_eq!(declared_len(&long[..9]), None);
    }
}
