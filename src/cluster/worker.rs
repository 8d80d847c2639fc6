//! [`Worker`]: the cluster's one blocking thread — leases and the feed tap.
//!
//! Every `CLUSTER_FEED_POLL_MS` it polls the notification socket and reads the
//! PBXs notified; once a second it reads every followed PBX anyway (a missed
//! notification costs at most a second); every `CLUSTER_LEASE_MS` it checks the
//! lease session (one query that also says who holds what) and tries the free
//! PBXs. A failed lease session fences this instance at once: every PBX it held
//! is reported lost before anything else happens — unless no other instance was
//! connected at the last check. A lone instance keeps monitoring through a database
//! outage (its writes wait in the store writer, as without a cluster) and re-takes
//! its leases when PostgreSQL answers again; should another instance have taken one
//! meanwhile, that PBX is reported lost then. Fencing a lone instance would protect
//! nobody and leave every PBX unmonitored until the database came back.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::Addr;
use tokio::sync::mpsc::UnboundedSender;

use super::lease::Leases;
use super::payload::Replayed;
use super::tap::Tap;
use super::view::ClusterView;
use crate::actors::hub::Hub;
use crate::actors::messages::Publish;
use crate::config::ClusterConfig;
use crate::delivery::SyncCalls;

/// How often every followed PBX is read even without a notification.
const SAFETY_READ: Duration = Duration::from_secs(1);
/// How often old feed rows are deleted.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// Feed rows deleted per retention step: a few milliseconds of work, so the
/// thread's leases and feed reads never wait behind a big prune.
const PRUNE_STEP_ROWS: i64 = 5_000;

/// Whether a retention step left more to delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PruneStep {
    More,
    Done,
}
/// Lease ticks a PBX may stay free before an instance above its fair share takes it.
const FREE_TICKS: u32 = 2;

/// What the worker tells the controller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// This instance now holds the PBX; the feed was read to its end first.
    Acquired(String),
    /// These leases are gone (the lease session failed): stand by at once.
    Lost(Vec<String>),
}

/// The leases and the tap, driven by one thread.
pub struct Worker {
    /// Database URL.
    pub url: String,
    /// Timings and the instance name.
    pub config: ClusterConfig,
    /// Every configured PBX.
    pub pbxs: Vec<String>,
    /// The feed follower.
    pub tap: Tap,
    /// Where replayed changes go.
    pub hub: Addr<Hub>,
    /// Where verdicts go.
    pub verdicts: UnboundedSender<Verdict>,
    /// What health shows.
    pub view: Arc<ClusterView>,
    /// Set to end the thread.
    pub stop: Arc<AtomicBool>,
    /// Rows deleted by retention, by table (the store's counter).
    pub pruned: prometheus::IntCounterVec,
}

struct Loop {
    leases: Option<Leases>,
    held: HashSet<String>,
    /// Held PBXs whose lock went with a failed session of a lone instance: to be
    /// taken again (or given up) once a new lease session is open.
    retake: HashSet<String>,
    /// Another instance's lease session was connected at the last check.
    others_seen: bool,
    free: HashMap<String, u32>,
    tap_ok: bool,
    lease_error_logged: bool,
}

