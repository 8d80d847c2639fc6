//! The messages a connection answers: socket reads and write errors, actions sent
//! on behalf of others, status, graceful shutdown and cluster fencing.

use std::time::Duration;

use actix::io::WriteHandler;
use actix::prelude::*;
use tokio::sync::oneshot;

use super::link::{LinkState, Teardown};
use super::protocol::Pending;
use super::ConnectionActor;
use crate::actors::backpressure::BatchTicket;
use crate::actors::messages::{AmiReply, InjectPanic, SendAction};
use crate::ami::{Action, AmiError, Frame};
use crate::model::ConnectionStatus;
use crate::supervision::guarded;

/// One socket read's frames and its place in the router's bounded queue.
type GatedRead = (Vec<Result<Frame, std::io::Error>>, BatchTicket);

impl StreamHandler<GatedRead> for ConnectionActor {
    fn handle(&mut self, (frames, ticket): GatedRead, ctx: &mut Context<Self>) {
        // Every batch of this read carries the ticket; it returns its permit once the
        // router has routed them all (at once when the read held no event).
        self.ticket = Some(ticket);
        guarded(self, ctx, "AMI frames", |act, ctx| {
            act.on_frames(frames, ctx)
        });
        self.ticket = None;
    }

    fn finished(&mut self, ctx: &mut Context<Self>) {
        let reason = if self.memory.shutdown_seen {
            "the PBX shut down"
        } else {
            "the PBX closed the connection"
        };
        self.teardown(Teardown::Lost(reason.to_string()), ctx);
    }
}

impl WriteHandler<std::io::Error> for ConnectionActor {
    fn error(&mut self, err: std::io::Error, ctx: &mut Context<Self>) -> Running {
        self.teardown(Teardown::Lost(format!("write error: {err}")), ctx);
        Running::Continue
    }

    fn finished(&mut self, _ctx: &mut Context<Self>) {}
}

impl Handler<SendAction> for ConnectionActor {
    type Result = ResponseFuture<Result<AmiReply, AmiError>>;

    fn handle(&mut self, msg: SendAction, _ctx: &mut Context<Self>) -> Self::Result {
        let (tx, rx) = oneshot::channel();
        let timeout = msg.timeout;
        let sent = self.send_action(msg.action, Pending::Caller(tx), timeout);
        Box::pin(async move {
            sent?;
            match rx.await {
                Ok(reply) => reply,
                Err(_) => Err(AmiError::Closed("waiting for a reply")),
            }
            .map_err(|e| match e {
                AmiError::Timeout(_, what) => AmiError::Timeout(timeout, what),
                other => other,
            })
        })
    }
}

impl Handler<InjectPanic> for ConnectionActor {
    type Result = ();

    fn handle(&mut self, _: InjectPanic, ctx: &mut Context<Self>) {
        guarded(self, ctx, "InjectPanic", |_, _| {
            panic!("injected panic (fault test)")
        });
    }
}

/// Asks for the connection's current status.
#[derive(Message)]
#[rtype(result = "ConnectionStatus")]
pub struct GetStatus;

impl Handler<GetStatus> for ConnectionActor {
    type Result = MessageResult<GetStatus>;

    fn handle(&mut self, _: GetStatus, _: &mut Context<Self>) -> Self::Result {
        let status = self
            .status
            .read()
            .map(|s| s.clone())
            .unwrap_or_else(|p| p.into_inner().clone());
        MessageResult(status)
    }
}

/// Closes the connection politely (Logoff) for a graceful shutdown.
#[derive(Message)]
#[rtype(result = "()")]
pub struct LogOff;

impl Handler<LogOff> for ConnectionActor {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, _: LogOff, ctx: &mut Context<Self>) -> Self::Result {
        let socket = match std::mem::replace(&mut self.state, LinkState::Idle) {
            LinkState::LoggedIn(s) => Some(s),
            LinkState::Stopping { socket } => socket,
            LinkState::BackingOff { retry } | LinkState::LoginRefused { retry } => {
                ctx.cancel_future(retry);
                None
            }
            LinkState::Idle | LinkState::Standby | LinkState::Connecting { .. } => None,
        };
        self.state = LinkState::Stopping { socket };
        let (tx, rx) = oneshot::channel();
        let pending = Pending::Logoff { done: Some(tx) };
        let timeout = Duration::from_millis(500);
        let sent = self.send_action(Action::logoff(), pending, timeout).is_ok();
        Box::pin(
            async move {
                if sent {
                    let _ = tokio::time::timeout(Duration::from_millis(600), rx).await;
                }
            }
            .into_actor(self)
            .map(|_, act, ctx| {
                // Not `ctx.stop()`: the supervisor would restart the actor, and a
                // restarted connection logs in again. It stays idle until its
                // arbiter stops.
                act.teardown(Teardown::Stopped, ctx);
            }),
        )
    }
}

/// Cluster mode: this instance took (`true`) or lost (`false`) the PBX's lease.
/// Going standby stops reading at once (no event of a fenced instance reaches the
/// router), sends Logoff and closes the socket; going active connects and logs in
/// (the login's resync then rebuilds the state).
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct SetActive(pub bool);

impl Handler<SetActive> for ConnectionActor {
    type Result = ();

    fn handle(&mut self, msg: SetActive, ctx: &mut Context<Self>) {
        let standby = matches!(self.state, LinkState::Standby);
        if msg.0 {
            if standby {
                log::info!("pbx {}: lease held here; connecting", self.pbx);
                self.state = LinkState::Idle;
                self.backoff.reset();
                self.connect(ctx);
            }
            return;
        }
        if !standby {
            self.teardown(Teardown::Fenced, ctx);
        }
    }
}
