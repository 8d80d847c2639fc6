//! Rows of `extensions` and `extension_transitions`.

use diesel::prelude::*;

use super::{db_time, db_time_opt, from_db_time, from_db_time_opt, DbTime};
use crate::model::{Extension, ExtensionState, ExtensionTransition, HintStatus};
use crate::store::schema::{extension_transitions, extensions};

/// An extension's current state, ready to insert or to overwrite the stored one.
#[derive(Debug, Insertable, AsChangeset)]
#[diesel(table_name = extensions, primary_key(pbx, extension), treat_none_as_null = true)]
pub struct NewExtension<'a> {
    pub pbx: &'a str,
    pub extension: &'a str,
    pub context: &'a str,
    pub hint: Option<&'a str>,
    pub name: Option<&'a str>,
    pub status: i32,
    pub status_text: &'a str,
    pub state: &'a str,
    pub device_state: Option<&'a str>,
    pub last_change: DbTime,
    pub last_confirmed: Option<DbTime>,
}

impl<'a> From<&'a Extension> for NewExtension<'a> {
    fn from(e: &'a Extension) -> Self {
        Self {
            pbx: &e.pbx,
            extension: &e.extension,
            context: &e.context,
            hint: e.hint.as_deref(),
            name: e.name.as_deref(),
            status: e.status.0,
            status_text: &e.status_text,
            state: e.state.as_str(),
            device_state: e.device_state.as_deref(),
            last_change: db_time(e.last_change),
            last_confirmed: db_time_opt(e.last_confirmed),
        }
    }
}

/// A stored extension.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = extensions)]
pub struct ExtensionRow {
    pub pbx: String,
    pub extension: String,
    pub context: String,
    pub hint: Option<String>,
    pub name: Option<String>,
    pub status: i32,
    pub status_text: String,
    pub state: String,
    pub device_state: Option<String>,
    pub last_change: chrono::NaiveDateTime,
    pub last_confirmed: Option<chrono::NaiveDateTime>,
}

impl From<ExtensionRow> for Extension {
    fn from(r: ExtensionRow) -> Self {
        Self {
            pbx: r.pbx,
            extension: r.extension,
            context: r.context,
            hint: r.hint,
            name: r.name,
            name_source: None,
            status: HintStatus(r.status),
            status_text: r.status_text,
            state: stored_state(&r.state, HintStatus(r.status)),
            device_state: r.device_state,
            last_change: from_db_time(r.last_change),
            last_confirmed: from_db_time_opt(r.last_confirmed),
        }
    }
}

/// One state change to append to an extension's history.
#[derive(Debug, Insertable)]
#[diesel(table_name = extension_transitions, treat_none_as_default_value = false)]
pub struct NewTransition<'a> {
    pub pbx: &'a str,
    pub extension: &'a str,
    pub status: i32,
    pub status_text: &'a str,
    pub state: &'a str,
    pub device_state: Option<&'a str>,
    pub at: DbTime,
}

impl<'a> From<&'a ExtensionTransition> for NewTransition<'a> {
    fn from(t: &'a ExtensionTransition) -> Self {
        Self {
            pbx: &t.pbx,
            extension: &t.extension,
            status: t.status.0,
            status_text: &t.status_text,
            state: t.state.as_str(),
            device_state: t.device_state.as_deref(),
            at: db_time(t.at),
        }
    }
}

/// A stored state change.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = extension_transitions)]
pub struct TransitionRow {
    pub pbx: String,
    pub extension: String,
    pub status: i32,
    pub status_text: String,
    pub state: String,
    pub device_state: Option<String>,
    pub at: chrono::NaiveDateTime,
}

impl From<TransitionRow> for ExtensionTransition {
    fn from(r: TransitionRow) -> Self {
        Self {
            pbx: r.pbx,
            extension: r.extension,
            status: HintStatus(r.status),
            status_text: r.status_text,
            state: stored_state(&r.state, HintStatus(r.status)),
            device_state: r.device_state,
            at: from_db_time(r.at),
        }
    }
}

/// A stored state word; one this version does not know (written by a later one)
/// is read as what the stored numeric status means, the state's source of truth.
fn stored_state(word: &str, status: HintStatus) -> ExtensionState {
    ExtensionState::parse(word).unwrap_or_else(|| status.kind())
}
