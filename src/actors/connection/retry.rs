//! Backoff after a failure: how long to wait (the login schedule after a refused
//! login, the connection schedule otherwise), what the status shows meanwhile
//! (`backingOff` or `loginRefused` with `nextAttempt`), and the timer that tries
//! again.

use std::time::Duration;

use actix::prelude::*;
use chrono::Utc;

use super::link::LinkState;
use super::ConnectionActor;
use crate::ami::AmiError;
use crate::model::AmiConnectionState;

impl ConnectionActor {
    /// A login attempt failed: wait on the schedule that fits the failure.
    pub(super) fn connect_failed(&mut self, err: AmiError, ctx: &mut Context<Self>) {
        let refused = matches!(err, AmiError::LoginRefused(_));
        let delay = if refused {
            self.login_backoff.next_delay()
        } else {
            self.backoff.next_delay()
        };
        let text = err.to_string();
        let address = self.settings.endpoint.address();
        let secs = delay.as_secs_f64();
        if refused {
            log::error!(
                "pbx {}: login to {address} refused ({text}); next attempt in {secs:.1} s",
                self.pbx
            );
        } else {
            log::warn!(
                "pbx {}: cannot connect to {address} ({text}); next attempt in {secs:.1} s",
                self.pbx
            );
        }
        self.schedule_reconnect(delay, refused, text, ctx);
    }

    /// Shows the wait (`backingOff` or `loginRefused`, with `nextAttempt`) and
    /// arms the reconnect.
    fn schedule_reconnect(
        &mut self,
        delay: Duration,
        refused: bool,
        error: String,
        ctx: &mut Context<Self>,
    ) {
        if let Ok(mut s) = self.status.write() {
            s.next_attempt = chrono::Duration::from_std(delay)
                .ok()
                .map(|d| Utc::now() + d);
        }
        let retry = ctx.run_later(delay, |act, ctx| act.connect(ctx));
        if refused {
            self.state = LinkState::LoginRefused { retry };
            self.set_status(AmiConnectionState::LoginRefused, Some(error));
        } else {
            self.state = LinkState::BackingOff { retry };
            self.set_status(AmiConnectionState::BackingOff, Some(error));
        }
    }

    /// A logged-in socket was lost: wait (at least 200 ms after a PBX announced
    /// its shutdown), then log in again.
    pub(super) fn reconnect_after_loss(&mut self, reason: &str, ctx: &mut Context<Self>) {
        let delay = if self.memory.shutdown_seen {
            // A restarting Asterisk accepts connections again after about half a second.
            self.backoff.next_delay().max(Duration::from_millis(200))
        } else {
            self.backoff.next_delay()
        };
        log::warn!(
            "pbx {}: connection lost ({reason}); reconnecting in {:.2} s",
            self.pbx,
            delay.as_secs_f64()
        );
        self.schedule_reconnect(delay, false, reason.to_string(), ctx);
    }
}
