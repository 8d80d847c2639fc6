//! A session's event filters, applied the way Asterisk's manager applies them
//! (`manager.c`, `match_filter`), so tests of `AMI_EVENT_FILTER` see what a real
//! PBX would send.
//!
//! `Action: Filter` with `Operation: Add` compiles `Filter:` as a regular
//! expression; a leading `!` makes it an exclude filter. Each expression is
//! matched anywhere in an event's whole text. No filters: every event. Include
//! filters only: events matching one of them. Exclude filters only: events
//! matching none. Both: matching an include and no exclude. Filters apply to the
//! event feed only — replies and the event lists an action answers with are
//! written to the session directly and never filtered. `Operation: Remove` and
//! any other operation answer `Unknown operation`, as the filter capture shows.

use bytes::Bytes;
use memchr::memmem;
use regex::Regex;

use super::wire::Wire;
use crate::ami::RawMessage;

/// The filters one session installed.
#[derive(Debug, Default)]
pub(super) struct SessionFilter {
    include: Vec<Regex>,
    exclude: Vec<Regex>,
}

impl SessionFilter {
    /// True when no filter is installed (every event passes).
    pub(super) fn is_empty(&self) -> bool {
        self.include.is_empty() && self.exclude.is_empty()
    }

    /// Whether one event's text passes.
    pub(super) fn passes(&self, event: &str) -> bool {
        let included = self.include.is_empty() || self.include.iter().any(|r| r.is_match(event));
        included && !self.exclude.iter().any(|r| r.is_match(event))
    }

    /// The events of a published chunk (one or more messages, each ended by a blank
    /// line) that pass, or `None` when none does.
    pub(super) fn apply(&self, chunk: Bytes) -> Option<Bytes> {
        if self.is_empty() {
            return Some(chunk);
        }
        let mut kept = Vec::with_capacity(chunk.len());
        let mut all = true;
        let mut start = 0;
        while start < chunk.len() {
            let end =
                memmem::find(&chunk[start..], b"\r\n\r\n").map_or(chunk.len(), |i| start + i + 4);
            let event = &chunk[start..end];
            if self.passes(&String::from_utf8_lossy(event)) {
                kept.extend_from_slice(event);
            } else {
                all = false;
            }
            start = end;
        }
        match (all, kept.is_empty()) {
            (true, _) => Some(chunk),
            (false, true) => None,
            (false, false) => Some(Bytes::from(kept)),
        }
    }
}

/// Answers `Action: Filter` as Asterisk 22 does (filter capture).
pub(super) fn action(filter: &mut SessionFilter, m: &RawMessage, w: &mut Wire) {
    let id = m.get("ActionID");
    let add = m
        .get("Operation")
        .is_some_and(|o| o.eq_ignore_ascii_case("Add"));
    if !add {
        w.reply("Error", id, "Unknown operation");
        return;
    }
    let expression = m.get("Filter").unwrap_or("");
    let (exclude, expression) = match expression.strip_prefix('!') {
        Some(rest) => (true, rest),
        None => (false, expression),
    };
    match Regex::new(expression) {
        Ok(regex) if !expression.is_empty() => {
            if exclude {
                filter.exclude.push(regex);
            } else {
                filter.include.push(regex);
            }
            w.reply("Success", id, "Success");
        }
        _ => w.reply("Error", id, "Filter Add failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(filters: &[&str]) -> SessionFilter {
        let mut f = SessionFilter::default();
        for expr in filters {
            let m = RawMessage::from_pairs(&[
                ("Action", "Filter"),
                ("Operation", "Add"),
                ("Filter", expr),
            ]);
            let mut w = Wire::new("", 64);
            action(&mut f, &m, &mut w);
        }
        f
    }

    const HANGUP: &str = "Event: Hangup\r\nUniqueid: 1\r\n\r\n";
    const VARSET: &str = "Event: VarSet\r\nVariable: X\r\nValue: Event: Hangup\r\n\r\n";
    const NEWEXTEN: &str = "Event: Newexten\r\nExten: 1\r\n\r\n";

    #[test]
    fn include_exclude_and_both_follow_asterisk() {
        let none = with(&[]);
        assert!(none.passes(NEWEXTEN));
        let include = with(&["Event: (Hangup|Newchannel)"]);
        assert!(include.passes(HANGUP));
        assert!(!include.passes(NEWEXTEN));
        // Anywhere in the text: a value that quotes the name passes too.
        assert!(include.passes(VARSET));
        let exclude = with(&["!Event: VarSet"]);
        assert!(exclude.passes(NEWEXTEN) && !exclude.passes(VARSET));
        let both = with(&["Event: Hangup", "!Event: VarSet"]);
        assert!(both.passes(HANGUP) && !both.passes(VARSET) && !both.passes(NEWEXTEN));
    }

    #[test]
    fn a_chunk_keeps_only_passing_events_in_order() {
        let f = with(&["Event: Hangup"]);
        let chunk = Bytes::from(format!("{NEWEXTEN}{HANGUP}{NEWEXTEN}{HANGUP}"));
        assert_eq!(
            f.apply(chunk).as_deref(),
            Some(format!("{HANGUP}{HANGUP}").as_bytes())
        );
        assert_eq!(f.apply(Bytes::from(NEWEXTEN)), None);
    }
}
