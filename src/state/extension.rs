//! [`ExtensionModel`]: one extension's state from `ExtensionStatus`, `DeviceStateChange`
//! and what a resync or refresh read from the PBX.
//!
//! `ExtensionStatus` (the hint) is authoritative. A `DeviceStateChange` of the hint's
//! only device implies the same hint state, which matters because Asterisk skips the
//! `ExtensionStatus` when the hint state did not change (e.g. UNKNOWN → NOT_INUSE)
//! and can collapse fast INUSE → NOT_INUSE flips. A change is reported only when the
//! status or the device state really changes.

use chrono::{DateTime, Utc};

use super::event_time;
use crate::ami::Event;
use crate::model::{DisplayName, Extension, ExtensionState, ExtensionTransition, HintStatus};

/// What Asterisk calls each hint status in `StatusText` (`ast_extension_state2str`).
///
/// The one table for both sides: the simulator prints it and the state model falls
/// back to it when a reply carries no `StatusText`. A real Asterisk prints `Unknown`
/// for status -1 (captured in `tests/fixtures/queries.server.ami`), not the enum's
/// name `DEACTIVATED`.
pub fn status_text(status: HintStatus) -> &'static str {
    match status.0 {
        -2 => "Removed",
        -1 => "Unknown",
        0 => "Idle",
        1 => "InUse",
        2 => "Busy",
        4 => "Unavailable",
        8 => "Ringing",
        9 => "InUse&Ringing",
        16 => "Hold",
        17 => "InUse&Hold",
        _ => "Unknown",
    }
}

/// The `state` of an extension whose hint the PBX removed: its last change, after
/// which it leaves the live view and its actor stops.
pub const REMOVED: ExtensionState = ExtensionState::Removed;

/// True for an `ExtensionStatus` saying the hint is gone. Asterisk reports a removed
/// hint with `Status: -1` (`AST_EXTENSION_DEACTIVATED`, "hint removed") and a removed
/// extension with `Status: -2` (`AST_EXTENSION_REMOVED`); a live hint's status is
/// never negative (device states aggregate to 0 or more), so either means removal.
pub fn is_removal(ev: &Event) -> bool {
    ev.name() == "ExtensionStatus"
        && ev
            .get("Status")
            .and_then(|s| s.trim().parse::<i32>().ok())
            .is_some_and(|code| code == -1 || code == -2)
}

/// A difference between what switchboard believed and what the PBX said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Correction {
    /// The status switchboard had.
    pub believed: HintStatus,
    /// The status the PBX reported.
    pub actual: HintStatus,
}

/// One extension's state.
#[derive(Debug, Clone)]
pub struct ExtensionModel {
    ext: Extension,
}

impl ExtensionModel {
    /// An extension first seen at `at`, state unknown until an event says otherwise.
    pub fn new(pbx: &str, exten: &str, at: DateTime<Utc>) -> Self {
        let status = HintStatus(-1);
        Self {
            ext: Extension {
                pbx: pbx.to_string(),
                extension: exten.to_string(),
                context: String::new(),
                hint: None,
                name: None,
                name_source: None,
                status,
                status_text: "Unknown".to_string(),
                state: ExtensionState::Unknown,
                device_state: None,
                last_change: at,
                last_confirmed: None,
            },
        }
    }

    /// The extension as clients see it.
    pub fn extension(&self) -> &Extension {
        &self.ext
    }

    /// True once the PBX said the hint is gone.
    pub fn is_removed(&self) -> bool {
        self.ext.state == REMOVED
    }

    fn transition(&self) -> ExtensionTransition {
        ExtensionTransition {
            pbx: self.ext.pbx.clone(),
            extension: self.ext.extension.clone(),
            status: self.ext.status,
            status_text: self.ext.status_text.clone(),
            state: self.ext.state,
            device_state: self.ext.device_state.clone(),
            at: self.ext.last_change,
        }
    }

