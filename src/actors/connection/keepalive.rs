//! Keep-alive and dead-peer detection: a Ping every `ping_interval`, and a Ping
//! left unanswered past `ping_timeout` (a half-open socket or a frozen PBX) ends the
//! socket like any other loss. The same tick fails other overdue actions.

use std::time::{Duration, Instant};

use actix::prelude::*;

use super::link::Teardown;
use super::protocol::{fail, Pending};
use super::ConnectionActor;
use crate::ami::{Action, AmiError};

impl ConnectionActor {
    /// Fails the actions whose reply is overdue; an overdue Ping means a dead peer.
    pub(super) fn tick(&mut self, ctx: &mut Context<Self>) {
        let mut dead = false;
        for (id, pending) in self.correlator.expire(Instant::now()) {
            match pending {
                Pending::Ping => dead = true,
                Pending::ResyncChannels | Pending::ResyncExtensions | Pending::ResyncQueues(_) => {
                    log::warn!("pbx {}: resync list {id} timed out", self.pbx);
                }
                Pending::Name(ask) => self.on_name_reply(*ask, None),
                Pending::Filter => {
                    log::warn!("pbx {}: event filter {id} unanswered", self.pbx);
                }
                other => fail(
                    other,
                    AmiError::Timeout(Duration::ZERO, "waiting for a reply"),
                ),
            }
        }
        if dead {
            let reason = "no reply to Ping in time (peer frozen or half-open)";
            self.teardown(Teardown::Lost(reason.to_string()), ctx);
        }
    }

    /// Sends a keep-alive Ping unless one is still unanswered.
    pub(super) fn ping(&mut self) {
        let timeout = self.settings.ping_timeout;
        let Some(socket) = self.socket_mut() else {
            return;
        };
        if socket.ping_outstanding {
            return;
        }
        socket.ping_outstanding = true;
        let _ = self.send_action(Action::ping(), Pending::Ping, timeout);
    }
}
