//! The simulated PBX's state: extensions, calls and their channels.
//!
//! This is the ground truth a test compares switchboard's view with, so every change
//! of state goes through here and is written to the [`Wire`] as the events Asterisk
//! would send for it. The call life cycle lives in `calls.rs`, the random choice of
//! what happens next in `generator.rs`.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

pub use super::channel::{ChanState, Channel};
use super::queue_model::SimQueue;
use super::settings::SimConfig;
use super::wire::Wire;
use crate::model::{CallState, Direction};

/// Who a call party is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Party {
    /// A local extension (index into the extension list).
    Ext(usize),
    /// An outside number on the trunk.
    Outside(String),
}

/// How a generated call will end its ringing phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// The callee answers.
    Answer,
    /// Nobody answers before the Dial timeout.
    NoAnswer,
    /// The callee is busy (486).
    Busy,
    /// The caller gives up while it rings.
    Cancel,
}

/// One call, keyed by its Linkedid.
#[derive(Debug, Clone)]
pub struct Call {
    /// The Linkedid.
    pub linkedid: String,
    /// Who called.
    pub caller: Party,
    /// Who is called (changes on transfer).
    pub callee: Party,
    /// Internal, inbound or outbound.
    pub direction: Direction,
    /// Where the call is (`Dialing` = failing to an unavailable device).
    pub state: CallState,
    /// The caller's channel.
    pub a: Channel,
    /// The callee's channel, once created.
    pub b: Option<Channel>,
    /// The consultation target during an attended transfer.
    pub c: Option<Channel>,
    /// The bridge of `a` and `b` while talking.
    pub bridge: Option<String>,
    /// The consultation bridge during an attended transfer.
    pub bridge2: Option<String>,
    /// True when `a` is the party on hold (else `b`).
    pub held_a: bool,
    /// How ringing ends (generated calls).
    pub plan: Plan,
    /// Scripted by the handle: the generator leaves it alone.
    pub scripted: bool,
    /// Transfers done so far.
    pub transfers: u32,
}

/// One extension with a hint.
#[derive(Debug, Clone)]
pub struct Ext {
    /// e.g. `1001`.
    pub number: String,
    /// e.g. `PJSIP/1001`.
    pub hint: String,
    /// Display name, `User 1001`.
    pub name: String,
    /// Hint status (see [`crate::model::HintStatus`]).
    pub status: i32,
    /// Part of a call right now.
    pub busy: bool,
}

/// The whole simulated PBX.
#[derive(Debug)]
pub struct Pbx {
    /// Dialplan context of the hints.
    pub context: String,
    /// `SystemName`, prefix of Uniqueids.
    pub system_name: String,
    /// The extensions, in number order.
    pub exts: Vec<Ext>,
    /// Number -> index.
    pub by_number: HashMap<String, usize>,
    /// Live calls.
    pub calls: Vec<Call>,
    /// The seeded source of every random choice.
    pub rng: ChaCha8Rng,
    /// Where events are written.
    pub wire: Wire,
    /// Finished calls by outcome.
    pub finished: BTreeMap<String, u64>,
    /// When the PBX (re)started, for Uptime.
    pub started: Instant,
    /// Its queues (none unless `SimConfig::queues` asks for some).
    pub queues: Vec<SimQueue>,
    /// The queue steps' own random source, so queues leave the calls' sequence alone.
    pub queue_rng: ChaCha8Rng,
    chan_seq: u64,
    uid_seq: u64,
}