    fn set_status(&mut self, status: HintStatus, text: Option<&str>, at: DateTime<Utc>) -> bool {
        if self.ext.status == status && self.ext.state != ExtensionState::Unknown {
            return false;
        }
        self.ext.status = status;
        self.ext.status_text = text
            .filter(|t| !t.is_empty())
            .unwrap_or(status_text(status))
            .to_string();
        self.ext.state = status.kind();
        self.ext.last_change = at;
        true
    }

    /// Applies an extension event; returns the new state when it really changed.
    pub fn apply(&mut self, ev: &Event, now: DateTime<Utc>) -> Option<ExtensionTransition> {
        let at = event_time(ev, now);
        let changed = match ev.name() {
            "ExtensionStatus" if is_removal(ev) => {
                let code = ev
                    .get("Status")
                    .and_then(|s| s.trim().parse::<i32>().ok())
                    .unwrap_or(-1);
                self.ext.status = HintStatus(code);
                self.ext.status_text = ev
                    .get("StatusText")
                    .filter(|t| !t.is_empty())
                    .unwrap_or("Removed")
                    .to_string();
                self.ext.state = REMOVED;
                self.ext.last_change = at;
                true
            }
            "ExtensionStatus" => {
                if let Some(ctx) = ev.get("Context").filter(|c| !c.is_empty()) {
                    if self.ext.context != ctx {
                        self.ext.context = ctx.to_string();
                    }
                }
                if let Some(hint) = ev.get("Hint").filter(|h| !h.is_empty()) {
                    if self.ext.hint.as_deref() != Some(hint) {
                        self.ext.hint = Some(hint.to_string());
                    }
                }
                match ev.get("Status").and_then(|s| s.trim().parse::<i32>().ok()) {
                    Some(code) => self.set_status(HintStatus(code), ev.get("StatusText"), at),
                    None => false,
                }
            }
            "DeviceStateChange" => {
                let device = ev.get("Device").unwrap_or("");
                let state = ev.get("State").unwrap_or("");
                let device_changed = self.ext.device_state.as_deref() != Some(state);
                if device_changed {
                    self.ext.device_state = Some(state.to_string());
                    self.ext.last_change = at;
                }
                let single_device = self.ext.hint.as_deref().is_none_or(|h| h == device);
                let status_changed = match HintStatus::from_device_state(state) {
                    Some(implied) if single_device => self.set_status(implied, None, at),
                    _ => false,
                };
                device_changed || status_changed
            }
            _ => false,
        };
        changed.then(|| self.transition())
    }

    /// Records what the PBX answered to a query (resync, refresh) at `at`: corrects the
    /// state when it differs and marks it confirmed either way.
    pub fn confirm(
        &mut self,
        status: HintStatus,
        text: Option<&str>,
        hint: Option<&str>,
        at: DateTime<Utc>,
    ) -> (Option<Correction>, Option<ExtensionTransition>) {
        if let Some(h) = hint.filter(|h| !h.is_empty()) {
            self.ext.hint = Some(h.to_string());
        }
        self.ext.last_confirmed = Some(at);
        let believed = self.ext.status;
        let was_known = self.ext.state != ExtensionState::Unknown;
        if self.set_status(status, text, at) {
            let correction = was_known.then_some(Correction {
                believed,
                actual: status,
            });
            return (correction, Some(self.transition()));
        }
        (None, None)
    }

    /// Sets the display name the PBX (or the names file) gives now; `None` when no
    /// source has one any more. True when it changed, which is published like a
    /// state change but is not a transition (the history records states only).
    pub fn set_name(&mut self, name: Option<DisplayName>) -> bool {
        let (name, source) = match name {
            Some(d) => (Some(d.name), Some(d.source)),
            None => (None, None),
        };
        if self.ext.name == name && self.ext.name_source == source {
            return false;
        }
        self.ext.name = name;
        self.ext.name_source = source;
        true
    }

    /// Sets the context (from a resync item) without counting it as a state change.
    pub fn set_context(&mut self, context: &str) {
        if !context.is_empty() {
            self.ext.context = context.to_string();
        }
    }
}
