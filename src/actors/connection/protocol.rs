//! The protocol side of the connection: what is done with what the PBX says —
//! live events batched to the router, replies to whoever waits for them, the
//! resync after each login, and the PBX's own lifecycle events (`FullyBooted`,
//! `Shutdown`) that tell a restart from a reconnect.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use bytes::BytesMut;
use chrono::Utc;
use tokio::sync::oneshot;

use super::link::Teardown;
use super::ConnectionActor;
use crate::actors::messages::{
    AmiReply, ConfirmExtensions, EventBatch, QueueList, ReadState, ResyncChannels, ResyncQueues,
};
use crate::ami::{event_names, Action, AmiError, AmiMessage, Correlated, Event, Frame};
use crate::model::{AmiConnectionState, HintStatus};

/// Who waits for a reply.
pub(super) enum Pending {
    /// A caller of [`crate::actors::messages::SendAction`].
    Caller(oneshot::Sender<Result<AmiReply, AmiError>>),
    /// The keep-alive: unanswered in time means a dead peer.
    Ping,
    /// Our Logoff; `done` (when someone waits) learns that the PBX answered it.
    Logoff { done: Option<oneshot::Sender<()>> },
    /// The channel list asked for after login.
    ResyncChannels,
    /// The extension list asked for after login.
    ResyncExtensions,
    /// One question about an extension's display name.
    Name(Box<super::names::NameAsk>),
    /// A queue list asked for after login.
    ResyncQueues(QueueList),
    /// One `Filter` action of the event filter.
    Filter,
}

/// Tells a waiting caller why no reply will come (the others wait for nothing).
pub(super) fn fail(pending: Pending, err: AmiError) {
    if let Pending::Caller(tx) = pending {
        let _ = tx.send(Err(err));
    }
}

impl ConnectionActor {
    /// Writes `action` with a fresh ActionID and remembers who waits for its reply.
    pub(super) fn send_action(
        &mut self,
        action: Action,
        pending: Pending,
        timeout: Duration,
    ) -> Result<(), AmiError> {
        if self.socket_mut().is_none() {
            fail(pending, AmiError::Closed("not connected"));
            return Err(AmiError::Closed("not connected"));
        }
        let action = self
            .correlator
            .register(action, pending, Instant::now() + timeout);
        let mut buf = BytesMut::with_capacity(128);
        action.encode_into(&mut buf)?;
        if let Some(socket) = self.socket_mut() {
            socket.writer.write(buf.freeze());
        }
        Ok(())
    }

    /// Asks for everything that may have changed while not connected.
    pub(super) fn resync(&mut self) {
        let timeout = Duration::from_secs(30);
        let _ = self.send_action(
            Action::core_show_channels(),
            Pending::ResyncChannels,
            timeout,
        );
        let _ = self.send_action(
            Action::extension_state_list(),
            Pending::ResyncExtensions,
            timeout,
        );
        let _ = self.send_action(
            Action::queue_status(),
            Pending::ResyncQueues(QueueList::Status),
            timeout,
        );
        let _ = self.send_action(
            Action::queue_summary(),
            Pending::ResyncQueues(QueueList::Summary),
            timeout,
        );
    }

    /// Counts by Asterisk's own event names; any other name counts as `other`, so a PBX
    /// inventing names cannot grow the metric registry (or this cache).
    fn count_event(&mut self, event: &Event) {
        self.count_label(event_names::label(event.name()));
    }

    /// Counts one event under its metric label (skipped events arrive as labels).
    fn count_label(&mut self, name: &'static str) {
        if let Some(c) = self.counters.get(name) {
            c.inc();
            return;
        }
        let c = self.metrics.events.with_label_values(&[&self.pbx, name]);
        c.inc();
        self.counters.insert(name, c);
    }

    fn on_live_event(&mut self, event: &Event) {
        match event.name() {
            "FullyBooted" => self.on_fully_booted(event),
            "Shutdown" => {
                let restart = event
                    .get("Restart")
                    .is_some_and(|r| r.eq_ignore_ascii_case("true"));
                log::warn!(
                    "pbx {}: PBX is shutting down ({}{})",
                    self.pbx,
                    event.get("Shutdown").unwrap_or("?"),
                    if restart { ", restarting" } else { "" }
                );
                self.memory.shutdown_seen = true;
            }
            _ => {}
        }
    }

