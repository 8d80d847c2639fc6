//! A WebSocket subscriber that keeps reading in the background (so it never lags
//! and is never conflated) and records every message, for tests that break things
//! and then check what a dashboard was told.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use serde_json::Value;

use super::service::{WsClient, WsEvent};

/// What the recorder saw.
#[derive(Default)]
struct Seen {
    messages: Vec<Value>,
    closed: Option<WsEvent>,
}

/// Records a [`WsClient`]'s messages on a local task (actix test runtime).
#[derive(Clone)]
pub struct WsRecorder {
    seen: Rc<RefCell<Seen>>,
}

/// The recorder stops on its own after this long, so no task outlives a test.
const RECORD_AT_MOST: Duration = Duration::from_secs(180);

impl WsRecorder {
    /// Starts reading `client` until it closes (or [`RECORD_AT_MOST`]).
    pub fn start(mut client: WsClient) -> Self {
        let seen = Rc::new(RefCell::new(Seen::default()));
        let task_seen = seen.clone();
        actix_rt::spawn(async move {
            let end = tokio::time::Instant::now() + RECORD_AT_MOST;
            loop {
                let left = end.saturating_duration_since(tokio::time::Instant::now());
                if left.is_zero() {
                    return;
                }
                match client.next_within(left).await {
                    Some(WsEvent::Json(v)) => task_seen.borrow_mut().messages.push(v),
                    Some(other) => {
                        task_seen.borrow_mut().closed = Some(other);
                        return;
                    }
                    None => return,
                }
            }
        });
        Self { seen }
    }

    /// Every message so far.
    pub fn messages(&self) -> Vec<Value> {
        self.seen.borrow().messages.clone()
    }

    /// The `state` of every `ami.connection` message so far, in order.
    pub fn connection_states(&self) -> Vec<String> {
        self.seen
            .borrow()
            .messages
            .iter()
            .filter(|m| m["type"] == "ami.connection")
            .map(|m| m["data"]["state"].as_str().unwrap_or("?").to_string())
            .collect()
    }

    /// The `ami.connection` messages so far.
    pub fn connection_messages(&self) -> Vec<Value> {
        self.seen
            .borrow()
            .messages
            .iter()
            .filter(|m| m["type"] == "ami.connection")
            .cloned()
            .collect()
    }

    /// How the connection ended (close code and reason), once it has.
    pub fn close_code(&self) -> Option<Option<u16>> {
        match &self.seen.borrow().closed {
            Some(WsEvent::Closed(code, _)) => Some(*code),
            Some(_) => Some(None),
            None => None,
        }
    }
}
