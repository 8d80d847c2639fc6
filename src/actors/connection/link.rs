//! The link: the socket's life — connect, login, standby (fencing) and shutdown —
//! as one [`LinkState`] (backoff is in `retry`, keep-alive in `keepalive`), and the
//! one [`ConnectionActor::teardown`] every failure and close goes through, so a
//! lost socket, a lost lease, a shutdown and a supervisor restart cannot each
//! forget a different piece (the reader, the writer, the actions waiting for a
//! reply).

use std::time::{Duration, Instant};

use actix::io::FramedWrite;
use actix::prelude::*;
use bytes::{Bytes, BytesMut};
use chrono::Utc;
use futures::StreamExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio_util::codec::FramedRead;

use super::protocol::{fail, Pending};
use super::ConnectionActor;
use crate::actors::login::{connect_and_login, LoggedIn};
use crate::actors::messages::{Change, Publish};
use crate::ami::{Action, ActionIds, AmiCodec, AmiError};
use crate::model::AmiConnectionState;

/// How many frames one batch may hold: bounds the latency one batch adds.
const MAX_BATCH: usize = 512;

/// The read buffer's size. tokio-util starts at 8 KiB, and since the events it
/// decodes keep slices of the buffer, each refill is a fresh buffer of the size it
/// started with: under a busy PBX that is one `recv` per ~17 events. 64 KiB (the
/// most `bytes` remembers as a buffer's original size) reads ~8 times as much per
/// call and lets a batch gather more events.
const READ_BUFFER: usize = 64 * 1024;

/// A read buffer of [`READ_BUFFER`] bytes holding what the login left unread.
fn read_buffer(left: &[u8]) -> BytesMut {
    let mut buf = BytesMut::with_capacity(READ_BUFFER.max(left.len()));
    buf.extend_from_slice(left);
    buf
}

/// An open, logged-in socket.
pub(super) struct Socket {
    /// The read loop (a stream of gated reads on the actor's context).
    reader: SpawnHandle,
    /// The write half; actions are queued here.
    pub(super) writer: FramedWrite<Bytes, OwnedWriteHalf, AmiCodec>,
    /// A keep-alive Ping is waiting for its reply (no second one is sent meanwhile).
    pub(super) ping_outstanding: bool,
}

impl Socket {
    /// Stops reading at once and closes the write half (after what is queued).
    fn close(mut self, ctx: &mut Context<ConnectionActor>) {
        ctx.cancel_future(self.reader);
        self.writer.close();
    }
}

/// Where the connection's socket is in its life.
pub(super) enum LinkState {
    /// Not started yet, or just restarted by its supervisor: no socket, nothing due.
    Idle,
    /// Cluster mode: another instance holds this PBX, so no socket at all.
    Standby,
    /// Connecting and logging in; the attempt numbered `epoch` (a result from an
    /// older attempt, or one that ends after standby or shutdown, is dropped).
    Connecting { epoch: u64 },
    /// Logged in and reading.
    LoggedIn(Socket),
    /// The socket was lost or unreachable; `retry` reconnects.
    BackingOff { retry: SpawnHandle },
    /// The PBX refused the login; `retry` tries again (on the slower schedule).
    LoginRefused { retry: SpawnHandle },
    /// The service is stopping: never connect again (not after the PBX closes the
    /// socket on our Logoff, not after a supervisor restart). The socket stays
    /// until the Logoff is answered.
    Stopping { socket: Option<Socket> },
}

/// Why the socket goes away; decides what comes next.
pub(super) enum Teardown {
    /// Read or write failed, the PBX closed or froze: reconnect with backoff
    /// (unless stopping).
    Lost(String),
    /// The graceful shutdown's Logoff was answered or timed out.
    Stopped,
    /// Cluster mode: the lease went elsewhere; Logoff, close, stand by.
    Fenced,
    /// The supervisor restarts the actor; `started` decides what comes next.
    Restarted,
}

impl ConnectionActor {
    /// The open socket, logged in or finishing its Logoff.
    pub(super) fn socket_mut(&mut self) -> Option<&mut Socket> {
        match &mut self.state {
            LinkState::LoggedIn(s) => Some(s),
            LinkState::Stopping { socket } => socket.as_mut(),
            _ => None,
        }
    }

    /// Records `state` in the status cell, the registry and the metric, and
    /// publishes it (standby excepted: the holder's state comes through the feed).
    pub(super) fn set_status(&mut self, state: AmiConnectionState, error: Option<String>) {
        let snapshot = {
            let Ok(mut s) = self.status.write() else {
                return;
            };
            s.state = state;
            s.since = Utc::now();
            if error.is_some() || state == AmiConnectionState::Connected {
                s.last_error = error;
            }
            if !state.awaits_retry() {
                s.next_attempt = None;
            }
            s.clone()
        };
        if let Some(h) = &self.handle {
            h.set_state(state.as_str());
        }
        self.metrics.set_ami_state(&self.pbx, state);
        if state == AmiConnectionState::Standby {
            return;
        }
        // do_send, never try_send: a full mailbox must delay a state change, not
        // drop it (twenty PBXs connecting at once overflowed the hub's, and the board
        // showed connected PBXs as `connecting` until their next transition).
        self.targets.publish.do_send(Publish::new(
            Change::Connection(std::sync::Arc::new(snapshot)),
            None,
        ));
    }