impl Worker {
    /// Runs until `stop` is set.
    pub fn run(mut self) {
        let mut st = Loop {
            leases: None,
            held: HashSet::new(),
            retake: HashSet::new(),
            others_seen: true,
            free: HashMap::new(),
            tap_ok: true,
            lease_error_logged: false,
        };
        let mut next_lease = Instant::now();
        let mut next_safety = Instant::now();
        let mut next_prune = Instant::now() + PRUNE_EVERY;
        while !self.stop.load(Ordering::Relaxed) {
            let now = Instant::now();
            if now >= next_lease {
                next_lease = now + self.config.lease_every;
                self.lease_tick(&mut st);
            }
            if st.tap_ok {
                let mut to_read: HashSet<String> = match self.tap.notified() {
                    Ok(set) => set,
                    Err(e) => {
                        self.tap_failed(&mut st, &e);
                        HashSet::new()
                    }
                };
                if now >= next_safety {
                    next_safety = now + SAFETY_READ;
                    to_read.extend(self.pbxs.iter().cloned());
                }
                for pbx in to_read {
                    if st.held.contains(&pbx) || !self.pbxs.contains(&pbx) {
                        continue;
                    }
                    self.follow(&mut st, &pbx);
                }
            }
            if now >= next_prune {
                // A full step leaves more to delete: the next one comes on the
                // next pass of this loop, after the leases and the feed.
                next_prune = match self.prune(&st) {
                    PruneStep::More => now,
                    PruneStep::Done => now + PRUNE_EVERY,
                };
            }
            std::thread::sleep(self.config.feed_poll);
        }
        log::info!(
            "cluster: instance {} stops following",
            self.config.instance_id
        );
    }

    /// Reads `pbx`'s new rows and hands them to the hub, in order.
    fn follow(&mut self, st: &mut Loop, pbx: &str) -> bool {
        match self.tap.read(pbx) {
            Ok(rows) => {
                for r in rows {
                    match r {
                        Replayed::Change(change) => self.hub.do_send(Publish::new(change, None)),
                        Replayed::Confirmed(c) => self.hub.do_send(c),
                        Replayed::Snapshot(snapshot) => self.hub.do_send(SyncCalls {
                            snapshot,
                            feed: false,
                        }),
                    }
                }
                true
            }
            Err(e) => {
                self.tap_failed(st, &e);
                false
            }
        }
    }

    fn tap_failed(&mut self, st: &mut Loop, e: &super::ClusterError) {
        if st.tap_ok {
            log::warn!("cluster: change-feed session failed ({e}); reconnecting");
        }
        st.tap_ok = false;
    }

    fn lease_tick(&mut self, st: &mut Loop) {
        if !st.tap_ok {
            match self.tap.reconnect(&self.url) {
                Ok(()) => {
                    log::info!("cluster: change-feed session back");
                    st.tap_ok = true;
                }
                Err(e) => log::debug!("cluster: change-feed session still down: {e}"),
            }
        }
        if st.leases.is_none() {
            match Leases::connect(&self.url, &self.config.instance_id) {
                Ok(l) => {
                    log::info!(
                        "cluster: lease session of instance {} open",
                        self.config.instance_id
                    );
                    st.leases = Some(l);
                    st.lease_error_logged = false;
                }
                Err(e) => {
                    if !st.lease_error_logged {
                        log::error!("cluster: cannot open the lease session: {e}");
                        st.lease_error_logged = true;
                    }
                    self.view.update(&st.held, HashMap::new(), false);
                    return;
                }
            }
        }
        let Some(leases) = st.leases.as_mut() else {
            return;
        };
        let (holders, sessions) = match leases.holders(&self.pbxs) {
            Ok(h) => h,
            Err(e) => {
                self.fence(st, &e.to_string());
                return;
            }
        };
        st.others_seen = sessions > 1;
        let mut by = holders;
        if !st.retake.is_empty() && !self.retake(st, &mut by) {
            return;
        }
        let fair = self.pbxs.len().div_ceil(sessions.max(1));
        let free: Vec<String> = self
            .pbxs
            .iter()
            .filter(|p| !st.held.contains(*p) && !by.contains_key(*p))
            .cloned()
            .collect();
        st.free.retain(|p, _| free.contains(p));
        for pbx in free {
            let ticks = st.free.entry(pbx.clone()).or_insert(0);
            *ticks += 1;
            if st.held.len() >= fair && *ticks <= FREE_TICKS {
                continue;
            }
            let Some(leases) = st.leases.as_mut() else {
                return;
            };
            match leases.try_acquire(&pbx) {
                Ok(true) => {
                    st.free.remove(&pbx);
                    // Everything the previous holder committed is applied before
                    // this instance starts writing its own changes.
                    if !self.follow(st, &pbx) {
                        log::warn!("pbx {pbx}: feed not read to its end before taking over");
                    }
                    st.held.insert(pbx.clone());
                    by.insert(pbx.clone(), self.config.instance_id.clone());
                    log::info!(
                        "pbx {pbx}: lease acquired by instance {}",
                        self.config.instance_id
                    );
                    let _ = self.verdicts.send(Verdict::Acquired(pbx));
                }
                Ok(false) => {}
                Err(e) => {
                    self.fence(st, &e.to_string());
                    return;
                }
            }
        }
        self.view.update(&st.held, by, true);
    }