impl Pbx {
    /// A PBX with every extension idle and no calls.
    pub fn new(cfg: &SimConfig) -> Self {
        let exts: Vec<Ext> = (0..cfg.extensions)
            .map(|i| {
                let n = (cfg.first_extension + i).to_string();
                Ext {
                    hint: format!("PJSIP/{n}"),
                    name: format!("User {n}"),
                    number: n,
                    status: 0,
                    busy: false,
                }
            })
            .collect();
        let by_number = exts
            .iter()
            .enumerate()
            .map(|(i, e)| (e.number.clone(), i))
            .collect();
        let mut pbx = Self {
            context: cfg.context.clone(),
            system_name: cfg.system_name.clone(),
            exts,
            by_number,
            calls: Vec::new(),
            rng: ChaCha8Rng::seed_from_u64(cfg.seed),
            wire: Wire::new(&cfg.system_name, 64 * 1024),
            finished: BTreeMap::new(),
            started: Instant::now(),
            queues: Vec::new(),
            queue_rng: ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x5155_4555_4553),
            chan_seq: 0,
            uid_seq: 0,
        };
        pbx.setup_queues(cfg.queues as usize);
        pbx
    }

    /// A fresh Uniqueid.
    pub fn next_uniqueid(&mut self) -> String {
        let epoch = super::wire::epoch_timestamp();
        let secs = epoch.split('.').next().unwrap_or("0");
        let id = format!("{}-{}.{}", self.system_name, secs, self.uid_seq);
        self.uid_seq += 1;
        id
    }

    /// A new channel for `party`; `linkedid` `None` starts a new call.
    pub fn new_channel(&mut self, party: &Party, linkedid: Option<&str>, exten: &str) -> Channel {
        let seq = self.chan_seq;
        self.chan_seq += 1;
        let uniqueid = self.next_uniqueid();
        let (tech, cid_num, cid_name, ext, context) = match party {
            Party::Ext(i) => {
                let e = &self.exts[*i];
                (
                    e.number.clone(),
                    e.number.clone(),
                    e.name.clone(),
                    Some(*i),
                    self.context.clone(),
                )
            }
            Party::Outside(n) => (
                "trunk".to_string(),
                n.clone(),
                "<unknown>".to_string(),
                None,
                "from-trunk".to_string(),
            ),
        };
        Channel {
            name: format!("PJSIP/{tech}-{seq:08x}"),
            linkedid: linkedid.map_or_else(|| uniqueid.clone(), str::to_string),
            uniqueid,
            state: ChanState::Down,
            cid_num,
            cid_name,
            conn_num: "<unknown>".to_string(),
            conn_name: "<unknown>".to_string(),
            context,
            exten: exten.to_string(),
            ext,
            created: Instant::now(),
        }
    }

    /// A bridge id shaped like Asterisk's UUIDs, drawn from the seeded generator.
    pub fn new_bridge_id(&mut self) -> String {
        use rand::Rng;
        let a: u32 = self.rng.gen();
        let b: u16 = self.rng.gen();
        let c: u16 = self.rng.gen();
        let d: u16 = self.rng.gen();
        let e: u64 = self.rng.gen::<u64>() & 0xffff_ffff_ffff;
        format!("{a:08x}-{b:04x}-{c:04x}-{d:04x}-{e:012x}")
    }

    /// Sets an extension's hint status, writing `DeviceStateChange` and, when the
    /// hint status really changes, `ExtensionStatus` (as Asterisk does).
    pub fn set_status(&mut self, ext: usize, status: i32) {
        let Some(e) = self.exts.get_mut(ext) else {
            return;
        };
        if e.status == status {
            return;
        }
        e.status = status;
        let (hint, number) = (e.hint.clone(), e.number.clone());
        self.wire.stamp();
        self.wire
            .event("DeviceStateChange", "call,all")
            .h("Device", &hint)
            .h("State", device_state(status))
            .end();
        let ctx = self.context.clone();
        self.wire
            .event("ExtensionStatus", "call,all")
            .h("Exten", &number)
            .h("Context", &ctx)
            .h("Hint", &hint)
            .n("Status", i64::from(status))
            .h("StatusText", status_text(status))
            .end();
        super::queue_model::device_changed(&mut self.queues, &mut self.wire, ext, status);
    }

    /// Index of the call with this Linkedid.
    pub fn call_index(&self, linkedid: &str) -> Option<usize> {
        self.calls.iter().position(|c| c.linkedid == linkedid)
    }

    /// Runs one step of the call at `idx`: `step` gets the call out of the list and
    /// returns its outcome when the call ended (it is then counted and dropped).
    pub fn advance<F>(&mut self, idx: usize, step: F)
    where
        F: FnOnce(&mut Pbx, &mut Call) -> Option<&'static str>,
    {
        if idx >= self.calls.len() {
            return;
        }
        let mut call = self.calls.swap_remove(idx);
        self.wire.stamp();
        match step(self, &mut call) {
            None => self.calls.push(call),
            Some(outcome) => {
                for ch in [Some(&call.a), call.b.as_ref(), call.c.as_ref()]
                    .into_iter()
                    .flatten()
                {
                    if let Some(i) = ch.ext {
                        self.exts[i].busy = false;
                    }
                }
                *self.finished.entry(outcome.to_string()).or_default() += 1;
            }
        }
    }

    /// Every live channel, for CoreShowChannels and Status.
    pub fn channels(&self) -> Vec<(&Channel, Option<&str>)> {
        let mut out = Vec::new();
        for call in &self.calls {
            out.push((&call.a, call.bridge.as_deref()));
            if let Some(b) = &call.b {
                out.push((b, call.bridge.as_deref()));
            }
            if let Some(c) = &call.c {
                out.push((c, call.bridge2.as_deref()));
            }
        }
        for q in &self.queues {
            out.extend(q.callers.iter().map(|c| (&c.a, None)));
        }
        out
    }

    /// Forgets every call (a restart): no events, extensions in calls become idle.
    pub fn reset(&mut self) {
        self.calls.clear();
        for q in &mut self.queues {
            q.callers.clear();
            for m in &mut q.members {
                m.in_call = None;
            }
        }
        for e in &mut self.exts {
            e.busy = false;
            if e.status != 4 {
                e.status = 0;
            }
        }
        self.started = Instant::now();
    }
}

/// The device state name of a hint status.
pub fn device_state(status: i32) -> &'static str {
    match status {
        0 => "NOT_INUSE",
        1 => "INUSE",
        2 => "BUSY",
        4 => "UNAVAILABLE",
        8 => "RINGING",
        9 => "RINGINUSE",
        16 | 17 => "ONHOLD",
        _ => "UNKNOWN",
    }
}

/// The `StatusText` Asterisk gives a hint status: the state model's table, so the
/// simulator and switchboard can never disagree about a name.
pub fn status_text(status: i32) -> &'static str {
    crate::state::extension::status_text(crate::model::HintStatus(status))
}
