//! [`Filter`]: what a subscriber wants to hear about, and how the hub tests a
//! change against it.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::change::Change;

/// What a subscriber wants to hear about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum FilterKind {
    /// Everything.
    #[default]
    All,
    /// Extension states only (plus connection and refresh notices).
    Extensions,
    /// Calls only (plus connection and refresh notices).
    Calls,
    /// Queues only (plus connection and refresh notices).
    Queues,
}

/// A subscription filter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Filter {
    /// Kind of changes.
    #[serde(default)]
    pub kind: FilterKind,
    /// Only these extensions (and calls involving them); all when absent.
    #[serde(default)]
    pub extensions: Option<HashSet<String>>,
    /// Only this PBX; all when absent.
    #[serde(default)]
    pub pbx: Option<String>,
    /// Only these queues' `queue.updated` messages; all when absent.
    #[serde(default)]
    pub queues: Option<HashSet<String>>,
}

/// Most extensions one filter may name. A 64 KiB message could otherwise name
/// about ten thousand, and the hub tests each change against every subscriber's
/// set; a wall display or a team view names far fewer.
pub const MAX_FILTER_EXTENSIONS: usize = 1000;

/// Most queues one filter may name (a call centre has tens, not thousands).
pub const MAX_FILTER_QUEUES: usize = 200;

/// Why a filter was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// More extensions than [`MAX_FILTER_EXTENSIONS`].
    #[error("a filter names at most {max} extensions, this one names {got}")]
    TooManyExtensions {
        /// How many it named.
        got: usize,
        /// The limit.
        max: usize,
    },
    /// More queues than [`MAX_FILTER_QUEUES`].
    #[error("a filter names at most {max} queues, this one names {got}")]
    TooManyQueues {
        /// How many it named.
        got: usize,
        /// The limit.
        max: usize,
    },
}

impl FilterError {
    /// The error code clients see.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooManyExtensions { .. } => "TOO_MANY_EXTENSIONS",
            Self::TooManyQueues { .. } => "TOO_MANY_QUEUES",
        }
    }
}

impl Filter {
    /// Refuses a filter over the limits above.
    pub fn check(&self) -> Result<(), FilterError> {
        if let Some(set) = &self.queues {
            if set.len() > MAX_FILTER_QUEUES {
                return Err(FilterError::TooManyQueues {
                    got: set.len(),
                    max: MAX_FILTER_QUEUES,
                });
            }
        }
        match &self.extensions {
            Some(set) if set.len() > MAX_FILTER_EXTENSIONS => Err(FilterError::TooManyExtensions {
                got: set.len(),
                max: MAX_FILTER_EXTENSIONS,
            }),
            _ => Ok(()),
        }
    }

    /// True when this filter lets every change through (the default), so the hub
    /// can hand over a flush without looking at each change.
    pub fn takes_everything(&self) -> bool {
        self.kind == FilterKind::All
            && self.extensions.is_none()
            && self.pbx.is_none()
            && self.queues.is_none()
    }

    /// True when a subscriber with this filter gets `change`.
    pub fn matches(&self, change: &Change) -> bool {
        let pbx_ok = |pbx: &str| self.pbx.as_deref().is_none_or(|p| p == pbx);
        match change {
            Change::Extension(e) => {
                matches!(self.kind, FilterKind::All | FilterKind::Extensions)
                    && pbx_ok(&e.pbx)
                    && self
                        .extensions
                        .as_ref()
                        .is_none_or(|set| set.contains(&e.extension))
            }
            Change::CallStarted(c) | Change::CallUpdated(c) | Change::CallEnded(c) => {
                matches!(self.kind, FilterKind::All | FilterKind::Calls)
                    && pbx_ok(&c.pbx)
                    && self.extensions.as_ref().is_none_or(|set| {
                        c.legs
                            .iter()
                            .filter_map(|l| l.extension.as_ref())
                            .chain(c.caller.number.iter())
                            .chain(c.callee.number.iter())
                            .any(|x| set.contains(x))
                    })
            }
            Change::Connection(s) => pbx_ok(&s.pbx),
            Change::RefreshCompleted(_) => true,
            Change::Queue(q) => {
                matches!(self.kind, FilterKind::All | FilterKind::Queues)
                    && pbx_ok(&q.pbx)
                    && self.queues.as_ref().is_none_or(|set| set.contains(&q.name))
            }
        }
    }
}
