//! One client connection: banner, login, actions in, replies and events out.
//!
//! A session reads actions with [`AmiCodec::server`], answers each one in order and,
//! once logged in, writes every published event chunk. It ends on EOF, a failed
//! login, `Logoff`, a fault injected through the handle, or when it falls more than
//! the broadcast's capacity behind (as Asterisk drops a client that does not read).

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use log::{debug, warn};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio_util::codec::FramedRead;

use super::client::{Reply, Session};
use super::shared::Shared;
use super::wire::{Wire, BANNER};
use crate::ami::{AmiCodec, Frame, Limits};

/// Decrements the live-session count however the session ends.
struct Live<'a>(&'a Shared);

impl Drop for Live<'_> {
    fn drop(&mut self) {
        self.0.stats.sessions.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn next_event(rx: &mut Option<broadcast::Receiver<Bytes>>) -> Result<Bytes, RecvError> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Serves one client until it or the simulator ends the connection.
pub(super) async fn run(shared: Arc<Shared>, stream: TcpStream, peer: SocketAddr) {
    shared.stats.sessions.fetch_add(1, Ordering::Relaxed);
    let _live = Live(&shared);
    let _ = stream.set_nodelay(true);
    let (rd, mut wr) = stream.into_split();
    let mut reader = FramedRead::new(rd, AmiCodec::server(Limits::default()));
    let mut ctl = shared.ctl.subscribe();
    let base = *ctl.borrow_and_update();
    let mut s = Session {
        logged_in: false,
        challenge: None,
        events: None,
        peer,
        filter: Default::default(),
    };
    if wr.write_all(BANNER).await.is_err() {
        return;
    }
    debug!("simulator: client {peer} connected");
    loop {
        let c = *ctl.borrow_and_update();
        if c.stopped || c.drops != base.drops {
            debug!("simulator: closing the connection of {peer}");
            return;
        }
        if c.restarts != base.restarts {
            if s.logged_in {
                let mut w = Wire::new(&shared.cfg.system_name, 256);
                w.stamp();
                w.event("Shutdown", "system,all")
                    .h("Shutdown", "Cleanly")
                    .h("Restart", "True")
                    .end();
                // An event like any other: the session's filters apply.
                let bytes = super::permissions::visible(&shared.cfg, w.take().0);
                if let Some(bytes) = s.filter.apply(bytes) {
                    let _ = wr.write_all(&bytes).await;
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
            return;
        }
        if c.frozen {
            if ctl.changed().await.is_err() {
                return;
            }
            continue;
        }
        tokio::select! {
            biased;
            changed = ctl.changed() => if changed.is_err() { return },
            frame = reader.next() => {
                let msg = match frame {
                    Some(Ok(Frame::Message(m))) => m,
                    Some(Ok(Frame::Malformed(e))) => {
                        debug!("simulator: bad input from {peer}: {e}");
                        let mut w = Wire::new("", 128);
                        w.reply("Error", None, "Failed to parse message: line too long");
                        if wr.write_all(&w.take().0).await.is_err() { return; }
                        continue;
                    }
                    Some(Ok(Frame::Banner(_) | Frame::Skipped(_))) => continue,
                    Some(Err(e)) => {
                        debug!("simulator: read from {peer} failed: {e}");
                        return;
                    }
                    None => {
                        debug!("simulator: client {peer} closed the connection");
                        return;
                    }
                };
                shared.stats.actions.fetch_add(1, Ordering::Relaxed);
                if s.logged_in && msg.get("Action").is_some_and(|a| a.eq_ignore_ascii_case("ExtensionStateList")) {
                    hold_list(&shared).await;
                }
                let reply = super::actions::handle(&shared, &mut s, &msg);
                let Reply { mut wire, close } = reply;
                if !wire.is_empty() && wr.write_all(&wire.take().0).await.is_err() {
                    return;
                }
                if close {
                    let _ = wr.shutdown().await;
                    return;
                }
            }
            ev = next_event(&mut s.events) => match ev {
                Ok(bytes) => {
                    let bytes = super::permissions::visible(&shared.cfg, bytes);
                    if let Some(bytes) = s.filter.apply(bytes) {
                        if !bytes.is_empty() && wr.write_all(&bytes).await.is_err() { return }
                    }
                }
                Err(RecvError::Lagged(n)) => {
                    shared.stats.lagged_drops.fetch_add(1, Ordering::Relaxed);
                    warn!("simulator: client {peer} fell {n} event chunks behind; dropping it as Asterisk drops slow clients");
                    return;
                }
                Err(RecvError::Closed) => return,
            },
        }
    }
}

/// Waits while `delay_lists` asks: up to the delay since the list was asked for,
/// re-read every 10 ms so a test that lowers it (to zero) releases the answer.
async fn hold_list(shared: &Shared) {
    let asked = tokio::time::Instant::now();
    while asked.elapsed() < Duration::from_millis(shared.list_delay_ms.load(Ordering::Relaxed))
        && !shared.ctl().stopped
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
