//! What one client is to the action handlers: its [`Session`] state, the [`Reply`] an
//! action produces, and the login check. Below both the session loop and the actions,
//! so the loop calls the actions without the actions pointing back at the loop.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use log::{debug, info};
use tokio::sync::broadcast;

use super::filter::SessionFilter;
use super::shared::Shared;
use super::wire::Wire;
use crate::ami::{md5_key, RawMessage};

/// Per-connection state the action handlers read and change.
pub(super) struct Session {
    /// Logged in: may run actions and receives events.
    pub logged_in: bool,
    /// The challenge handed out by `Challenge`, for an MD5 login.
    pub challenge: Option<String>,
    /// The event feed, once logged in with events on.
    pub events: Option<broadcast::Receiver<Bytes>>,
    /// The client, for logs.
    pub peer: SocketAddr,
    /// The event filters it installed (`Action: Filter`).
    pub filter: SessionFilter,
}

/// What an action produced: bytes for this client and whether to close afterwards.
pub(super) struct Reply {
    pub wire: Wire,
    pub close: bool,
}

/// Checks a `Login` against the configured user: plain `Secret`, or `AuthType: MD5`
/// with `Key` = md5(challenge + secret).
pub(super) fn login_ok(shared: &Shared, s: &Session, m: &RawMessage) -> bool {
    if shared.refuse_logins.load(Ordering::Relaxed) {
        return false;
    }
    let user_ok = m
        .get("Username")
        .is_some_and(|u| u.eq_ignore_ascii_case(&shared.cfg.username));
    if !user_ok {
        return false;
    }
    let md5 = m
        .get("AuthType")
        .is_some_and(|a| a.eq_ignore_ascii_case("md5"));
    if md5 {
        match (&s.challenge, m.get("Key")) {
            (Some(ch), Some(key)) => key.eq_ignore_ascii_case(&md5_key(ch, &shared.cfg.secret)),
            _ => false,
        }
    } else {
        m.get("Secret") == Some(shared.cfg.secret.as_str())
    }
}

/// Logs a login result once, naming the user and client, never the secret.
pub(super) fn log_login(ok: bool, user: &str, peer: SocketAddr) {
    if ok {
        debug!("simulator: {user} logged in from {peer}");
    } else {
        info!("simulator: login of {user:?} from {peer} refused");
    }
}
