//! Display names after each login: once the hint list is in, each listed extension's
//! name is read from the sources `state::names` orders (names file, AstDB, the hint
//! device's endpoint or peer), [`NAME_WINDOW`] actions in flight on the main
//! connection, and handed to the router in groups so the board fills in while the
//! rest are read.
//!
//! Names never hold up the resync: the extension list's confirmation is queued first
//! (see the ordering rules), names follow as their own message.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use super::protocol::Pending;
use super::ConnectionActor;
use crate::actors::messages::{AmiReply, NamesRead};
use crate::model::DisplayName;
use crate::state::names::{plan, NameQuery};

/// Name actions in flight at once on the main connection: enough to hide the round
/// trip, few enough that live events are never stuck behind a wall of replies.
pub const NAME_WINDOW: usize = 16;

/// How many names are gathered before they go to the router.
const NAMES_PER_MESSAGE: usize = 64;

/// How long one name action may take.
const NAME_TIMEOUT: Duration = Duration::from_secs(10);

/// One extension's remaining questions.
pub(super) struct NameAsk {
    exten: String,
    query: NameQuery,
    rest: VecDeque<NameQuery>,
}

/// The names being read after the current login.
#[derive(Default)]
pub(super) struct NameReading {
    todo: VecDeque<(String, VecDeque<NameQuery>)>,
    in_flight: usize,
    done: Vec<(String, Option<DisplayName>)>,
}

impl ConnectionActor {
    /// Starts reading the names of the listed extensions (`(exten, hint)`),
    /// replacing a reading a previous login left unfinished.
    pub(super) fn read_names(&mut self, listed: Vec<(String, Option<String>)>) {
        let mut reading = NameReading::default();
        for (exten, hint) in listed {
            match plan(&self.settings.names, &self.pbx, &exten, hint.as_deref()) {
                Ok(found) => reading.done.push((exten, Some(found))),
                Err(queries) => reading.todo.push_back((exten, queries.into())),
            }
        }
        self.names = reading;
        self.pump_names();
    }

    /// Sends questions up to the window and hands finished names on.
    fn pump_names(&mut self) {
        while self.names.in_flight < NAME_WINDOW {
            let Some((exten, mut queries)) = self.names.todo.pop_front() else {
                break;
            };
            match queries.pop_front() {
                Some(query) => self.ask_name(NameAsk {
                    exten,
                    query,
                    rest: queries,
                }),
                None => self.names.done.push((exten, None)),
            }
        }
        let finished = self.names.todo.is_empty() && self.names.in_flight == 0;
        if self.names.done.len() >= NAMES_PER_MESSAGE || (finished && !self.names.done.is_empty()) {
            let names = std::mem::take(&mut self.names.done);
            log::debug!("pbx {}: {} names read", self.pbx, names.len());
            self.targets.names.do_send(NamesRead {
                pbx: Arc::clone(&self.pbx),
                names,
            });
        }
    }

    fn ask_name(&mut self, ask: NameAsk) {
        let action = ask.query.action.clone();
        self.names.in_flight += 1;
        if self
            .send_action(action, Pending::Name(Box::new(ask)), NAME_TIMEOUT)
            .is_err()
        {
            // Not connected: the next login starts a new reading.
            self.names.in_flight -= 1;
        }
    }

    /// The answer (or `None` after a timeout) to one name question: its name, or
    /// the next source's question.
    pub(super) fn on_name_reply(&mut self, ask: NameAsk, reply: Option<AmiReply>) {
        self.names.in_flight = self.names.in_flight.saturating_sub(1);
        let found = reply.and_then(|r| match r {
            AmiReply::Response(response) => ask.query.read(&response, &[]),
            AmiReply::List { response, items } => ask.query.read(&response, &items),
        });
        let NameAsk {
            exten, mut rest, ..
        } = ask;
        match (found, rest.pop_front()) {
            (Some(name), _) => self.names.done.push((exten, Some(name))),
            (None, Some(query)) => self.ask_name(NameAsk { exten, query, rest }),
            (None, None) => self.names.done.push((exten, None)),
        }
        self.pump_names();
    }
}
