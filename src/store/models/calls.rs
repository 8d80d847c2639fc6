//! Rows of `active_calls`, `calls` and `call_legs`.
//!
//! An active call is stored whole as JSON (it changes shape while it lives and
//! is only ever read back whole), beside a few plain columns to filter on. A
//! finished call is stored in columns, its legs in `call_legs`, so history can
//! be filtered and paged by the database.

use diesel::prelude::*;

use super::{db_time, db_time_opt, from_db_time, from_db_time_opt, DbTime};
use crate::model::{Call, CallOutcome, CallState, Direction, Leg, Party, TransferKind};
use crate::store::schema::{active_calls, call_legs, call_parties, calls};

/// The stored word for a direction (the same word the JSON API uses).
pub fn direction_text(d: Direction) -> &'static str {
    match d {
        Direction::Internal => "internal",
        Direction::Inbound => "inbound",
        Direction::Outbound => "outbound",
        Direction::Unknown => "unknown",
    }
}

/// Reads back a stored direction; unknown words become [`Direction::Unknown`]
/// so a newer writer never makes history unreadable.
pub fn parse_direction(s: &str) -> Direction {
    match s {
        "internal" => Direction::Internal,
        "inbound" => Direction::Inbound,
        "outbound" => Direction::Outbound,
        _ => Direction::Unknown,
    }
}

/// The stored word for a call state (the same word the JSON API uses).
pub fn state_text(s: CallState) -> &'static str {
    match s {
        CallState::Dialing => "dialing",
        CallState::Ringing => "ringing",
        CallState::Answered => "answered",
        CallState::Bridged => "bridged",
        CallState::OnHold => "onHold",
        CallState::Ended => "ended",
    }
}

fn serialization_error(e: serde_json::Error) -> diesel::result::Error {
    diesel::result::Error::SerializationError(Box::new(e))
}

/// A live call, ready to insert or overwrite.
#[derive(Debug, Insertable, AsChangeset)]
#[diesel(table_name = active_calls, primary_key(pbx, id), treat_none_as_null = true)]
pub struct NewActiveCall<'a> {
    pub pbx: &'a str,
    pub id: &'a str,
    pub state: &'static str,
    pub direction: &'static str,
    pub caller_number: Option<&'a str>,
    pub callee_number: Option<&'a str>,
    pub started_at: DbTime,
    pub updated_at: DbTime,
    pub data: String,
}

impl<'a> NewActiveCall<'a> {
    /// Encodes the call; `updated_at` is when this version was written.
    pub fn encode(call: &'a Call, now: chrono::NaiveDateTime) -> QueryResult<Self> {
        Ok(Self {
            pbx: &call.pbx,
            id: &call.id,
            state: state_text(call.state),
            direction: direction_text(call.direction),
            caller_number: call.caller.number.as_deref(),
            callee_number: call.callee.number.as_deref(),
            started_at: db_time(call.started_at),
            updated_at: DbTime(now),
            data: serde_json::to_string(call).map_err(serialization_error)?,
        })
    }
}

/// A stored live call: only its JSON is needed to rebuild it.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = active_calls)]
pub struct ActiveCallRow {
    pub pbx: String,
    pub id: String,
    pub data: String,
}

impl ActiveCallRow {
    /// The call back; an error names the call whose JSON is damaged.
    pub fn decode(&self) -> Result<Call, String> {
        serde_json::from_str(&self.data)
            .map_err(|e| format!("active call {} on {}: {e}", self.id, self.pbx))
    }
}

