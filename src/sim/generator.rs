//! What happens next on the simulated PBX, chosen by the seeded generator.
//!
//! A step is one thing a phone or the PBX does: a new call rings, a ringing call is
//! answered / not answered / busy / cancelled, a talking call is held, transferred or
//! hung up, a device goes offline or comes back. Steps depend only on the seed and
//! the model (never on the clock), so two simulators with the same seed write the same
//! event sequence however fast they run. Calls scripted through the handle are never
//! touched here.

use rand::Rng;

use super::model::{ChanState, Party, Pbx, Plan};
use crate::model::CallState;

impl Pbx {
    /// Runs steps until at least `events` more events are written (or a bounded
    /// number of steps found nothing to do); returns the events written.
    pub fn generate(&mut self, events: u64) -> u64 {
        let start = self.wire.events();
        let mut steps = 0u64;
        let max_steps = events.saturating_mul(4).saturating_add(16);
        while self.wire.events() - start < events && steps < max_steps {
            self.step();
            steps += 1;
        }
        self.wire.events() - start
    }

    /// One random step.
    pub fn step(&mut self) {
        if self.exts.is_empty() {
            return;
        }
        if self.queue_step() {
            return;
        }
        if self.rng.gen_bool(0.02) {
            self.toggle_device();
            return;
        }
        let target = (self.exts.len() / 4).max(1);
        let live = self.calls.len();
        let want_new = live == 0 || (live < target && self.rng.gen_bool(0.5));
        if want_new && self.random_call() {
            return;
        }
        if live == 0 {
            return;
        }
        let idx = self.rng.gen_range(0..live);
        if self.calls[idx].scripted {
            self.random_call();
            return;
        }
        let roll: f64 = self.rng.gen();
        let target_ext = self.idle_ext();
        self.advance(idx, |pbx, call| match call.state {
            CallState::Ringing | CallState::Dialing => pbx.resolve(call),
            CallState::Bridged => match target_ext {
                _ if roll < 0.25 => {
                    let holder_a = pbx.rng.gen_bool(0.5);
                    pbx.hold(call, holder_a);
                    None
                }
                Some(t) if roll < 0.30 => {
                    pbx.blind_transfer(call, t);
                    None
                }
                Some(t) if roll < 0.35 => {
                    pbx.attended_begin(call, t);
                    None
                }
                _ => {
                    let ender_a = pbx.rng.gen_bool(0.5);
                    Some(pbx.hangup_call(call, ender_a))
                }
            },
            CallState::OnHold => match call.c.as_ref().map(|c| c.state) {
                Some(ChanState::Ringing) => {
                    pbx.attended_answer(call);
                    None
                }
                Some(_) => {
                    pbx.attended_complete(call);
                    None
                }
                None if roll < 0.7 => {
                    pbx.unhold(call);
                    None
                }
                None => {
                    let ender_a = pbx.rng.gen_bool(0.5);
                    Some(pbx.hangup_call(call, ender_a))
                }
            },
            _ => Some(pbx.hangup_call(call, true)),
        });
    }

    /// A random extension that is online and in no call.
    pub fn idle_ext(&mut self) -> Option<usize> {
        for _ in 0..8 {
            let i = self.rng.gen_range(0..self.exts.len());
            if !self.exts[i].busy && self.exts[i].status == 0 {
                return Some(i);
            }
        }
        None
    }

    /// A random outside number.
    fn outside_number(&mut self) -> String {
        format!("0{:010}", self.rng.gen_range(0..10_000_000_000u64))
    }

    /// Starts a random internal, inbound or outbound call; false when no extension
    /// was free.
    fn random_call(&mut self) -> bool {
        let Some(x) = self.idle_ext() else {
            return false;
        };
        let kind: f64 = self.rng.gen();
        let (caller, callee) = if kind < 0.5 {
            // The callee may be offline or busy: that is a failed or busy call.
            let mut y = self.rng.gen_range(0..self.exts.len());
            if y == x || self.exts[y].busy {
                match self.idle_ext() {
                    Some(z) if z != x => y = z,
                    _ => return false,
                }
            }
            (Party::Ext(x), Party::Ext(y))
        } else if kind < 0.75 {
            (Party::Outside(self.outside_number()), Party::Ext(x))
        } else {
            (Party::Ext(x), Party::Outside(self.outside_number()))
        };
        let p: f64 = self.rng.gen();
        let plan = if p < 0.72 {
            Plan::Answer
        } else if p < 0.82 {
            Plan::NoAnswer
        } else if p < 0.90 {
            Plan::Busy
        } else {
            Plan::Cancel
        };
        self.start_call(caller, callee, plan, false);
        true
    }

    /// A device goes offline (unregisters) or an offline one comes back.
    fn toggle_device(&mut self) {
        let i = self.rng.gen_range(0..self.exts.len());
        let offline = self.exts.iter().filter(|e| e.status == 4).count();
        if self.exts[i].status == 4 {
            self.wire.stamp();
            self.set_status(i, 0);
        } else if !self.exts[i].busy
            && self.exts[i].status == 0
            && offline < self.exts.len() / 10 + 1
        {
            self.wire.stamp();
            self.set_status(i, 4);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::settings::SimConfig;
    use super::*;

    #[test]
    fn same_seed_same_events() {
        let cfg = SimConfig::default();
        let mut a = Pbx::new(&cfg);
        let mut b = Pbx::new(&cfg);
        a.generate(2000);
        b.generate(2000);
        let names = |p: &mut Pbx| {
            let (bytes, _) = p.wire.take();
            String::from_utf8_lossy(&bytes)
                .lines()
                .filter(|l| l.starts_with("Event:") || l.starts_with("Exten:"))
                .map(str::to_string)
                .collect::<Vec<_>>()
        };
        assert_eq!(names(&mut a), names(&mut b));
        assert_eq!(a.snapshot().extensions, b.snapshot().extensions);
    }

    #[test]
    fn queues_run_from_the_seed_too_and_answer_abandon_and_pause() {
        let cfg = SimConfig {
            queues: 2,
            ..SimConfig::default()
        };
        let mut a = Pbx::new(&cfg);
        let mut b = Pbx::new(&cfg);
        a.generate(5000);
        b.generate(5000);
        let queue_events = |p: &mut Pbx| {
            let (bytes, _) = p.wire.take();
            String::from_utf8_lossy(&bytes)
                .lines()
                .filter(|l| l.starts_with("Event: Queue") || l.starts_with("Event: Agent"))
                .map(str::to_string)
                .collect::<Vec<_>>()
        };
        let (ea, eb) = (queue_events(&mut a), queue_events(&mut b));
        assert_eq!(ea, eb);
        for name in [
            "QueueCallerJoin",
            "AgentCalled",
            "AgentConnect",
            "AgentComplete",
            "QueueCallerAbandon",
            "QueueMemberPause",
            "QueueMemberStatus",
        ] {
            assert!(
                ea.iter().any(|l| l == &format!("Event: {name}")),
                "{name} in 5000 generated events"
            );
        }
        let truth = a.snapshot().queues;
        assert_eq!(truth.len(), 2);
        assert!(truth.iter().all(|q| q.offered >= q.answered + q.abandoned));
    }
}