    /// Starts a login attempt, unless one runs, the socket is up, or the
    /// connection stands by or stops.
    pub(super) fn connect(&mut self, ctx: &mut Context<Self>) {
        match self.state {
            LinkState::Idle | LinkState::BackingOff { .. } | LinkState::LoginRefused { .. } => {}
            LinkState::Standby
            | LinkState::Connecting { .. }
            | LinkState::LoggedIn(_)
            | LinkState::Stopping { .. } => return,
        }
        self.epoch += 1;
        let epoch = self.epoch;
        self.state = LinkState::Connecting { epoch };
        let ids = ActionIds::new(self.settings.instance, epoch);
        for pending in self.correlator.reset(ids) {
            fail(pending, AmiError::Closed("reconnecting"));
        }
        self.set_status(AmiConnectionState::Connecting, None);
        let endpoint = self.settings.endpoint.clone();
        let mut login_ids = ActionIds::new(self.settings.instance, epoch * 1_000_000);
        let fut = async move { connect_and_login(&endpoint, &mut login_ids).await };
        ctx.spawn(fut.into_actor(self).map(move |res, act, ctx| {
            if !matches!(act.state, LinkState::Connecting { epoch: e } if e == epoch) {
                // Fenced or stopping while logging in: the session is dropped unused.
                return;
            }
            match res {
                Ok(session) => act.logged_in(session, ctx),
                Err(err) => act.connect_failed(err, ctx),
            }
        }));
    }

    fn logged_in(&mut self, session: LoggedIn, ctx: &mut Context<Self>) {
        let LoggedIn {
            framed,
            banner,
            elapsed,
        } = session;
        self.metrics.login_seconds.observe(elapsed.as_secs_f64());
        let parts = framed.into_parts();
        let (read_half, write_half) = parts.io.into_split();
        // From here on events nobody reads are dropped unparsed (still counted).
        let mut reader = FramedRead::new(read_half, parts.codec.skip_unread(true));
        *reader.read_buffer_mut() = read_buffer(&parts.read_buf);
        let reader = ctx.add_stream(self.gate.gate(reader.ready_chunks(MAX_BATCH)));
        let mut writer = FramedWrite::new(write_half, AmiCodec::default(), ctx);
        if !parts.write_buf.is_empty() {
            writer.write(parts.write_buf.freeze());
        }
        self.state = LinkState::LoggedIn(Socket {
            reader,
            writer,
            ping_outstanding: false,
        });
        self.backoff.reset();
        self.login_backoff.reset();
        if self.memory.ever_connected {
            self.metrics
                .reconnects
                .with_label_values(&[&self.pbx])
                .inc();
            if let Ok(mut s) = self.status.write() {
                s.reconnects += 1;
            }
        }
        self.memory.ever_connected = true;
        if let Ok(mut s) = self.status.write() {
            s.banner = Some(banner.clone());
        }
        log::info!(
            "pbx {}: logged in to {} ({banner}) in {:.2} ms",
            self.pbx,
            self.settings.endpoint.address(),
            elapsed.as_secs_f64() * 1000.0
        );
        self.set_status(AmiConnectionState::Connected, None);
        self.install_filter();
        self.resync();
    }

    /// The one way a socket goes away: closes it, fails every action waiting for a
    /// reply, and moves to what `why` calls for.
    pub(super) fn teardown(&mut self, why: Teardown, ctx: &mut Context<Self>) {
        if matches!(why, Teardown::Lost(_)) && self.socket_mut().is_none() {
            // Already down (a late read or write error after a close).
            return;
        }
        let previous = std::mem::replace(&mut self.state, LinkState::Idle);
        let stopping = matches!(previous, LinkState::Stopping { .. });
        self.state = match previous {
            LinkState::Stopping { socket } => {
                if let Some(s) = socket {
                    self.close_socket(s, &why, ctx);
                }
                LinkState::Stopping { socket: None }
            }
            LinkState::LoggedIn(s) => {
                self.close_socket(s, &why, ctx);
                LinkState::Idle
            }
            LinkState::BackingOff { retry } | LinkState::LoginRefused { retry } => {
                ctx.cancel_future(retry);
                LinkState::Idle
            }
            LinkState::Standby => LinkState::Standby,
            LinkState::Idle | LinkState::Connecting { .. } => LinkState::Idle,
        };
        let reason = match &why {
            Teardown::Lost(_) => "the connection was lost",
            Teardown::Stopped => "the service is stopping",
            Teardown::Fenced => "standing by: another instance holds the PBX",
            Teardown::Restarted => "connection actor restarted",
        };
        for pending in self
            .correlator
            .reset(ActionIds::new(self.settings.instance, self.epoch))
        {
            fail(pending, AmiError::Closed(reason));
        }
        match why {
            Teardown::Restarted => {}
            Teardown::Stopped => self.set_status(AmiConnectionState::Disconnected, None),
            Teardown::Lost(_) if stopping => {
                // Our own Logoff closed it: the service is stopping, no reconnect.
                self.set_status(AmiConnectionState::Disconnected, None);
            }
            Teardown::Lost(reason) => self.reconnect_after_loss(&reason, ctx),
            Teardown::Fenced => {
                if !stopping {
                    self.state = LinkState::Standby;
                }
                log::warn!(
                    "pbx {}: standing by (lease not held here); logged off",
                    self.pbx
                );
                self.set_status(AmiConnectionState::Standby, None);
            }
        }
    }

    /// Stops reading at once and closes the socket; a fenced one says Logoff first,
    /// so the PBX ends the session rather than timing it out.
    fn close_socket(&mut self, mut socket: Socket, why: &Teardown, ctx: &mut Context<Self>) {
        if matches!(why, Teardown::Fenced) {
            let logoff = self.correlator.register(
                Action::logoff(),
                Pending::Logoff { done: None },
                Instant::now() + Duration::from_millis(500),
            );
            let mut buf = BytesMut::with_capacity(64);
            if logoff.encode_into(&mut buf).is_ok() {
                socket.writer.write(buf.freeze());
            }
        }
        socket.close(ctx);
    }
}