/// A finished call's columns.
#[derive(Debug, Insertable)]
#[diesel(table_name = calls, treat_none_as_default_value = false)]
pub struct NewCall<'a> {
    pub pbx: &'a str,
    pub id: &'a str,
    pub direction: &'static str,
    pub caller_number: Option<&'a str>,
    pub caller_name: Option<&'a str>,
    pub callee_number: Option<&'a str>,
    pub callee_name: Option<&'a str>,
    pub started_at: DbTime,
    pub answered_at: Option<DbTime>,
    pub ended_at: Option<DbTime>,
    pub duration_secs: f64,
    pub talk_secs: f64,
    pub outcome: Option<&'a str>,
    pub hangup_cause: Option<i32>,
    pub hangup_cause_text: Option<&'a str>,
    pub transfers: String,
    pub queue: Option<&'a str>,
    pub queue_wait_secs: Option<i64>,
    pub queue_abandoned: bool,
}

impl<'a> NewCall<'a> {
    /// Encodes a finished call (its legs go separately, see [`NewLeg`]).
    pub fn encode(c: &'a Call) -> QueryResult<Self> {
        Ok(Self {
            pbx: &c.pbx,
            id: &c.id,
            direction: direction_text(c.direction),
            caller_number: c.caller.number.as_deref(),
            caller_name: c.caller.name.as_deref(),
            callee_number: c.callee.number.as_deref(),
            callee_name: c.callee.name.as_deref(),
            started_at: db_time(c.started_at),
            answered_at: db_time_opt(c.answered_at),
            ended_at: db_time_opt(c.ended_at),
            duration_secs: c.duration_secs,
            talk_secs: c.talk_secs,
            outcome: c.outcome.map(CallOutcome::as_str),
            hangup_cause: c.hangup_cause,
            hangup_cause_text: c.hangup_cause_text.as_deref(),
            transfers: serde_json::to_string(&c.transfers).map_err(serialization_error)?,
            queue: c.queue.as_deref(),
            queue_wait_secs: c
                .queue_wait_secs
                .map(|w| i64::try_from(w).unwrap_or(i64::MAX)),
            queue_abandoned: c.queue_abandoned,
        })
    }
}

/// A stored finished call, without its legs.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = calls)]
pub struct CallRow {
    pub pbx: String,
    pub id: String,
    pub direction: String,
    pub caller_number: Option<String>,
    pub caller_name: Option<String>,
    pub callee_number: Option<String>,
    pub callee_name: Option<String>,
    pub started_at: chrono::NaiveDateTime,
    pub answered_at: Option<chrono::NaiveDateTime>,
    pub ended_at: Option<chrono::NaiveDateTime>,
    pub duration_secs: f64,
    pub talk_secs: f64,
    pub outcome: Option<String>,
    pub hangup_cause: Option<i32>,
    pub hangup_cause_text: Option<String>,
    pub transfers: String,
    pub queue: Option<String>,
    pub queue_wait_secs: Option<i64>,
    pub queue_abandoned: bool,
}

impl CallRow {
    /// The finished call back, with the given legs (already in order).
    pub fn decode(self, legs: Vec<Leg>) -> Result<Call, String> {
        let transfers: Vec<TransferKind> = serde_json::from_str(&self.transfers)
            .map_err(|e| format!("transfers of call {} on {}: {e}", self.id, self.pbx))?;
        let outcome = match self.outcome.as_deref() {
            None => None,
            Some(word) => Some(CallOutcome::parse(word).ok_or_else(|| {
                format!(
                    "unknown outcome {word:?} of call {} on {}",
                    self.id, self.pbx
                )
            })?),
        };
        Ok(Call {
            id: self.id,
            pbx: self.pbx,
            direction: parse_direction(&self.direction),
            state: CallState::Ended,
            caller: Party {
                number: self.caller_number,
                name: self.caller_name,
            },
            callee: Party {
                number: self.callee_number,
                name: self.callee_name,
            },
            legs: legs.into_iter().map(std::sync::Arc::new).collect(),
            started_at: from_db_time(self.started_at),
            answered_at: from_db_time_opt(self.answered_at),
            ended_at: from_db_time_opt(self.ended_at),
            duration_secs: self.duration_secs,
            talk_secs: self.talk_secs,
            on_hold: false,
            transfers,
            queue: self.queue,
            queue_wait_secs: self.queue_wait_secs.and_then(|w| u64::try_from(w).ok()),
            queue_abandoned: self.queue_abandoned,
            outcome,
            hangup_cause: self.hangup_cause,
            hangup_cause_text: self.hangup_cause_text,
        })
    }
}