    /// Tells a PBX restart from a plain reconnect: after a restart the PBX's uptime is
    /// shorter than the uptime it reported last time plus the time since.
    fn on_fully_booted(&mut self, event: &Event) {
        let Some(uptime) = event
            .get("Uptime")
            .and_then(|u| u.trim().parse::<u64>().ok())
        else {
            return;
        };
        let restarted = match self.memory.last_boot {
            Some((prev, at)) => {
                let expected = prev + at.elapsed().as_secs();
                uptime + 2 < expected || self.memory.shutdown_seen
            }
            None => false,
        };
        self.memory.last_boot = Some((uptime, Instant::now()));
        self.memory.shutdown_seen = false;
        if let Ok(mut s) = self.status.write() {
            s.pbx_uptime_secs = Some(uptime);
            s.pbx_restarted = restarted;
        }
        if restarted {
            log::warn!(
                "pbx {}: the PBX restarted (uptime {uptime} s); state is being rebuilt",
                self.pbx
            );
        } else {
            log::info!("pbx {}: PBX fully booted, uptime {uptime} s", self.pbx);
        }
        self.set_status(AmiConnectionState::Connected, None);
    }

    /// Handles one socket read: events to the router in wire order with the
    /// replies between them, and the end of the socket on a read error or a
    /// `Shutdown` announcement.
    pub(super) fn on_frames(
        &mut self,
        frames: Vec<Result<Frame, std::io::Error>>,
        ctx: &mut Context<Self>,
    ) {
        let mut events = Vec::with_capacity(frames.len());
        let mut failure = None;
        let mut going_away = false;
        let mut refused = false;
        let now_secs = Utc::now().timestamp_micros() as f64 / 1e6;
        let receipt = self
            .metrics
            .event_receipt_seconds
            .with_label_values(&[&self.pbx]);
        for frame in frames {
            match frame {
                Ok(Frame::Message(raw)) => match AmiMessage::classify(raw) {
                    Ok(msg) => match self.correlator.accept(msg) {
                        Correlated::Live(event) => {
                            self.count_event(&event);
                            if let Some(ts) = event.timestamp() {
                                receipt.observe((now_secs - ts).max(0.0));
                            }
                            self.on_live_event(&event);
                            going_away |= event.name() == "Shutdown";
                            events.push(event);
                        }
                        Correlated::Reply { token, response } => {
                            self.send_events(&mut events);
                            refused |= self.on_reply(token, AmiReply::Response(response));
                        }
                        Correlated::List {
                            token,
                            response,
                            items,
                            ..
                        } => {
                            self.send_events(&mut events);
                            refused |= self.on_reply(token, AmiReply::List { response, items });
                        }
                        Correlated::Absorbed | Correlated::Stale(_) => {}
                    },
                    Err(e) => {
                        self.metrics.malformed.with_label_values(&[&self.pbx]).inc();
                        log::warn!("pbx {}: unclassifiable message: {e}", self.pbx);
                    }
                },
                Ok(Frame::Malformed(e)) => {
                    self.metrics.malformed.with_label_values(&[&self.pbx]).inc();
                    log::warn!("pbx {}: malformed input skipped: {e}", self.pbx);
                }
                Ok(Frame::Skipped(label)) => {
                    self.count_label(label);
                    self.skipped += 1;
                }
                Ok(Frame::Banner(_)) => {}
                Err(e) => failure = Some(e),
            }
        }
        self.send_events(&mut events);
        if let Some(e) = failure {
            self.teardown(Teardown::Lost(format!("read error: {e}")), ctx);
        } else if refused {
            let reason = "the PBX refused the event filter";
            self.teardown(Teardown::Lost(reason.to_string()), ctx);
        } else if going_away {
            // The PBX is going away: nothing more is sent on this socket (no Ping, no
            // login), even if the peer keeps it open; reconnect with backoff instead.
            let reason = "the PBX announced a shutdown";
            self.teardown(Teardown::Lost(reason.to_string()), ctx);
        }
    }

