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
//!
//! The queue is bounded in bytes as well as in frames: a frame count alone let one
//! client that never read hold a thousand full snapshots (hundreds of megabytes).
//! The bytes of the frames waiting for the socket are counted on both sides of the
//! channel ([`Outbox::queued_bytes`]), and the body also counts the frames it has
//! handed to the connection, so a session can wait for one particular frame (a
//! snapshot, a close) to have left.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use actix_http::ws::{Codec, Frame, Message, ProtocolError};
use actix_web::{web, HttpRequest, HttpResponse};
use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};
use tokio::sync::{mpsc, Notify};
use tokio_util::codec::{Decoder, Encoder};

/// Largest frame accepted from a client (filters and resume requests are tiny).
pub const MAX_CLIENT_FRAME: usize = 64 * 1024;

/// Places of the queue kept for control frames (close, ping, pong): data messages
/// never take them, so a client that is dropped for being slow still finds the
/// close frame with its reason after what was already queued.
const CONTROL_RESERVE: usize = 3;

/// What the session and the response body of one client share: the bytes waiting
/// in the queue, the frames handed to the connection, and the wake-ups a session
/// waiting for room (or for one frame to leave) asked for.
#[derive(Debug)]
struct Shared {
    /// Bytes of the frames in the queue (taken by the body but not yet handed on
    /// included).
    bytes: AtomicUsize,
    /// Frames handed to the connection so far.
    sent: AtomicU64,
    /// Wake `room` once `bytes` is below this (0: nobody waits)...
    room_below: AtomicUsize,
    /// ...or once `sent` reaches this (`u64::MAX`: nobody waits).
    room_at: AtomicU64,
    /// Wake `gone` once `sent` reaches this (`u64::MAX`: nobody waits).
    gone_at: AtomicU64,
    room: Notify,
    gone: Notify,
}

impl Shared {
    /// Called by the body for each frame it hands to the connection.
    fn handed_on(&self, len: usize) {
        let left = self
            .bytes
            .fetch_sub(len, Ordering::SeqCst)
            .saturating_sub(len);
        let sent = self.sent.fetch_add(1, Ordering::SeqCst) + 1;
        if left < self.room_below.load(Ordering::SeqCst)
            || sent >= self.room_at.load(Ordering::SeqCst)
        {
            self.room.notify_one();
        }
        if sent >= self.gone_at.load(Ordering::SeqCst) {
            self.gone.notify_one();
        }
    }

    fn disarm_room(&self) {
        self.room_below.store(0, Ordering::SeqCst);
        self.room_at.store(u64::MAX, Ordering::SeqCst);
    }
}

/// Sends encoded frames to one client without ever waiting.
#[derive(Debug)]
pub struct Outbox {
    tx: mpsc::Sender<Bytes>,
    codec: Codec,
    shared: Arc<Shared>,
    /// Frames queued so far (control frames included): the position of the last one.
    queued: u64,
    /// Bytes of data frames the queue takes (a single larger frame still goes into an
    /// empty queue).
    byte_limit: usize,
}

/// Reads how many bytes wait in one client's queue, from any thread (the admin
/// endpoint).
#[derive(Debug, Clone)]
pub struct QueueMeter(Arc<Shared>);