    /// A lone instance's leases after its session came back: each is taken again,
    /// or given up (stand by) when another instance took it meanwhile. False when
    /// the new session failed too.
    fn retake(&mut self, st: &mut Loop, by: &mut HashMap<String, String>) -> bool {
        let mut lost = Vec::new();
        for pbx in std::mem::take(&mut st.retake) {
            if by.contains_key(&pbx) {
                lost.push(pbx);
                continue;
            }
            let Some(leases) = st.leases.as_mut() else {
                return false;
            };
            match leases.try_acquire(&pbx) {
                Ok(true) => {
                    log::info!("pbx {pbx}: lease taken again after the database came back");
                    by.insert(pbx, self.config.instance_id.clone());
                }
                Ok(false) => lost.push(pbx),
                Err(e) => {
                    st.retake.insert(pbx);
                    self.fence(st, &e.to_string());
                    return false;
                }
            }
        }
        if !lost.is_empty() {
            log::warn!(
                "cluster: another instance took {} while the database was away; standing by",
                lost.join(", ")
            );
            for pbx in &lost {
                st.held.remove(pbx);
            }
            let _ = self.verdicts.send(Verdict::Lost(lost));
        }
        true
    }

    /// The lease session failed: every lease is gone; stand by at once (a lone
    /// instance keeps its PBXs and re-takes them later, see the module docs).
    fn fence(&mut self, st: &mut Loop, why: &str) {
        st.leases = None;
        if !st.others_seen && !st.held.is_empty() {
            log::warn!(
                "cluster: lease session lost ({why}); no other instance was connected, so \
                 this one keeps monitoring {} and takes the leases again when the database answers",
                st.held.iter().cloned().collect::<Vec<_>>().join(", ")
            );
            st.retake.extend(st.held.iter().cloned());
            self.view.update(&st.held, HashMap::new(), false);
            return;
        }
        st.retake.clear();
        let lost: Vec<String> = st.held.drain().collect();
        if !lost.is_empty() {
            log::error!(
                "cluster: lease session lost ({why}); standing by for {}",
                lost.join(", ")
            );
            let _ = self.verdicts.send(Verdict::Lost(lost));
        } else {
            log::warn!("cluster: lease session lost ({why}); reconnecting");
        }
        self.view.update(&st.held, HashMap::new(), false);
    }

    /// One step of the feed's retention: at most [`PRUNE_STEP_ROWS`] rows, counted
    /// in `switchboard_store_pruned_rows_total{table="change_feed"}`.
    fn prune(&mut self, st: &Loop) -> PruneStep {
        if !st.tap_ok {
            return PruneStep::Done;
        }
        let keep = chrono::Duration::from_std(self.config.feed_retention)
            .unwrap_or_else(|_| chrono::Duration::hours(1));
        match self
            .tap
            .prune_step(chrono::Utc::now() - keep, PRUNE_STEP_ROWS)
        {
            Ok(0) => PruneStep::Done,
            Ok(n) => {
                self.pruned
                    .with_label_values(&["change_feed"])
                    .inc_by(n as u64);
                log::debug!("cluster: pruned {n} change-feed rows");
                if n as i64 >= PRUNE_STEP_ROWS {
                    PruneStep::More
                } else {
                    PruneStep::Done
                }
            }
            Err(e) => {
                log::warn!("cluster: pruning the change feed failed: {e}");
                PruneStep::Done
            }
        }
    }
}
