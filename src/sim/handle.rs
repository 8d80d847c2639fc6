//! [`Simulator::spawn`] and the [`SimHandle`] tests, benchmarks and `demo` drive it by.
//!
//! The simulator runs on its own OS thread with its own current-thread tokio runtime,
//! so it works the same under `#[test]`, `#[tokio::test]`, actix or a benchmark, and
//! never competes with the code under test for its runtime. The handle only touches
//! shared state (mutex, atomics, watch), so every method is synchronous and cheap.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use bytes::Bytes;
use log::{info, warn};

use super::model::{Party, Plan};
use super::server::{accept_loop, bind, generator_loop};
use super::settings::SimConfig;
use super::shared::Shared;
use super::truth::{PbxSnapshot, SimStats};

/// Starts simulators.
#[derive(Debug)]
pub struct Simulator;

impl Simulator {
    /// Binds `listen` (port 0 picks a free port; SO_REUSEADDR, so the address of a
    /// stopped simulator can be reused at once), starts the PBX on its own thread and
    /// returns once it accepts connections.
    pub fn spawn(listen: SocketAddr, cfg: SimConfig) -> std::io::Result<SimHandle> {
        let shared = Arc::new(Shared::new(cfg));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("switchboard-sim".to_string())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let listener = match bind(listen) {
                        Ok(l) => l,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    };
                    let _ = ready_tx.send(listener.local_addr());
                    let generator = tokio::spawn(generator_loop(Arc::clone(&thread_shared)));
                    accept_loop(Arc::clone(&thread_shared), listener).await;
                    let _ = generator.await;
                    // Give sessions a moment to see `stopped` and close their sockets.
                    for _ in 0..100 {
                        if thread_shared.stats.sessions.load(Ordering::Relaxed) == 0 {
                            break;
                        }
                        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                    }
                });
            })?;
        let addr = ready_rx
            .recv()
            .map_err(|_| std::io::Error::other("simulator thread ended before listening"))??;
        info!(
            "simulator: PBX {} listening on {addr} ({} extensions from {}, seed {}, {} events/s)",
            shared.cfg.system_name,
            shared.cfg.extensions,
            shared.cfg.first_extension,
            shared.cfg.seed,
            shared.cfg.rate
        );
        Ok(SimHandle {
            inner: Arc::new(Inner {
                shared,
                addr,
                thread: Mutex::new(Some(thread)),
            }),
        })
    }
}

#[derive(Debug)]
struct Inner {
    shared: Arc<Shared>,
    addr: SocketAddr,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Inner {
    fn stop(&self) {
        self.shared.update_ctl(|c| c.stopped = true);
        let thread = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(t) = thread {
            if t.join().is_err() {
                warn!("simulator: its thread panicked");
            }
        }
    }
}

impl Drop for Inner {
    /// The last handle gone stops the simulator, so tests never leak threads or ports.
    fn drop(&mut self) {
        self.stop();
    }
}

/// Controls a running simulator; cheap to clone, usable from any thread.
#[derive(Debug, Clone)]
pub struct SimHandle {
    inner: Arc<Inner>,
}

impl SimHandle {
    fn shared(&self) -> &Shared {
        &self.inner.shared
    }

    /// Where clients connect (the resolved port when spawned on port 0).
    pub fn addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// The PBX's own view (extension states, live calls, finished counts), to compare
    /// switchboard's view against.
    pub fn snapshot(&self) -> PbxSnapshot {
        self.shared().pbx().snapshot()
    }

    /// Changes the generated traffic (events per second; 0 stops it).
    pub fn set_rate(&self, events_per_s: f64) {
        self.shared().set_rate(events_per_s);
    }

    /// Sets an extension's hint status now (DeviceStateChange + ExtensionStatus); 4
    /// takes its device offline, 0 brings it back. Unknown extensions are ignored.
    pub fn set_extension_state(&self, exten: &str, status: i32) {
        self.shared().with_pbx(|pbx| {
            if let Some(&i) = pbx.by_number.get(exten) {
                pbx.wire.stamp();
                pbx.set_status(i, status);
            } else {
                warn!("simulator: no extension {exten} to set to {status}");
            }
        });
    }

    /// Renames an extension: its endpoint's caller ID answers the new name from now
    /// on (read by the next login or refresh). Unknown extensions are ignored.
    pub fn set_extension_name(&self, exten: &str, name: &str) {
        self.shared().with_pbx(|pbx| {
            if let Some(&i) = pbx.by_number.get(exten) {
                pbx.exts[i].name = name.to_string();
            }
        });
    }

    /// Starts a scripted call that rings `to` until [`SimHandle::answer_call`] or
    /// [`SimHandle::hangup_call`]; either side may be an outside number. Returns the
    /// call's Linkedid (switchboard's call id).
    pub fn place_call(&self, from: &str, to: &str) -> String {
        self.shared().with_pbx(|pbx| {
            let party = |n: &str| match pbx.by_number.get(n) {
                Some(&i) => Party::Ext(i),
                None => Party::Outside(n.to_string()),
            };
            let (caller, callee) = (party(from), party(to));
            pbx.start_call(caller, callee, Plan::Answer, true)
        })
    }

    /// Answers a ringing scripted call (DialEnd ANSWER, bridge).
    pub fn answer_call(&self, linkedid: &str) {
        self.on_call(linkedid, |pbx, call| {
            if call.state == crate::model::CallState::Ringing {
                pbx.answer(call);
            }
            None
        });
    }