impl QueueMeter {
    /// Bytes waiting in the queue now.
    pub fn bytes(&self) -> usize {
        self.0.bytes.load(Ordering::Relaxed)
    }
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
        let len = bytes.len();
        // Counted before the send: the body may hand the frame on (and subtract)
        // before `try_send` returns.
        self.shared.bytes.fetch_add(len, Ordering::SeqCst);
        match self.tx.try_send(bytes) {
            Ok(()) => {
                self.queued += 1;
                Ok(())
            }
            Err(e) => {
                self.shared.bytes.fetch_sub(len, Ordering::SeqCst);
                Err(match e {
                    mpsc::error::TrySendError::Full(_) => SendError::Full,
                    mpsc::error::TrySendError::Closed(_) => SendError::Closed,
                })
            }
        }
    }

    /// Queues a text message in the places kept for control frames when the data
    /// places are full: for the error that explains a close, just before the close.
    pub fn urgent_text(&mut self, text: &str) -> Result<(), SendError> {
        self.push(text_frame(text))
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
        if !self.fits(frame.len()) {
            return Err(SendError::Full);
        }
        self.push(frame)
    }

    /// True when a data frame of `len` bytes is within the byte bound now.
    fn fits(&self, len: usize) -> bool {
        let queued = self.queued_bytes();
        queued == 0 || queued.saturating_add(len) <= self.byte_limit
    }

    /// Bytes of the frames waiting for the socket.
    pub fn queued_bytes(&self) -> usize {
        self.shared.bytes.load(Ordering::SeqCst)
    }

    /// The position of the last frame queued (1 for the first); compare with
    /// [`Outbox::sent`] or wait for it with [`Outbox::gone`].
    pub fn last_queued(&self) -> u64 {
        self.queued
    }

    /// Frames handed to the connection so far.
    pub fn sent(&self) -> u64 {
        self.shared.sent.load(Ordering::SeqCst)
    }

    /// Reads the queued bytes from elsewhere.
    pub fn meter(&self) -> QueueMeter {
        QueueMeter(Arc::clone(&self.shared))
    }

    /// Resolves once frame number `position` (see [`Outbox::last_queued`]) has been
    /// handed to the connection — `true` — or the client is gone — `false`. One
    /// waiter at a time.
    pub fn gone(&self, position: u64) -> impl std::future::Future<Output = bool> + 'static {
        let shared = Arc::clone(&self.shared);
        let tx = self.tx.clone();
        async move {
            loop {
                let mut notified = std::pin::pin!(shared.gone.notified());
                notified.as_mut().enable();
                shared.gone_at.store(position, Ordering::SeqCst);
                if shared.sent.load(Ordering::SeqCst) >= position {
                    shared.gone_at.store(u64::MAX, Ordering::SeqCst);
                    return true;
                }
                tokio::select! {
                    _ = notified.as_mut() => {}
                    _ = tx.closed() => return false,
                }
            }
        }
    }

    /// Free places in the queue for data messages.
    pub fn capacity(&self) -> usize {
        self.tx.capacity().saturating_sub(CONTROL_RESERVE)
    }

    /// Resolves once `wanted` data messages (at least one, at most a quarter of the
    /// queue) fit again, and the next one, of `next_len` bytes, fits the byte bound
    /// with half of it free (so a drain moves a good share at once) — `true` — or
    /// the client is gone — `false`. A session with a backlog waits on this instead
    /// of polling the queue on a timer. One waiter at a time.
    ///
    /// It watches the free places rather than reserving them: a pending
    /// `reserve_many` collects places as they free up, and a close frame found the
    /// queue full of places held by the session's own waiter.
    pub fn room(
        &self,
        wanted: usize,
        next_len: usize,
    ) -> impl std::future::Future<Output = bool> + 'static {
        let tx = self.tx.clone();
        let shared = Arc::clone(&self.shared);
        let queue = tx.max_capacity().saturating_sub(CONTROL_RESERVE);
        let n = wanted.clamp(1, (queue / 4).max(1)) + CONTROL_RESERVE;
        // `bytes` below this: the next frame fits (and an empty queue takes any).
        let below = (self.byte_limit / 2)
            .min(self.byte_limit.saturating_sub(next_len).saturating_add(1))
            .max(1);
        async move {
            loop {
                let mut notified = std::pin::pin!(shared.room.notified());
                notified.as_mut().enable();
                let free = tx.capacity();
                let bytes_ok = shared.bytes.load(Ordering::SeqCst) < below;
                if free >= n && bytes_ok {
                    shared.disarm_room();
                    return true;
                }
                // Woken when the bytes fall below the mark, or once enough frames
                // have left to free the missing places (or a little before: the
                // body frees places when it takes frames, hands them on later).
                shared
                    .room_below
                    .store(if bytes_ok { 0 } else { below }, Ordering::SeqCst);
                let missing = n.saturating_sub(free) as u64;
                let at = if missing == 0 {
                    u64::MAX
                } else {
                    shared.sent.load(Ordering::SeqCst) + missing
                };
                shared.room_at.store(at, Ordering::SeqCst);
                // A frame handed on between the check and the arming did not wake us.
                if tx.capacity() >= n && shared.bytes.load(Ordering::SeqCst) < below {
                    shared.disarm_room();
                    return true;
                }
                tokio::select! {
                    _ = notified.as_mut() => {}
                    _ = tx.closed() => return false,
                }
            }
        }
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
/// client frames. `queue` bounds the frames waiting for the socket, `queue_bytes`
/// their bytes (data frames; one larger frame still goes into an empty queue).
pub fn accept(
    req: &HttpRequest,
    payload: web::Payload,
    queue: usize,
    queue_bytes: usize,
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
    let shared = Arc::new(Shared {
        bytes: AtomicUsize::new(0),
        sent: AtomicU64::new(0),
        room_below: AtomicUsize::new(0),
        room_at: AtomicU64::new(u64::MAX),
        gone_at: AtomicU64::new(u64::MAX),
        room: Notify::new(),
        gone: Notify::new(),
    });
    // `taken` holds frames taken but not yet sent, last first (so `pop` sends in order).
    let body = futures::stream::unfold(
        (rx, Vec::with_capacity(BODY_TAKE), Arc::clone(&shared)),
        |(mut rx, mut taken, shared)| async move {
            if taken.is_empty() {
                if rx.recv_many(&mut taken, BODY_TAKE).await == 0 {
                    return None;
                }
                taken.reverse();
            }
            let frame = taken.pop()?;
            shared.handed_on(frame.len());
            Some((Ok::<_, actix_web::Error>(frame), (rx, taken, shared)))
        },
    );
    let outbox = Outbox {
        tx,
        codec: Codec::new(),
        shared,
        queued: 0,
        byte_limit: queue_bytes.max(1),
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
