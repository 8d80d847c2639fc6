//! The event filter of a live connection (`AMI_EVENT_FILTER`): installed right
//! after login, before the resync, so the PBX stops formatting and sending the
//! events nothing here reads.
//!
//! A PBX may refuse it (`Filter` needs the `system` write class, which a
//! read-only AMI user lacks). Filters cannot be removed, and a half-installed
//! whitelist would pass only some of the events the state needs, so any refusal
//! ends the session and the next login goes without a filter.

use std::time::Duration;

use super::protocol::Pending;
use super::ConnectionActor;
use crate::actors::messages::AmiReply;

/// How long a `Filter` reply may take (a missing one is only logged: the keep-alive
/// decides whether the peer is alive).
const FILTER_TIMEOUT: Duration = Duration::from_secs(10);

impl ConnectionActor {
    /// Sends the `Filter` actions of the configured filter (none when off or when
    /// this PBX refused one before).
    pub(super) fn install_filter(&mut self) {
        if self.memory.filter_refused {
            return;
        }
        let actions = self.settings.event_filter.actions();
        if actions.is_empty() {
            return;
        }
        log::info!(
            "pbx {}: asking for {} event names ({} filters)",
            self.pbx,
            self.settings.event_filter.names().len(),
            actions.len()
        );
        for action in actions {
            let _ = self.send_action(action, Pending::Filter, FILTER_TIMEOUT);
        }
    }

    /// A `Filter` reply; true when it was refused and the session must end.
    pub(super) fn on_filter_reply(&mut self, reply: &AmiReply) -> bool {
        let response = match reply {
            AmiReply::Response(r) => r,
            AmiReply::List { response, .. } => response,
        };
        if response.is_success() {
            return false;
        }
        log::warn!(
            "pbx {}: the PBX refused the event filter ({}); reconnecting without one \
             (set AMI_EVENT_FILTER=off, or grant the AMI user the `system` write class)",
            self.pbx,
            response.message().unwrap_or("no message")
        );
        self.memory.filter_refused = true;
        true
    }
}