    /// Ends a call: talking calls hang up normally, ringing ones are cancelled.
    pub fn hangup_call(&self, linkedid: &str) {
        self.on_call(linkedid, |pbx, call| Some(pbx.hangup_call(call, true)));
    }

    /// Puts a talking call on hold by its caller (`true`) or takes it off hold.
    pub fn hold_call(&self, linkedid: &str, hold: bool) {
        self.on_call(linkedid, |pbx, call| {
            match (hold, call.state) {
                (true, crate::model::CallState::Bridged) => pbx.hold(call, true),
                (false, crate::model::CallState::OnHold) => pbx.unhold(call),
                _ => {}
            }
            None
        });
    }

    /// Blind-transfers a talking call to extension `to` (which then rings).
    pub fn blind_transfer(&self, linkedid: &str, to: &str) {
        self.on_call(linkedid, |pbx, call| {
            if let Some(&t) = pbx.by_number.get(to) {
                pbx.blind_transfer(call, t);
            }
            None
        });
    }

    fn on_call<F>(&self, linkedid: &str, step: F)
    where
        F: FnOnce(&mut super::model::Pbx, &mut super::model::Call) -> Option<&'static str>,
    {
        self.shared()
            .with_pbx(|pbx| match pbx.call_index(linkedid) {
                Some(i) => pbx.advance(i, step),
                None => warn!("simulator: no call {linkedid}"),
            });
    }

    /// A caller from `number` joins queue `queue` and waits; returns its channel's
    /// Uniqueid (`None`: no such queue).
    pub fn queue_join(&self, queue: &str, number: &str) -> Option<String> {
        self.shared().with_pbx(|pbx| {
            let q = pbx.queue_index(queue)?;
            pbx.queue_join(q, number)
        })
    }

    /// A free member of `queue` answers its first caller; false when nobody waits
    /// or no member is free.
    pub fn queue_answer(&self, queue: &str) -> bool {
        self.shared()
            .with_pbx(|pbx| pbx.queue_index(queue).is_some_and(|q| pbx.queue_connect(q)))
    }

    /// The waiting caller `uniqueid` of `queue` gives up; false when not waiting.
    pub fn queue_abandon(&self, queue: &str, uniqueid: &str) -> bool {
        self.shared().with_pbx(|pbx| {
            let Some(q) = pbx.queue_index(queue) else {
                return false;
            };
            match pbx.queues[q]
                .callers
                .iter()
                .position(|c| c.a.uniqueid == uniqueid)
            {
                Some(i) => pbx.queue_abandon(q, i),
                None => false,
            }
        })
    }

    /// Pauses member `interface` of `queue` with `reason`, or unpauses it (`None`).
    pub fn queue_pause(&self, queue: &str, interface: &str, reason: Option<&str>) -> bool {
        self.shared().with_pbx(|pbx| {
            pbx.queue_index(queue)
                .is_some_and(|q| pbx.queue_pause(q, interface, reason))
        })
    }

    /// Emits `n` generated events as fast as the slowest logged-in client reads them.
    pub fn burst(&self, n: u64) {
        self.shared().burst.fetch_add(n, Ordering::Relaxed);
        self.shared().wake.notify_one();
    }

    /// Closes every client socket now (the listener stays open).
    pub fn drop_connections(&self) {
        self.shared().update_ctl(|c| c.drops += 1);
    }

    /// Freezes the PBX: sockets stay open but nothing is read, answered, sent or
    /// accepted, and no traffic is generated, until unfrozen.
    pub fn freeze(&self, frozen: bool) {
        self.shared().update_ctl(|c| c.frozen = frozen);
    }

    /// Sends raw bytes to every logged-in client (garbage, half messages...).
    pub fn send_garbage(&self, bytes: &[u8]) {
        let _ = self.shared().events.send(Bytes::copy_from_slice(bytes));
    }

    /// While true, every login is answered `Authentication failed`.
    pub fn refuse_logins(&self, refuse: bool) {
        self.shared().refuse_logins.store(refuse, Ordering::Relaxed);
    }

    /// Makes `extensions`' queries fail: `ExtensionState` answers `Response: Error`
    /// and `ExtensionStateList` leaves them out (an empty list: none fail).
    pub fn fail_extensions(&self, extensions: &[&str]) {
        if let Ok(mut f) = self.shared().failing.lock() {
            *f = extensions.iter().map(|e| e.to_string()).collect();
        }
    }

    /// Makes `extensions`' queries go unanswered: no reply to `ExtensionState`, left
    /// out of `ExtensionStateList` (an empty list: all answered).
    pub fn silence_extensions(&self, extensions: &[&str]) {
        if let Ok(mut f) = self.shared().silent.lock() {
            *f = extensions.iter().map(|e| e.to_string()).collect();
        }
    }

    /// Holds every `ExtensionStateList` answer this long (a slow PBX), after login;
    /// lowering it (to zero) releases the answers already held.
    pub fn delay_lists(&self, delay: std::time::Duration) {
        self.shared()
            .list_delay_ms
            .store(delay.as_millis() as u64, Ordering::Relaxed);
    }

    /// Like `core restart now`: sessions get `Shutdown` and close ~10 ms later, calls
    /// vanish, the port refuses for ~500 ms, then accepts with Uptime reset.
    pub fn restart(&self) {
        self.shared().restart();
    }

    /// Closes the listener and every session for good and frees the port; returns once
    /// the simulator's thread has ended.
    pub fn stop(&self) {
        self.inner.stop();
    }

    /// Counters: connections, logins, actions, events.
    pub fn stats(&self) -> SimStats {
        self.shared().stats()
    }
}
