//! The router's extension actors: found or started on first sight up to the PBX's
//! cap, stopped when the PBX removes the hint, and confirmed by a resync or refresh.
//!
//! The cap exists because extension numbers come from the PBX: a misbehaving one
//! (or a flood of `PeerStatus` for invented peers) could otherwise start an actor per
//! number until memory runs out. Past the cap, events of new extensions are refused
//! and counted (`switchboard_extensions_refused_total`), with one warning in the log
//! rather than one per event; extensions already tracked are unaffected.

use actix::prelude::*;
use chrono::Utc;

use super::{Confirmed, EventRouterActor};
use crate::actors::backpressure::BatchTicket;
use crate::actors::extension::ExtensionActor;
use crate::actors::messages::{
    Change, ConfirmExtensions, ConfirmState, ExtensionCorrection, ExtensionEvent, NamesRead,
    Publish, SetName,
};
use crate::ami::Event;
use crate::state::extension::ExtensionModel;

impl EventRouterActor {
    /// The actor of `exten`, started on first sight; `None` (counted) when the PBX
    /// already has `max_extensions` of them.
    pub(super) fn extension(&mut self, exten: &str) -> Option<Addr<ExtensionActor>> {
        match self.extensions.get(exten) {
            Some(addr) if addr.connected() => return Some(addr.clone()),
            // A stopped actor's slot is reused: no new extension.
            Some(_) => {}
            None if self.extensions.len() >= self.max_extensions => {
                self.refuse(exten);
                return None;
            }
            None => {}
        }
        let addr = ExtensionActor::new(
            &self.pbx,
            exten,
            self.publish.clone(),
            self.registry.clone(),
        )
        .start();
        self.extensions.insert(exten.to_string(), addr.clone());
        Some(addr)
    }

    fn refuse(&mut self, exten: &str) {
        self.refused_extensions += 1;
        self.metrics
            .extensions_refused
            .with_label_values(&[&self.pbx])
            .inc();
        if !self.cap_warned {
            self.cap_warned = true;
            log::warn!(
                "pbx {}: {} extensions tracked, the most MAX_EXTENSIONS_PER_PBX allows; \
                 events of new ones (first: {exten:?}) are refused and counted in \
                 switchboard_extensions_refused_total",
                self.pbx,
                self.extensions.len()
            );
        }
    }

    /// The PBX removed `exten`'s hint: its actor publishes the removal and stops, and
    /// the router forgets it (and the devices that pointed at it). An extension with
    /// no actor has its removal published straight away, so a stored extension
    /// restored into the live view leaves it too.
    pub(super) fn remove_extension(
        &mut self,
        exten: &str,
        event: Event,
        ticket: &Option<BatchTicket>,
    ) {
        match self.extensions.remove(exten) {
            Some(addr) if addr.connected() => addr.do_send(ExtensionEvent {
                event,
                ticket: ticket.clone(),
            }),
            _ => {
                let mut model = ExtensionModel::new(&self.pbx, exten, Utc::now());
                if model.apply(&event, Utc::now()).is_some() {
                    let ext = std::sync::Arc::new(model.extension().clone());
                    self.publish.do_send(
                        Publish::new(Change::Extension(ext), event.timestamp())
                            .with_ticket(ticket.clone()),
                    );
                }
            }
        }
        self.devices.retain(|_, owner| owner != exten);
    }

    /// Remembers which devices make up `exten`'s hint, so their `DeviceStateChange`s
    /// reach it.
    pub(super) fn learn_hint(&mut self, event: &Event, exten: &str) {
        if let Some(hint) = event.get("Hint") {
            for device in hint.split('&').filter(|d| !d.is_empty()) {
                if self.devices.get(device).map(String::as_str) != Some(exten) {
                    self.devices.insert(device.to_string(), exten.to_string());
                }
            }
        }
    }
}

impl Handler<ConfirmExtensions> for EventRouterActor {
    type Result = ResponseFuture<Vec<ExtensionCorrection>>;

    fn handle(&mut self, msg: ConfirmExtensions, _: &mut Context<Self>) -> Self::Result {
        let mut asks = Vec::with_capacity(msg.states.len());
        let mut names = Vec::with_capacity(msg.states.len());
        for state in msg.states {
            let exten = state.exten.clone();
            let Some(addr) = self.extension(&exten) else {
                continue;
            };
            if let Some(hint) = &state.hint {
                for device in hint.split('&').filter(|d| !d.is_empty()) {
                    self.devices.insert(device.to_string(), state.exten.clone());
                }
            }
            names.push(exten.clone());
            // Queued now, not when the reply future is first polled: an event read
            // after this list must reach the extension after its confirmation, or
            // the (older) listed state would overwrite the event's.
            let ask = addr.send(ConfirmState { state, at: msg.at });
            asks.push(async move {
                let correction = ask.await.ok().flatten();
                correction.map(|c| ExtensionCorrection {
                    extension: exten.to_string(),
                    believed: c.believed,
                    actual: c.actual,
                })
            });
        }
        let confirmed = self.confirmed.clone();
        let pbx = msg.pbx.clone();
        let at = msg.at;
        let metrics = self.metrics.clone();
        Box::pin(async move {
            let corrections: Vec<ExtensionCorrection> = futures::future::join_all(asks)
                .await
                .into_iter()
                .flatten()
                .collect();
            metrics.refresh_corrections.inc_by(corrections.len() as u64);
            confirmed.do_send(Confirmed {
                pbx,
                extensions: names,
                at,
            });
            corrections
        })
    }
}

impl Handler<NamesRead> for EventRouterActor {
    type Result = ();

    /// Only extensions already tracked take a name: a name never starts an actor
    /// (the hint list that named them did, and a removed hint stays removed).
    fn handle(&mut self, msg: NamesRead, _: &mut Context<Self>) {
        for (exten, name) in msg.names {
            if let Some(addr) = self.extensions.get(&exten).filter(|a| a.connected()) {
                addr.do_send(SetName(name));
            }
        }
    }
}