    /// Hands the events read so far to the router as one batch. Called before any
    /// reply is dispatched too: a resync list must reach the router after the events
    /// that came before it on the wire (a Hangup read just ahead of the channel list
    /// would otherwise arrive after the resync had closed its call as lost, and start
    /// a new, never-ending call).
    fn send_events(&mut self, events: &mut Vec<Event>) {
        if events.is_empty() && self.skipped == 0 {
            return;
        }
        if let Ok(mut s) = self.status.write() {
            s.last_event = Some(Utc::now());
        }
        if let Some(h) = &self.handle {
            h.handled_n(events.len() as u64);
        }
        let batch = EventBatch {
            pbx: self.pbx.clone(),
            events: std::mem::take(events),
            skipped: std::mem::take(&mut self.skipped),
            ticket: self.ticket.clone(),
        };
        // do_send never waits; the ticket bounds how many such reads are queued.
        self.targets.events.do_send(batch);
    }

    /// Hands a reply to whoever waits; true when it ends the session (a refused filter).
    fn on_reply(&mut self, token: Pending, reply: AmiReply) -> bool {
        match token {
            Pending::Filter => return self.on_filter_reply(&reply),
            Pending::Caller(tx) => {
                let _ = tx.send(Ok(reply));
            }
            Pending::Ping => {
                if let Some(socket) = self.socket_mut() {
                    socket.ping_outstanding = false;
                }
            }
            Pending::Logoff { done } => {
                if let Some(done) = done {
                    let _ = done.send(());
                }
            }
            Pending::ResyncChannels => {
                let items = match reply {
                    AmiReply::List { items, .. } => items,
                    AmiReply::Response(_) => Vec::new(),
                };
                log::info!(
                    "pbx {}: resync: {} channels up on the PBX",
                    self.pbx,
                    items.len()
                );
                self.targets.channels.do_send(ResyncChannels {
                    pbx: Arc::clone(&self.pbx),
                    items,
                });
            }
            Pending::Name(ask) => self.on_name_reply(*ask, Some(reply)),
            Pending::ResyncExtensions => {
                let states: Vec<ReadState> = match reply {
                    AmiReply::List { items, .. } => items.iter().filter_map(read_state).collect(),
                    AmiReply::Response(r) => {
                        log::info!(
                            "pbx {}: resync: no extension states ({})",
                            self.pbx,
                            r.message().unwrap_or("no message")
                        );
                        Vec::new()
                    }
                };
                let listed = states
                    .iter()
                    .map(|s| (s.exten.clone(), s.hint.clone()))
                    .collect();
                self.targets.extensions.do_send(ConfirmExtensions {
                    pbx: Arc::clone(&self.pbx),
                    states,
                    at: Utc::now(),
                });
                self.read_names(listed);
            }
            Pending::ResyncQueues(list) => match reply {
                AmiReply::List { items, .. } => {
                    self.targets.queues.do_send(ResyncQueues {
                        pbx: Arc::clone(&self.pbx),
                        list,
                        items,
                    });
                }
                // No app_queue (or not allowed to ask): the book keeps what events
                // tell it; an empty list would wrongly remove every queue.
                AmiReply::Response(r) => log::info!(
                    "pbx {}: resync: no queue list ({})",
                    self.pbx,
                    r.message().unwrap_or("no message")
                ),
            },
        }
        false
    }
}

/// An `ExtensionStatus` list item (or `ExtensionState` reply fields) as a [`ReadState`].
pub fn read_state(item: &Event) -> Option<ReadState> {
    read_state_fields(|k| item.get(k))
}

/// Builds a [`ReadState`] from any header lookup (events and replies share the names).
pub fn read_state_fields<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Option<ReadState> {
    let exten = get("Exten").filter(|e| !e.is_empty())?;
    let status = get("Status")?.trim().parse::<i32>().ok()?;
    Some(ReadState {
        exten: exten.to_string(),
        context: get("Context").unwrap_or("").to_string(),
        hint: get("Hint").filter(|h| !h.is_empty()).map(str::to_string),
        status: HintStatus(status),
        status_text: get("StatusText").map(str::to_string),
    })
}
