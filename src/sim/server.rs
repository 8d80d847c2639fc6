//! The simulator's runtime side: the listener and the traffic generator (their shared
//! state is in `shared.rs`).
//!
//! Everything runs on one current-thread tokio runtime owned by the simulator's
//! thread. The model sits behind a `std` mutex that is never held across an await,
//! so the handle (other threads) and the sessions can change and read it directly;
//! the events each change writes are published, still under the lock, to one
//! broadcast of pre-encoded chunks, so every session sees one order.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use log::{info, warn};
use tokio::net::{TcpListener, TcpSocket};

use super::shared::Shared;

/// Most events the generator writes under one lock (one broadcast chunk).
const CHUNK_EVENTS: u64 = 256;
/// A burst waits while this many chunks are still unread by the slowest session.
const BURST_BACKLOG: usize = 256;

/// Binds with SO_REUSEADDR so a stopped or restarted simulator can listen on the same
/// port again at once.
pub(super) fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

/// Accepts clients until stopped; on a restart refuses connections for ~500 ms.
pub(super) async fn accept_loop(shared: Arc<Shared>, listener: TcpListener) {
    let addr = listener.local_addr().ok();
    let mut listener = Some(listener);
    let mut ctl = shared.ctl.subscribe();
    let mut restarts = ctl.borrow().restarts;
    loop {
        let c = *ctl.borrow_and_update();
        if c.stopped {
            break;
        }
        if c.restarts != restarts {
            restarts = c.restarts;
            drop(listener.take()); // refuse connections while "restarting"
            tokio::time::sleep(Duration::from_millis(500)).await;
            listener = rebind(&shared, addr).await;
            continue;
        }
        let Some(l) = listener.as_ref().filter(|_| !c.frozen) else {
            if ctl.changed().await.is_err() {
                break;
            }
            continue;
        };
        tokio::select! {
            accepted = l.accept() => match accepted {
                Ok((stream, peer)) => {
                    // A client that got in after `restart` was called but before this
                    // loop saw it is refused like the ones that come during the restart:
                    // under load the wake-up can lag the call by a scheduling slice.
                    if shared.ctl().restarts != restarts || shared.ctl().stopped {
                        drop(stream);
                        continue;
                    }
                    shared.stats.connections.fetch_add(1, Ordering::Relaxed);
                    tokio::spawn(super::session::run(Arc::clone(&shared), stream, peer));
                }
                Err(e) => {
                    warn!("simulator: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            changed = ctl.changed() => if changed.is_err() { break },
        }
    }
    drop(listener);
    info!("simulator: listener closed");
}

/// Listens again on the same address after a restart (a few tries, as the port may
/// linger for a moment).
async fn rebind(shared: &Shared, addr: Option<SocketAddr>) -> Option<TcpListener> {
    let addr = addr?;
    for _ in 0..50 {
        if shared.ctl().stopped {
            return None;
        }
        match bind(addr) {
            Ok(l) => {
                info!("simulator: PBX restarted, listening again on {addr}");
                return Some(l);
            }
            Err(e) => {
                warn!("simulator: cannot listen again on {addr}: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    None
}

/// Writes generated traffic at the configured rate, and bursts on request.
pub(super) async fn generator_loop(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last = Instant::now();
    let mut credit = 0.0f64;
    loop {
        let c = shared.ctl();
        if c.stopped {
            break;
        }
        let rate = shared.rate();
        let pending = shared.burst.load(Ordering::Relaxed);
        if !c.frozen && pending > 0 {
            if shared.events.len() > BURST_BACKLOG {
                tokio::time::sleep(Duration::from_millis(1)).await;
                continue;
            }
            let want = pending.min(CHUNK_EVENTS);
            let done = shared.with_pbx(|pbx| pbx.generate(want)).max(1);
            let _ = shared
                .burst
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |p| {
                    Some(p.saturating_sub(done))
                });
            tokio::task::yield_now().await;
            continue;
        }
        if c.frozen || rate <= 0.0 {
            shared.wake.notified().await;
            last = Instant::now();
            credit = 0.0;
            continue;
        }
        tokio::select! {
            _ = tick.tick() => {}
            _ = shared.wake.notified() => {}
        }
        let now = Instant::now();
        credit += rate * now.duration_since(last).as_secs_f64();
        credit = credit.min(rate * 0.25 + 1.0);
        last = now;
        while credit >= 1.0 {
            let want = (credit as u64).min(CHUNK_EVENTS);
            let done = shared.with_pbx(|pbx| pbx.generate(want));
            credit -= done.max(1) as f64;
            // Let the sessions write this chunk before the next one.
            tokio::task::yield_now().await;
        }
    }
}