/// One leg of a finished call; `position` keeps the legs' order.
#[derive(Debug, Insertable)]
#[diesel(table_name = call_legs, treat_none_as_default_value = false)]
pub struct NewLeg<'a> {
    pub pbx: &'a str,
    pub call_id: &'a str,
    pub position: i32,
    pub uniqueid: &'a str,
    pub channel: &'a str,
    pub number: Option<&'a str>,
    pub extension: Option<&'a str>,
    pub state: &'a str,
    pub started_at: DbTime,
    pub answered_at: Option<DbTime>,
    pub ended_at: Option<DbTime>,
    pub hangup_cause: Option<i32>,
    pub hangup_cause_text: Option<&'a str>,
}

impl<'a> NewLeg<'a> {
    /// Every leg of `call`, in order.
    pub fn all_of(call: &'a Call) -> Vec<Self> {
        call.legs
            .iter()
            .enumerate()
            .map(|(i, l)| Self {
                pbx: &call.pbx,
                call_id: &call.id,
                position: i32::try_from(i).unwrap_or(i32::MAX),
                uniqueid: &l.uniqueid,
                channel: &l.channel,
                number: l.number.as_deref(),
                extension: l.extension.as_deref(),
                state: &l.state,
                started_at: db_time(l.started_at),
                answered_at: db_time_opt(l.answered_at),
                ended_at: db_time_opt(l.ended_at),
                hangup_cause: l.hangup_cause,
                hangup_cause_text: l.hangup_cause_text.as_deref(),
            })
            .collect()
    }
}

/// One extension that took part in a finished call (see `call_parties`).
#[derive(Debug, Insertable)]
#[diesel(table_name = call_parties)]
pub struct NewParty<'a> {
    pub extension: &'a str,
    pub started_at: DbTime,
    pub call_id: &'a str,
    pub pbx: &'a str,
}

impl<'a> NewParty<'a> {
    /// Everyone `?extension=` finds `call` by: its caller and callee numbers and
    /// each leg's extension, each once.
    pub fn all_of(call: &'a Call) -> Vec<Self> {
        let mut names: Vec<&'a str> = Vec::new();
        let legs = call.legs.iter().map(|l| l.extension.as_deref());
        for name in [call.caller.number.as_deref(), call.callee.number.as_deref()]
            .into_iter()
            .chain(legs)
            .flatten()
        {
            if !names.contains(&name) {
                names.push(name);
            }
        }
        names
            .into_iter()
            .map(|extension| Self {
                extension,
                started_at: db_time(call.started_at),
                call_id: &call.id,
                pbx: &call.pbx,
            })
            .collect()
    }
}

/// A stored leg, with the call it belongs to.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = call_legs)]
pub struct LegRow {
    pub pbx: String,
    pub call_id: String,
    pub uniqueid: String,
    pub channel: String,
    pub number: Option<String>,
    pub extension: Option<String>,
    pub state: String,
    pub started_at: chrono::NaiveDateTime,
    pub answered_at: Option<chrono::NaiveDateTime>,
    pub ended_at: Option<chrono::NaiveDateTime>,
    pub hangup_cause: Option<i32>,
    pub hangup_cause_text: Option<String>,
}

impl From<LegRow> for Leg {
    fn from(r: LegRow) -> Self {
        Self {
            uniqueid: r.uniqueid,
            channel: r.channel,
            number: r.number,
            extension: r.extension,
            state: r.state,
            started_at: from_db_time(r.started_at),
            answered_at: from_db_time_opt(r.answered_at),
            ended_at: from_db_time_opt(r.ended_at),
            hangup_cause: r.hangup_cause,
            hangup_cause_text: r.hangup_cause_text,
        }
    }
}
